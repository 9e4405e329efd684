//! Authentication through a real ssh-agent (`SSH_AUTH_SOCK`), tried after the key files.

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

// One test in this binary: SSH_AUTH_SOCK is process-wide.
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
