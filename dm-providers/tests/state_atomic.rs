//! The state file is written atomically: a reader never sees half a file, a failed write leaves
//! the old file and the in-memory state as they were, and the file round-trips.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use dm_providers::{Error, Server, ServerStatus, State};

fn server(i: u32) -> Server {
    Server {
        name: format!("appnode{i}"),
        provider: "hetzner".into(),
        id: (1000 + i).to_string(),
        public_ipv4: Some(format!("203.0.113.{}", i % 250).parse().unwrap()),
        private_ipv4: Some(format!("10.0.0.{}", i % 250).parse().unwrap()),
        status: ServerStatus::Running,
        roles: vec!["appnode".into()],
        client_token: None,
    }
}

#[tokio::test]
async fn readers_never_see_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    state.update(&server(0)).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU32::new(0));
    let reader = {
        let done = done.clone();
        let reads = reads.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let mut last = 0usize;
            while !done.load(Ordering::Relaxed) {
                let n = reads.load(Ordering::Relaxed);
                let records = State::read(&path).unwrap_or_else(|e| panic!("read {n}: {e}"));
                assert!(
                    records.len() >= last,
                    "went back from {last} to {}",
                    records.len()
                );
                last = records.len();
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Keep writing until the reader has read many times while writes were going on (or has
    // failed).
    let mut written = 0;
    while !reader.is_finished()
        && (written < 150 || (reads.load(Ordering::Relaxed) < 300 && written < 20_000))
    {
        written += 1;
        state.update(&server(written)).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(
        reads.load(Ordering::Relaxed) >= 300,
        "the reader ran alongside the writes"
    );
    assert_eq!(State::read(&path).unwrap().len(), written as usize + 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_failed_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    state.update(&server(1)).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();

    // The temporary file's place is taken by a directory: the write must fail.
    let tmp = dir.path().join("servers.state.toml.tmp");
    std::fs::create_dir(&tmp).unwrap();
    let err = state.update(&server(2)).unwrap_err();
    assert!(matches!(err, Error::StateIo { .. }));
    assert!(err.to_string().contains("servers.state.toml.tmp"), "{err}");

    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert!(
        state.get("appnode2", None).is_none(),
        "memory did not run ahead of the file"
    );
    assert_eq!(state.records().len(), 1);

    std::fs::remove_dir(&tmp).unwrap();
    state.update(&server(2)).unwrap();
    assert_eq!(State::read(&path).unwrap().len(), 2);
}

#[tokio::test]
async fn the_file_round_trips_and_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    {
        let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
        state.update(&server(2)).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[servers.appnode2]"), "{text}");
    assert!(text.contains("provider = \"hetzner\""), "{text}");
    assert!(text.contains("id = \"1002\""), "{text}");
    assert!(text.contains("public_ipv4 = \"203.0.113.2\""), "{text}");
    assert!(text.contains("status = \"running\""), "{text}");
    assert!(text.contains("roles = [\"appnode\"]"), "{text}");
    assert!(text.contains("created_at = \"20"), "{text}");

    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let r = state.get("appnode2", None).unwrap();
    assert_eq!(r.name, "appnode2");
    assert_eq!(r.id.as_deref(), Some("1002"));
    assert_eq!(r.address(), Some("203.0.113.2".parse().unwrap()));
    assert_eq!(r.status, ServerStatus::Running);
}

#[tokio::test]
async fn a_broken_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    std::fs::write(
        &path,
        "version = 1\n\n[servers.appnode2]\nprovider = \"hetzner\"\nstatus = 7\n",
    )
    .unwrap();
    let err = State::open(&path, Duration::from_secs(5))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:5:", path.display())),
        "{text}"
    );
}
