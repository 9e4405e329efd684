//! Host-key checking: strict refuses unknown keys, accept-new records them, a changed key is
//! always refused, and the algorithm recorded in known_hosts is the one negotiated.

use crate::ssh_support;

use std::process::Command;

use dm_core::Error;
use dm_core::ssh::{HostKeyPolicy, Session};
use ssh_support::{Sshd, keygen};

/// `SHA256:...` of a public key file, as OpenSSH prints it.
fn fingerprint(pub_path: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

async fn works(session: &Session) {
    let status = session
        .exec("true", None, &mut |_, _| {})
        .await
        .expect("exec");
    assert!(status.success());
}

#[tokio::test]
async fn unknown_key_is_refused_in_strict_mode() {
    let sshd = Sshd::start();
    let mut opts = sshd.options();
    opts.known_hosts = sshd.dir.path().join("empty_known_hosts");
    let err = Session::connect(&sshd.host("web1"), &opts)
        .await
        .expect_err("an unknown key must be refused");
    let message = err.to_string();
    println!("{message}");
    match err {
        Error::HostKeyUnknown {
            host,
            address,
            port,
            fingerprint: fp,
            known_hosts,
        } => {
            assert_eq!(host, "web1");
            assert_eq!(address, "127.0.0.1");
            assert_eq!(port, sshd.port);
            assert_eq!(fp, fingerprint(&sshd.dir.path().join("host_ed25519.pub")));
            assert_eq!(known_hosts, opts.known_hosts);
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    assert!(message.starts_with("web1: "), "{message}");
    assert!(
        message.contains(&format!("ssh-keyscan -p {} 127.0.0.1", sshd.port)),
        "{message}"
    );
    assert!(message.contains("--accept-new-host-keys"), "{message}");
    assert!(
        !opts.known_hosts.exists(),
        "strict mode must not write known_hosts"
    );
}

#[tokio::test]
async fn accept_new_records_the_key_and_strict_accepts_it_next_time() {
    let sshd = Sshd::start();
    let mut opts = sshd.options();
    // Neither the file nor its directory exist yet.
    opts.known_hosts = sshd.dir.path().join("new_dir/known_hosts");
    opts.host_key_policy = HostKeyPolicy::AcceptNew;
    let session = Session::connect(&sshd.host("web1"), &opts)
        .await
        .expect("accept-new");
    works(&session).await;
    session.close().await;

    let recorded = std::fs::read_to_string(&opts.known_hosts).expect("known_hosts written");
    // (russh starts a new file with an empty line; OpenSSH does not mind.)
    let entries: Vec<&str> = recorded.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(entries.len(), 1, "{recorded}");
    assert!(
        entries[0].starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{recorded}"
    );
    // OpenSSH reads what we wrote.
    let found = Command::new("ssh-keygen")
        .args(["-F", &format!("[127.0.0.1]:{}", sshd.port), "-f"])
        .arg(&opts.known_hosts)
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "ssh-keygen -F does not find the recorded key"
    );

    opts.host_key_policy = HostKeyPolicy::Strict;
    let session = Session::connect(&sshd.host("web1"), &opts)
        .await
        .expect("strict after accept-new");
    works(&session).await;
    // Connecting again does not add a second line.
    let again = Session::connect(&sshd.host("web1"), &opts)
        .await
        .expect("strict again");
    works(&again).await;
    let after = std::fs::read_to_string(&opts.known_hosts).unwrap();
    assert_eq!(after, recorded, "a known key must not be recorded again");
}

#[tokio::test]
async fn changed_key_is_refused_even_with_accept_new() {
    let sshd = Sshd::start();
    let other = sshd.dir.path().join("other_host_key");
    keygen(&other, "ed25519", "");
    let mut opts = sshd.options();
    let mut content = String::from("# a comment line\n");
    content.push_str(&sshd.known_hosts_line(&other.with_extension("pub")));
    std::fs::write(&opts.known_hosts, &content).unwrap();

    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        opts.host_key_policy = policy;
        let err = Session::connect(&sshd.host("web1"), &opts)
            .await
            .expect_err("a changed key must be refused");
        let message = err.to_string();
        println!("{policy:?}: {message}");
        match err {
            Error::HostKeyChanged {
                host,
                line,
                fingerprint: fp,
                ..
            } => {
                assert_eq!(host, "web1");
                assert_eq!(
                    line, 2,
                    "the line in the file, comments counted (russh's own reader skipped them)"
                );
                assert_eq!(fp, fingerprint(&sshd.dir.path().join("host_ed25519.pub")));
            }
            other => panic!("expected HostKeyChanged under {policy:?}, got {other:?}"),
        }
        assert!(message.contains("HAS CHANGED"), "{message}");
        assert!(message.contains("ssh-keygen -R 127.0.0.1"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&opts.known_hosts).unwrap(),
            content,
            "file must not change"
        );
    }
}

#[tokio::test]
async fn the_recorded_algorithm_is_negotiated() {
    // A server with three host keys; known_hosts records only one of them.
    let keys = tempfile::tempdir().unwrap();
    let rsa = keys.path().join("host_rsa");
    let ecdsa = keys.path().join("host_ecdsa");
    keygen(&rsa, "rsa", "");
    keygen(&ecdsa, "ecdsa", "");
    let sshd = Sshd::start_with(&[
        &format!("HostKey {}", rsa.display()),
        &format!("HostKey {}", ecdsa.display()),
    ]);
    let opts = sshd.options();
    for recorded in [&rsa, &ecdsa] {
        std::fs::write(
            &opts.known_hosts,
            sshd.known_hosts_line(&recorded.with_extension("pub")),
        )
        .unwrap();
        let session = Session::connect(&sshd.host("multi"), &opts)
            .await
            .unwrap_or_else(|e| panic!("with only {} recorded: {e}", recorded.display()));
        works(&session).await;
    }
}

#[tokio::test]
async fn hashed_known_hosts_entries_are_understood() {
    let sshd = Sshd::start();
    let opts = sshd.options();
    let status = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&opts.known_hosts)
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(
        std::fs::read_to_string(&opts.known_hosts)
            .unwrap()
            .starts_with("|1|")
    );
    let session = Session::connect(&sshd.host("hashed"), &opts)
        .await
        .expect("hashed entry");
    works(&session).await;
}
