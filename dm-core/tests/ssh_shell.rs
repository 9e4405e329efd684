//! `Session::shell` in a real pseudo-terminal (util-linux `script`): PTY on the remote side,
//! window size and its change forwarded, exit status returned, local terminal restored.

use crate::ssh_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ssh_support::Sshd;

/// Runs inside the pty that `script` gives it (see `shell_in_a_pty`).
#[tokio::test]
#[ignore = "runs under a pty, started by shell_in_a_pty"]
async fn shell_child() {
    use dm_core::ssh::{ConnectOptions, Session};
    use rustix::termios;

    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let mut host = dm_core::host::Host::new("shellhost", "127.0.0.1");
    host.port = var("DM_SHELL_PORT").parse().unwrap();
    host.identity_files = vec![var("DM_SHELL_KEY").into()];
    let opts = ConnectOptions {
        known_hosts: var("DM_SHELL_KNOWN_HOSTS").into(),
        use_agent: false,
        ..ConnectOptions::default()
    };
    let before = termios::tcgetattr(rustix::stdio::stdin()).expect("stdin is a tty");
    // Resize the terminal while the shell runs: the kernel sends SIGWINCH, as when a user
    // resizes the window.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(1500));
        let size = termios::Winsize {
            ws_row: 50,
            ws_col: 132,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(rustix::stdio::stdin(), size).expect("resize");
    });
    let session = Session::connect(&host, &opts).await.expect("connect");
    let status = session.shell().await.expect("shell");
    let after = termios::tcgetattr(rustix::stdio::stdin()).unwrap();
    println!("SHELL-STATUS: {status}");
    let restored = after.local_modes == before.local_modes
        && after.input_modes == before.input_modes
        && after.output_modes == before.output_modes;
    println!("TTY-RESTORED: {restored}");
}

#[test]
fn shell_in_a_pty() {
    let sshd = Sshd::start();
    let exe = std::env::current_exe().unwrap();
    let inner = format!(
        "stty rows 24 cols 80; {} --exact ssh_shell::shell_child --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .env("DM_SHELL_PORT", sshd.port.to_string())
        .env("DM_SHELL_KEY", &sshd.key)
        .env("DM_SHELL_KNOWN_HOSTS", &sshd.known_hosts)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    let mut stdin = script.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    stdin
        .write_all(b"echo $((6*7))-marker; tty; echo TERM=$TERM; stty size\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    stdin.write_all(b"stty size; exit 3\n").unwrap();
    stdin.flush().unwrap();

    let mut stdout = script.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while script.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let out = reader.join().unwrap();
    println!("{out}");
    assert!(out.contains("42-marker"), "command did not run");
    assert!(out.contains("/dev/pts/"), "the remote shell has no PTY");
    assert!(out.contains("TERM=xterm-256color"), "TERM not forwarded");
    assert!(out.contains("24 80"), "initial window size not forwarded");
    assert!(out.contains("50 132"), "window resize not forwarded");
    assert!(
        out.contains("SHELL-STATUS: exit status 3"),
        "exit status not returned"
    );
    assert!(
        out.contains("TTY-RESTORED: true"),
        "local terminal not restored"
    );
}
