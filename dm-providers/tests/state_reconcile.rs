//! A run interrupted between writing the `creating` record and completing it is reconciled by the
//! next run: the server is adopted if the create reached the provider, the record dropped if it
//! did not; nothing is created twice; an interrupted destroy is finished.

use crate::fake;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use dm_providers::{DigitalOcean, Hetzner, Provider, ServerStatus, State};
use fake::{Api, Fake, Fault, Stall};

const TOKEN: &str = "state-test-token";

/// Starts `state.create(spec)` and abandons it (as a crash would) once the fake has the create
/// request at its stall point, checking that the `creating` record was on disk by then.
async fn interrupted_create(
    fake: &Fake,
    provider: Arc<dyn Provider>,
    path: &std::path::Path,
    stall: Stall,
) {
    fake.world().stall = Some(stall);
    let state = State::open(path, Duration::from_secs(5)).await.unwrap();
    let spec = fake::spec(fake.world().api, "appnode2");
    let task = tokio::spawn(async move { state.create(provider.as_ref(), &spec).await });
    // Wait until the create request has reached the fake (and stalled there).
    for _ in 0..500 {
        if fake.world().create_requests == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        fake.world().create_requests,
        1,
        "the create request arrived"
    );
    let on_disk = State::read(path).unwrap();
    assert_eq!(on_disk.len(), 1);
    assert_eq!(
        on_disk[0].status,
        ServerStatus::Creating,
        "written before the create call"
    );
    assert!(on_disk[0].id.is_none());
    assert!(on_disk[0].client_token.is_some());
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    fake.world().stall = None;
}

#[tokio::test]
async fn hetzner_create_that_reached_the_provider_is_adopted() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz: Arc<dyn Provider> = Arc::new(Hetzner::new(fake.config(TOKEN)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    interrupted_create(&fake, hz.clone(), &path, Stall::AfterStore).await;
    let made = fake.world().servers.values().next().unwrap().clone();

    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let token = state.get("appnode2", None).unwrap().client_token;
    let done = state.reconcile(&[hz.as_ref()]).await.unwrap();
    assert_eq!(done.adopted.len(), 1);
    assert!(done.dropped.is_empty());
    let r = state.get("appnode2", None).unwrap();
    assert_eq!(r.id, Some(made.id.to_string()));
    assert_eq!(r.public_ipv4, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(r.roles, ["appnode"]);
    assert_eq!(
        made.labels.get("dm/client-token").cloned(),
        token,
        "the provider has the record's token"
    );

    // Booting it again is a no-op: no second create call, no second server.
    let again = state
        .create(hz.as_ref(), &fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    assert_eq!(again.id, r.id);
    assert_eq!(fake.world().servers.len(), 1);
    assert_eq!(
        fake.statuses("POST", "/v1/servers"),
        Vec::<u16>::new(),
        "the stalled POST never answered; none followed"
    );
}

#[tokio::test]
async fn digitalocean_create_that_never_reached_the_provider_is_dropped() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d: Arc<dyn Provider> = Arc::new(DigitalOcean::new(fake.config(TOKEN)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    interrupted_create(&fake, d.clone(), &path, Stall::BeforeStore).await;
    assert!(fake.world().servers.is_empty());

    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let done = state.reconcile(&[d.as_ref()]).await.unwrap();
    assert_eq!(done.dropped, ["appnode2"]);
    assert!(done.adopted.is_empty());
    assert!(state.records().is_empty());
    assert!(
        State::read(&path).unwrap().is_empty(),
        "dropped on disk too"
    );

    // Now it can be booted for real, once.
    let r = state
        .create(d.as_ref(), &fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    assert!(r.id.is_some());
    assert_eq!(fake.world().servers.len(), 1);
}

#[tokio::test]
async fn digitalocean_create_that_reached_the_provider_is_adopted() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d: Arc<dyn Provider> = Arc::new(DigitalOcean::new(fake.config(TOKEN)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    interrupted_create(&fake, d.clone(), &path, Stall::AfterStore).await;
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let done = state.reconcile(&[d.as_ref()]).await.unwrap();
    assert_eq!(done.adopted.len(), 1);
    state
        .create(d.as_ref(), &fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    assert_eq!(fake.world().servers.len(), 1, "no duplicate droplet");
}

#[tokio::test]
async fn a_lost_state_file_does_not_duplicate_a_server() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = State::open(dir.path().join("a.state.toml"), Duration::from_secs(5))
        .await
        .unwrap();
    let a = first
        .create(&d, &fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    // Another checkout (or a deleted state file) boots the same name.
    let second = State::open(dir.path().join("b.state.toml"), Duration::from_secs(5))
        .await
        .unwrap();
    let b = second
        .create(&d, &fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);
    assert_eq!(fake.world().servers.len(), 1);
}

#[tokio::test]
async fn a_rejected_create_leaves_no_record() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(
        dir.path().join("servers.state.toml"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut spec = fake::spec(Api::Hetzner, "appnode2");
    spec.size = "cx999".into();
    let err = state.create(&hz, &spec).await.unwrap_err();
    assert!(err.to_string().contains("server_type"), "{err}");
    assert!(state.records().is_empty());
}

#[tokio::test]
async fn an_interrupted_destroy_is_finished() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    state
        .create(&hz, &fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    for _ in 0..4 {
        fake.fail_next(Method::DELETE, "/servers/", Fault::ServerError(503));
    }
    let err = state.destroy(&hz, "appnode2", None).await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP 503 after 4 attempt(s)"),
        "{err}"
    );
    assert_eq!(
        state.get("appnode2", None).unwrap().status,
        ServerStatus::Deleting
    );
    assert_eq!(fake.world().servers.len(), 1);
    drop(state);

    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    let done = state.reconcile(&[&hz]).await.unwrap();
    assert_eq!(done.destroyed, ["appnode2"]);
    assert!(state.records().is_empty());
    assert!(fake.world().servers.is_empty());

    let err = state.destroy(&hz, "appnode2", None).await.unwrap_err();
    assert!(
        err.to_string().starts_with("no server `appnode2` in"),
        "{err}"
    );
}

#[tokio::test]
async fn records_of_other_providers_are_left_alone() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("servers.state.toml");
    let state = State::open(&path, Duration::from_secs(5)).await.unwrap();
    state
        .create(&hz, &fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    let err = state
        .create(
            &DigitalOcean::new(fake.config(TOKEN)).unwrap(),
            &fake::spec(Api::DigitalOcean, "appnode2"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("recorded in"), "{err}");
    assert!(
        err.to_string()
            .contains("as a `hetzner` server, not `digitalocean`"),
        "{err}"
    );
    let done = state.reconcile(&[]).await.unwrap();
    assert!(done.skipped.is_empty(), "settled records need no provider");
}
