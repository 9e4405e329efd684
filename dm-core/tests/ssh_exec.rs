//! `Session::exec` against a real sshd: stdout, stderr, exit codes, signals, round trips.

use crate::ssh_support;

use dm_core::ssh::{ExitStatus, Session, Stream};
use ssh_support::Sshd;

/// Runs `cmd` and collects (stdout, stderr, status).
async fn run(session: &Session, cmd: &str) -> (String, String, ExitStatus) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = session
        .exec(cmd, None, &mut |stream, bytes| match stream {
            Stream::Stdout => out.extend_from_slice(bytes),
            Stream::Stderr => err.extend_from_slice(bytes),
        })
        .await
        .expect("exec");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        status,
    )
}

#[tokio::test]
async fn stdout_stderr_and_exit_codes() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    assert_eq!(session.host().name, "local");

    let (out, err, status) = run(&session, "echo out; echo err >&2; exit 3").await;
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    assert_eq!(status.code, Some(3));
    assert!(!status.success());
    assert_eq!(status.to_string(), "exit status 3");

    let (out, err, status) = run(&session, "printf 'a\\nb'; true").await;
    assert_eq!(out, "a\nb");
    assert_eq!(err, "");
    assert!(status.success());
    assert_eq!(status.to_string(), "exit status 0");

    // Lines end in \n (no PTY): stderr is not merged into stdout.
    let (out, _, _) = run(&session, "tty; echo x >&2").await;
    assert_eq!(out, "not a tty\n");

    assert_eq!(session.round_trips(), 3);
    session.close().await;
}

#[tokio::test]
async fn killed_by_a_signal() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    let (_, _, status) = run(&session, "kill -TERM $$").await;
    assert_eq!(status.code, None);
    assert_eq!(status.signal.as_deref(), Some("TERM"));
    assert_eq!(status.to_string(), "signal TERM");
}

#[tokio::test]
async fn exit_status_before_and_after_eof() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    // Output closed long before the exit: EOF arrives first, the status later.
    let (out, _, status) = run(&session, "echo early; exec >&- 2>&-; sleep 0.3; exit 7").await;
    assert_eq!(out, "early\n");
    assert_eq!(status.code, Some(7));
    // A background child keeps stdout open after the shell exits: the status arrives first,
    // the output after it, and all of it must still be delivered.
    let (out, _, status) = run(&session, "(sleep 0.3; echo late) & exit 5").await;
    assert_eq!(out, "late\n");
    assert_eq!(status.code, Some(5));
}

#[tokio::test]
async fn large_output_is_complete() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    let mut stdout = 0usize;
    let mut stderr = 0usize;
    let status = session
        .exec(
            "head -c 20000000 /dev/zero; head -c 3000000 /dev/zero >&2",
            None,
            &mut |stream, bytes| match stream {
                Stream::Stdout => stdout += bytes.len(),
                Stream::Stderr => stderr += bytes.len(),
            },
        )
        .await
        .expect("exec");
    assert!(status.success());
    assert_eq!(stdout, 20_000_000);
    assert_eq!(stderr, 3_000_000);
}
