//! `ssh SERVER` opens an interactive shell with a terminal on the server.

use std::io::Write;
use std::process::{Command, Stdio};

use dm_tests::*;

#[test]
fn ssh_task_opens_an_interactive_shell_with_a_terminal() {
    let fleet = fleet(&[("app1", &[])]);
    let dm = Dm::new(&fleet);
    // `script` gives dm a terminal, as a user's would be.
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("{} ssh app1", dm_tests::fabfile_bin().display()),
            "/dev/null",
        ])
        .current_dir(dm.dir())
        .env("HOME", dm.dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"tty && echo HOST-$(hostname)-END; exit\n")
        .expect("type");
    let output = child.wait_with_output().expect("ends");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("HOST-app1-END"), "{text}");
    assert!(
        text.contains("/dev/pts/"),
        "no terminal on the server:\n{text}"
    );
}
