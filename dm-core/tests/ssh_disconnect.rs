//! A server that dies or stops answering turns into `Error::Disconnected` naming the host, never a
//! hang.

use crate::ssh_support;

use std::time::{Duration, Instant};

use dm_core::Error;
use dm_core::ssh::Session;
use ssh_support::Sshd;

const LIMIT: Duration = Duration::from_secs(20);

/// Waits until a process whose command line holds `marker` runs on this machine (where the test
/// sshd runs its commands): the command is under way on the server.
async fn wait_until_running(marker: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = std::process::Command::new("pgrep")
            .args(["-f", marker])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "`{marker}` never ran");
        // Polling the process table: it offers no readiness signal to wait on.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_disconnected(result: Result<dm_core::ssh::ExitStatus, Error>, host: &str) -> String {
    match result {
        Err(e @ Error::Disconnected { .. }) => {
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("{host}: connection lost")),
                "{message}"
            );
            message
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn killed_server_during_a_command() {
    let mut sshd = Sshd::start();
    let session = Session::connect(&sshd.host("db1"), &sshd.options())
        .await
        .expect("connect");
    let running = session.clone();
    let command = tokio::spawn(async move {
        running
            .exec("sleep 60; : dm-disconnect-killed", None, &mut |_, _| {})
            .await
    });
    wait_until_running("dm-disconnect-killed").await;
    let killed = Instant::now();
    sshd.kill();
    let result = tokio::time::timeout(LIMIT, command)
        .await
        .expect("exec hung")
        .unwrap();
    let message = assert_disconnected(result, "db1");
    println!("after kill: {message} ({:?})", killed.elapsed());
    // The next command fails the same way, at once.
    let next = tokio::time::timeout(LIMIT, session.exec("true", None, &mut |_, _| {}))
        .await
        .expect("exec on a dead connection hung");
    assert_disconnected(next, "db1");
}

#[tokio::test]
async fn frozen_server_is_given_up_by_keepalive() {
    let sshd = Sshd::start();
    let mut opts = sshd.options();
    opts.keepalive_interval = Duration::from_secs(1);
    let session = Session::connect(&sshd.host("db2"), &opts)
        .await
        .expect("connect");
    let running = session.clone();
    let command = tokio::spawn(async move {
        running
            .exec("sleep 60; : dm-disconnect-frozen", None, &mut |_, _| {})
            .await
    });
    wait_until_running("dm-disconnect-frozen").await;
    // The TCP connection stays open, but nothing answers any more (like a host that lost power
    // behind a router).
    sshd.signal_all("STOP");
    let frozen = Instant::now();
    let result = tokio::time::timeout(LIMIT, command)
        .await
        .expect("exec hung")
        .unwrap();
    let elapsed = frozen.elapsed();
    let message = assert_disconnected(result, "db2");
    println!("after freeze: {message} ({elapsed:?})");
    assert!(message.contains("stopped answering"), "{message}");
    assert!(
        elapsed < Duration::from_secs(6),
        "took {elapsed:?} with a 1 s keepalive"
    );
}

#[tokio::test]
async fn a_silent_long_command_is_not_mistaken_for_a_dead_server() {
    let sshd = Sshd::start();
    let mut opts = sshd.options();
    opts.keepalive_interval = Duration::from_secs(1);
    let session = Session::connect(&sshd.host("db3"), &opts)
        .await
        .expect("connect");
    // Silent for 5 inactivity timeouts: keepalive answers keep the connection up.
    let status = session
        .exec("sleep 5; echo done", None, &mut |_, _| {})
        .await
        .expect("exec");
    assert!(status.success());
}

#[tokio::test]
async fn commands_after_close_fail_cleanly() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("db4"), &sshd.options())
        .await
        .expect("connect");
    session.close().await;
    let result = tokio::time::timeout(LIMIT, session.exec("true", None, &mut |_, _| {}))
        .await
        .expect("exec after close hung");
    let message = assert_disconnected(result, "db4");
    println!("after close: {message}");
}
