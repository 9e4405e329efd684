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
    // Resize the terminal while the shell runs, once the outer test says the shell has shown
    // its first size (the file DM_SHELL_RESIZE appears): the kernel sends SIGWINCH, as when a
    // user resizes the window.
    let resize_flag = std::path::PathBuf::from(var("DM_SHELL_RESIZE"));
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !resize_flag.exists() && std::time::Instant::now() < deadline {
            // Polling for the outer test's file: no readiness signal crosses the pty otherwise.
            std::thread::sleep(Duration::from_millis(20));
        }
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
    let resize_flag = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&resize_flag).unwrap();
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .env("DM_SHELL_PORT", sshd.port.to_string())
        .env("DM_SHELL_KEY", &sshd.key)
        .env("DM_SHELL_KNOWN_HOSTS", &sshd.known_hosts)
        .env("DM_SHELL_RESIZE", &resize_flag)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    let mut stdin = script.stdin.take().unwrap();
    let mut stdout = script.stdout.take().unwrap();
    let (send, shown) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            let _ = send.send(buffer[..n].to_vec());
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut out = String::new();
    // Waits until the terminal has shown `text`, within the test's deadline.
    let wait_for = |out: &mut String, text: &str| {
        while !out.contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match shown.recv_timeout(left) {
                Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
                Err(e) => panic!("the terminal never showed {text:?} ({e}):\n{out}"),
            }
        }
    };
    // Typed at once: the terminal keeps it until the remote shell reads it.
    stdin
        .write_all(b"echo $((6*7))-marker; tty; echo TERM=$TERM; stty size\n")
        .unwrap();
    stdin.flush().unwrap();
    wait_for(&mut out, "24 80");
    // The remote shell waits for the new size itself; then the local terminal is resized.
    stdin
        .write_all(
            b"while [ \"$(stty size)\" != '50 132' ]; do sleep 0.1; done; echo RESIZED-$((2*3)); exit 3\n",
        )
        .unwrap();
    stdin.flush().unwrap();
    std::fs::write(&resize_flag, b"").unwrap();
    wait_for(&mut out, "RESIZED-6");
    while script.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell did not end"
        );
        match shown.recv_timeout(Duration::from_millis(50)) {
            Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => continue,
        }
    }
    drop(stdin);
    reader.join().unwrap();
    while let Ok(bytes) = shown.try_recv() {
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
    println!("{out}");
    assert!(out.contains("42-marker"), "command did not run");
    assert!(out.contains("/dev/pts/"), "the remote shell has no PTY");
    assert!(out.contains("TERM=xterm-256color"), "TERM not forwarded");
    assert!(out.contains("24 80"), "initial window size not forwarded");
    assert!(out.contains("RESIZED-6"), "window resize not forwarded");
    assert!(
        out.contains("SHELL-STATUS: exit status 3"),
        "exit status not returned"
    );
    assert!(
        out.contains("TTY-RESTORED: true"),
        "local terminal not restored"
    );
}
