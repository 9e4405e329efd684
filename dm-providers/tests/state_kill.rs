//! A dm process killed (SIGKILL) in the middle of a create: the next run finds the `creating`
//! record, adopts the server the create made, and boots nothing twice. The killed process is
//! this test binary run again as a child, executing `child_creates_a_server`.

use crate::fake;

use std::process::{Command, Stdio};
use std::time::Duration;

use dm_providers::{Hetzner, Provider, ServerStatus, State};
use fake::{Api, Fake, Stall};

const TOKEN: &str = "kill-test-token";

#[tokio::test]
async fn killed_mid_create_then_reconciled_without_loss_or_duplicate() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    fake.world().stall = Some(Stall::AfterStore);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "state_kill::child_creates_a_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DM_KILL_TEST_BASE_URL", fake.base_url())
        .env("DM_KILL_TEST_STATE", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The child wrote its `creating` record, sent the create, and the provider made the server;
    // the answer is held back. Kill it now.
    let mut reached = false;
    for _ in 0..1000 {
        if fake.world().servers.len() == 1 {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reached, "the child's create reached the fake");
    let on_disk = State::read(&path).unwrap();
    assert_eq!(on_disk.len(), 1);
    assert_eq!(on_disk[0].status, ServerStatus::Creating);
    let lock_holder = std::fs::read_to_string(dir.path().join("servers.state.toml.lock")).unwrap();
    assert_eq!(
        lock_holder.trim(),
        child.id().to_string(),
        "the child held the lock"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    fake.world().stall = None;

    // The next run: the kernel released the dead process's lock.
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let done = state.reconcile(&[&hz as &dyn Provider]).await.unwrap();
    assert_eq!(done.adopted.len(), 1);
    let made = fake.world().servers.values().next().unwrap().id.to_string();
    assert_eq!(state.get("appnode2", None).unwrap().id, Some(made.clone()));

    let again = state
        .create(&hz, &fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    assert_eq!(again.id, Some(made));
    assert_eq!(fake.world().servers.len(), 1, "no duplicate");
    assert_eq!(fake.world().create_requests, 1, "one create call in all");
}

/// The child process of the test above: opens the state file and creates `appnode2` against the
/// fake given in the environment, until it is killed. Does nothing when run on its own.
#[tokio::test]
#[ignore = "a helper process, started by killed_mid_create_then_reconciled_without_loss_or_duplicate"]
async fn child_creates_a_server() {
    let (Ok(base_url), Ok(state_path)) = (
        std::env::var("DM_KILL_TEST_BASE_URL"),
        std::env::var("DM_KILL_TEST_STATE"),
    ) else {
        eprintln!("child_creates_a_server only runs as the child of the kill test");
        return;
    };
    let mut cfg = dm_providers::ApiConfig::new(base_url, dm_providers::Token::new(TOKEN));
    cfg.timeout = Duration::from_secs(600);
    let hz = Hetzner::new(cfg).unwrap();
    let state = State::open(state_path, Duration::from_secs(5))
        .await
        .unwrap();
    let _ = state
        .create(&hz, &fake::spec(Api::Hetzner, "appnode2"))
        .await;
}
