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
                .exec(
                    &format!("date +%s.%N; echo {i}; sleep {sleep}; date +%s.%N"),
                    None,
                    &mut |_, b| out.extend_from_slice(b),
                )
                .await?;
            assert!(status.success());
            Ok(String::from_utf8(out).unwrap())
        }
    }))
    .await
}

/// The most commands that ran at the same time, from each one's start and end times (as the
/// server's clock saw them): `(start, end)` pairs.
fn most_at_once(spans: &[(f64, f64)]) -> usize {
    let mut edges: Vec<(f64, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // Ends before starts at the same instant: touching is not overlapping.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0, 0);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
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
    println!(
        "30 x `sleep 0.5` over one connection, 8 at a time: {:?}",
        started.elapsed()
    );
    let mut spans = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let out = r.expect("every command succeeds");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.get(1), Some(&i.to_string().as_str()), "{out}");
        let time = |w: Option<&&str>| w.and_then(|t| t.parse::<f64>().ok()).expect("a time");
        spans.push((time(words.first()), time(words.get(2))));
    }
    assert_eq!(session.round_trips(), 30);
    // Counted from the commands' own clocks, not from how long the test took: a loaded machine
    // slows everything, but cannot make the cap run more than 8 at once, nor one at a time.
    let most = most_at_once(&spans);
    assert!(most <= 8, "cap not applied: {most} commands at once");
    assert!(most >= 2, "commands did not run concurrently");
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
