//! Authentication through a real ssh-agent (`SSH_AUTH_SOCK`), tried after the key files, and
//! the agent's keys listed for authorizing them.

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ssh_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dm_core::ssh::Session;
use ssh_support::{Sshd, keygen};

/// `ssh-agent -D` on a socket in `dir`, killed (by pid) on drop.
struct Agent {
    child: Child,
    socket: std::path::PathBuf,
}

impl Agent {
    fn start(dir: &std::path::Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent { child, socket }
    }

    fn add(&self, key: &std::path::Path) {
        let status = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "ssh-add failed");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The only test of this binary that sets SSH_AUTH_SOCK, which is process-wide.
#[tokio::test]
async fn agent_keys_are_offered_after_key_files() {
    let sshd = Sshd::start();
    let agent = Agent::start(sshd.dir.path());
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("SSH_AUTH_SOCK", &agent.socket) };

    // An agent holding a key the server does not know: the error names it by fingerprint.
    let stranger = sshd.dir.path().join("stranger");
    keygen(&stranger, "ed25519", "");
    agent.add(&stranger);
    let mut host = sshd.host("local");
    host.identity_files = vec![sshd.dir.path().join("missing-key")];
    let mut opts = sshd.options();
    opts.use_agent = true;
    let err = Session::connect(&host, &opts)
        .await
        .expect_err("stranger refused");
    let message = err.to_string();
    println!("{message}");
    assert!(message.contains("agent key SHA256:"), "{message}");
    assert!(message.contains("dm-test (refused)"), "{message}");

    // Now the agent also holds the authorized key: the missing file is skipped, the agent works.
    agent.add(&sshd.key);
    let session = Session::connect(&host, &opts).await.expect("agent auth");
    let status = session.exec("true", None, &mut |_, _| {}).await.unwrap();
    assert!(status.success());

    // use_agent = false: the agent is not asked.
    opts.use_agent = false;
    let err = Session::connect(&host, &opts).await.expect_err("no agent");
    assert!(!err.to_string().contains("agent key"), "{err}");
}

/// What `provision` and `boot` authorize besides key files: the agent's keys as public key lines.
#[tokio::test]
async fn the_agents_keys_are_listed_as_public_key_lines() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path());
    let key = dir.path().join("operator");
    keygen(&key, "ed25519", "");
    agent.add(&key);

    let lines = dm_core::ssh::agent_public_keys(&agent.socket)
        .await
        .unwrap();
    let public = std::fs::read_to_string(dir.path().join("operator.pub")).unwrap();
    fn type_and_blob(line: &str) -> Vec<&str> {
        line.split_whitespace().take(2).collect()
    }
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        type_and_blob(&lines[0]),
        type_and_blob(&public),
        "{lines:?}"
    );

    // No agent at a socket: the error names it.
    let missing = dir.path().join("no-agent.sock");
    let err = dm_core::ssh::agent_public_keys(&missing).await.unwrap_err();
    assert!(err.contains("no-agent.sock"), "{err}");
}
