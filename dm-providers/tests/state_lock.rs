//! Only one run at a time uses the state file: a second one waits, says who holds the lock, and
//! gives up after its timeout naming the holder's pid; it proceeds as soon as the lock is free.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm_providers::{Error, State};

#[tokio::test]
async fn a_second_run_times_out_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let _first = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let lock = dir.path().join("servers.state.toml.lock");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        std::process::id().to_string(),
        "the holder's pid is in the lock file"
    );

    let told = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = told.clone();
    let start = Instant::now();
    let err = State::open_with_notice(&path, Duration::from_millis(400), move |m| {
        sink.lock().unwrap().push(m.to_string())
    })
    .await
    .unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let Error::StateLocked { holder, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*holder, Some(std::process::id()));
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "locked by another dm run (pid {})",
            std::process::id()
        )),
        "{text}"
    );
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "told once");
    assert!(
        told[0].contains(&format!("pid {}", std::process::id())),
        "{}",
        told[0]
    );
}

#[tokio::test]
async fn a_waiting_run_proceeds_when_the_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let first = State::open(&path, Duration::from_secs(5)).await.unwrap();
    // The first run lets go once the second says it waits for the lock.
    let (waiting, told) = tokio::sync::oneshot::channel::<String>();
    let release = tokio::spawn(async move {
        let notice = told.await.expect("the waiting run said so");
        drop(first);
        notice
    });
    let second = State::open_with_notice(&path, Duration::from_secs(10), move |notice| {
        let _ = waiting.send(notice.to_string());
    })
    .await
    .unwrap();
    let notice = release.await.unwrap();
    assert!(
        notice.contains("held by another dm run"),
        "it waited for the first run: {notice}"
    );
    assert!(second.records().is_empty());
}
