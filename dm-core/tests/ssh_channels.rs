//! Many concurrent commands over one connection: the per-connection cap keeps them under sshd's
//! `MaxSessions` (10), so they all succeed instead of the 11th being refused.

use crate::ssh_support;

use std::time::Instant;

use dm_core::Error;
use dm_core::ssh::Session;
use futures::future::join_all;
use ssh_support::Sshd;

async fn run_many(session: &Session, n: usize, sleep: &str) -> Vec<Result<String, Error>> {
    join_all((0..n).map(|i| {
        let session = session.clone();
        async move {
            let mut out = Vec::new();
            let status = session
                .exec(&format!("sleep {sleep}; echo {i}"), None, &mut |_, b| {
                    out.extend_from_slice(b)
                })
                .await?;
            assert!(status.success());
            Ok(String::from_utf8(out).unwrap())
        }
    }))
    .await
}

#[tokio::test]
async fn more_commands_than_max_sessions_all_succeed() {
    let sshd = Sshd::start_with(&["MaxSessions 10"]);
    let opts = sshd.options();
    assert_eq!(opts.max_channels, 8, "default cap");
    let session = Session::connect(&sshd.host("local"), &opts)
        .await
        .expect("connect");
    let started = Instant::now();
    let results = run_many(&session, 30, "0.5").await;
    let elapsed = started.elapsed();
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.expect("every command succeeds"), format!("{i}\n"));
    }
    assert_eq!(session.round_trips(), 30);
    // 30 commands of 0.5 s, 8 at a time: 4 waves. Fully serial would take 15 s.
    println!("30 x `sleep 0.5` over one connection, 8 at a time: {elapsed:?}");
    assert!(elapsed.as_secs_f64() >= 1.9, "cap not applied: {elapsed:?}");
    assert!(
        elapsed.as_secs_f64() < 8.0,
        "commands did not run concurrently: {elapsed:?}"
    );
}

#[tokio::test]
async fn without_the_cap_sshd_refuses_the_eleventh_channel() {
    // The reason the cap exists, shown on the same server: a cap above MaxSessions fails.
    let sshd = Sshd::start_with(&["MaxSessions 10"]);
    let mut opts = sshd.options();
    opts.max_channels = 20;
    let session = Session::connect(&sshd.host("local"), &opts)
        .await
        .expect("connect");
    // 14 commands that outlast the retry period: 10 get a session, 4 are refused for good.
    let results = run_many(&session, 14, "5").await;
    let refused: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    println!("{}", refused[0]);
    assert!(refused[0].contains("MaxSessions"), "{}", refused[0]);
    assert!(refused[0].starts_with("local: connection lost: the server refused to open a channel"));
}
