//! Authentication with key files: plain, RSA (SHA-2 signatures), passphrase-protected (asked once
//! per run), and a failure that lists what was tried.

use crate::ssh_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dm_core::Error;
use dm_core::ssh::{Prompt, Session};
use futures::future::join_all;
use ssh_support::{Sshd, keygen};

/// A prompt that answers with a fixed passphrase and counts how often it was asked.
struct CountingPrompt {
    answer: Option<String>,
    calls: AtomicUsize,
    asked_for: Mutex<Vec<PathBuf>>,
}

impl CountingPrompt {
    fn new(answer: Option<&str>) -> Arc<CountingPrompt> {
        Arc::new(CountingPrompt {
            answer: answer.map(str::to_string),
            calls: AtomicUsize::new(0),
            asked_for: Mutex::new(Vec::new()),
        })
    }
}

impl Prompt for CountingPrompt {
    fn passphrase(&self, key: &Path) -> Option<String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.asked_for.lock().unwrap().push(key.to_path_buf());
        // Slow, like a human: parallel connections must wait for this answer, not ask again.
        std::thread::sleep(std::time::Duration::from_millis(200));
        self.answer.clone()
    }
}

/// Adds `key`'s public half to the server's authorized_keys.
fn authorize(sshd: &Sshd, key: &Path) {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let path = sshd.dir.path().join("authorized_keys");
    let mut all = std::fs::read_to_string(&path).unwrap();
    all.push_str(&public);
    std::fs::write(path, all).unwrap();
}

async fn whoami(session: &Session) -> String {
    let mut out = Vec::new();
    session
        .exec("id -un", None, &mut |_, b| out.extend_from_slice(b))
        .await
        .expect("exec");
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn plain_ed25519_and_rsa_key_files() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("ed25519");
    assert_eq!(whoami(&session).await, "root\n");

    // RSA must be signed with SHA-2: OpenSSH >= 8.8 refuses ssh-rsa (SHA-1) signatures.
    let rsa = sshd.dir.path().join("client_rsa");
    keygen(&rsa, "rsa", "");
    authorize(&sshd, &rsa);
    let mut host = sshd.host("local");
    host.identity_files = vec![rsa];
    let session = Session::connect(&host, &sshd.options())
        .await
        .expect("rsa key");
    assert_eq!(whoami(&session).await, "root\n");
}

#[tokio::test]
async fn extra_identity_files_come_first_and_failures_list_what_was_tried() {
    let sshd = Sshd::start();
    let stranger = sshd.dir.path().join("stranger");
    keygen(&stranger, "ed25519", "");
    let missing = sshd.dir.path().join("does-not-exist");

    // -i with an unauthorized key, then the host's working key: works, after trying both.
    let mut opts = sshd.options();
    opts.extra_identity_files = vec![stranger.clone()];
    let session = Session::connect(&sshd.host("local"), &opts)
        .await
        .expect("second key works");
    assert_eq!(whoami(&session).await, "root\n");

    // Only keys the server does not accept: the error lists each, with what happened to it.
    let mut host = sshd.host("web1");
    host.identity_files = vec![missing.clone(), stranger.clone()];
    let err = Session::connect(&host, &sshd.options())
        .await
        .expect_err("must fail");
    let message = err.to_string();
    println!("{message}");
    match &err {
        Error::Auth { host, user, tried } => {
            assert_eq!(host, "web1");
            assert_eq!(user, "root");
            assert_eq!(
                tried,
                &vec![
                    format!("{} (not found)", missing.display()),
                    format!("{} (refused)", stranger.display()),
                ]
            );
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(
        message.starts_with("web1: authentication as `root` failed"),
        "{message}"
    );
    assert!(message.contains("-i KEYFILE"), "{message}");
    // Paths only: no key material in the message.
    assert!(!message.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_passphrase_is_asked_once_per_key_file() {
    let sshd = Sshd::start();
    let key = sshd.dir.path().join("encrypted");
    keygen(&key, "ed25519", "correct horse");
    authorize(&sshd, &key);
    let prompt = CountingPrompt::new(Some("correct horse"));
    let mut opts = sshd.options();
    opts.prompt = Some(prompt.clone());
    let mut host = sshd.host("local");
    host.identity_files = vec![key.clone()];

    // Five hosts of one run connecting at once, then one more later: one question in all.
    let sessions = join_all((0..5).map(|_| Session::connect(&host, &opts))).await;
    for s in sessions {
        assert_eq!(
            whoami(&s.expect("connect with the decrypted key")).await,
            "root\n"
        );
    }
    let later = Session::connect(&host, &opts).await.expect("cached key");
    assert_eq!(whoami(&later).await, "root\n");
    assert_eq!(prompt.calls.load(Ordering::SeqCst), 1);
    assert_eq!(*prompt.asked_for.lock().unwrap(), vec![key]);
}

#[tokio::test]
async fn encrypted_keys_without_a_prompt_or_with_a_wrong_passphrase_are_explained() {
    let sshd = Sshd::start();
    let no_prompt_key = sshd.dir.path().join("encrypted1");
    let wrong_key = sshd.dir.path().join("encrypted2");
    keygen(&no_prompt_key, "ed25519", "secret");
    keygen(&wrong_key, "ed25519", "secret");
    authorize(&sshd, &no_prompt_key);
    authorize(&sshd, &wrong_key);

    let mut host = sshd.host("local");
    host.identity_files = vec![no_prompt_key.clone()];
    let err = Session::connect(&host, &sshd.options())
        .await
        .expect_err("no prompt");
    let message = err.to_string();
    println!("{message}");
    assert!(
        message.contains(&format!("{} (encrypted", no_prompt_key.display())),
        "{message}"
    );
    assert!(message.contains("ssh-agent"), "{message}");

    let prompt = CountingPrompt::new(Some("not the passphrase"));
    let mut opts = sshd.options();
    opts.prompt = Some(prompt.clone());
    host.identity_files = vec![wrong_key.clone()];
    for _ in 0..2 {
        let err = Session::connect(&host, &opts)
            .await
            .expect_err("wrong passphrase");
        let message = err.to_string();
        assert!(
            message.contains(&format!("{} (wrong passphrase)", wrong_key.display())),
            "{message}"
        );
        assert!(
            !message.contains("not the passphrase"),
            "the passphrase leaked: {message}"
        );
    }
    assert_eq!(
        prompt.calls.load(Ordering::SeqCst),
        1,
        "asked once, even after a wrong answer"
    );
}
