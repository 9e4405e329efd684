//! Deletes and power-ons are asynchronous at the clouds: Hetzner answers with an action
//! (`running` → `success` | `error`), DigitalOcean with an action (`in-progress` → `completed` |
//! `errored`) or, for a droplet delete, a bare 204 after which the droplet goes later. dm reports
//! a server destroyed only once the API says so, keeps the record of a server whose delete failed
//! or did not finish (it still exists and is billed), and reports a failed power-on.

use crate::fake;

use std::time::Duration;

use axum::http::Method;
use dm_providers::{
    ActionWait, Destroyed, DigitalOcean, Error, Hetzner, Provider, ServerStatus, State,
};
use fake::{ActionState, Api, Fake, Fault};

const HZ_TOKEN: &str = "hcloud-actions-token-0123456789";
const DO_TOKEN: &str = "do-actions-token-0123456789";

/// A fake of `api`, a state file in `dir` and server `appnode2` booted through it.
async fn booted(
    api: Api,
    dir: &tempfile::TempDir,
    provider: impl FnOnce(&Fake) -> Box<dyn Provider>,
) -> (Fake, Box<dyn Provider>, State, String) {
    let token = match api {
        Api::Hetzner => HZ_TOKEN,
        Api::DigitalOcean => DO_TOKEN,
    };
    let fake = Fake::start(api, token).await;
    let provider = provider(&fake);
    let state = State::open(
        dir.path().join("servers.state.toml"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let record = state
        .create(provider.as_ref(), &fake::spec(api, "appnode2"))
        .await
        .unwrap();
    let id = record.id.expect("the created server's id is recorded");
    (fake, provider, state, id)
}

fn hetzner(fake: &Fake) -> Box<dyn Provider> {
    Box::new(Hetzner::new(fake.config(HZ_TOKEN)).unwrap())
}

fn digitalocean(fake: &Fake) -> Box<dyn Provider> {
    Box::new(DigitalOcean::new(fake.config(DO_TOKEN)).unwrap())
}

/// A provider that gives up following an action after 300 ms.
fn impatient(fake: &Fake, api: Api) -> Box<dyn Provider> {
    let mut cfg = match api {
        Api::Hetzner => fake.config(HZ_TOKEN),
        Api::DigitalOcean => fake.config(DO_TOKEN),
    };
    cfg.action_wait = ActionWait {
        timeout: Duration::from_millis(300),
        poll_interval: Duration::from_millis(10),
    };
    match api {
        Api::Hetzner => Box::new(Hetzner::new(cfg).unwrap()),
        Api::DigitalOcean => Box::new(DigitalOcean::new(cfg).unwrap()),
    }
}

/// The record of `appnode2` in the file on disk, if any.
fn on_disk(state: &State) -> Option<dm_providers::Record> {
    State::read(state.path())
        .unwrap()
        .into_iter()
        .find(|r| r.name == "appnode2")
}

#[tokio::test]
async fn hetzner_destroy_whose_delete_action_fails_is_an_error_and_the_server_stays_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, hz, state, id) = booted(Api::Hetzner, &dir, hetzner).await;
    fake.fail_next_action("delete_server", "cannot delete server while it is locked");

    let err = state
        .destroy(hz.as_ref(), "appnode2", None)
        .await
        .expect_err("a failed delete action is an error");
    assert!(matches!(err, Error::ActionFailed { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        "`appnode2`",
        id.as_str(),
        "delete_server",
        "while it is locked",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }

    // The server is still there at the provider, and dm still knows it.
    assert!(fake.world().servers.contains_key(&id.parse().unwrap()));
    assert_ne!(hz.status(&id).await.unwrap().status, ServerStatus::Deleting);
    let kept = on_disk(&state).expect("the record of a server that still exists is kept");
    assert_eq!(kept.id.as_deref(), Some(id.as_str()));
    assert!(state.get("appnode2", None).is_some());

    // Running the destroy again finishes it.
    assert_eq!(
        state.destroy(hz.as_ref(), "appnode2", None).await.unwrap(),
        Destroyed::Deleted
    );
    assert!(fake.world().servers.is_empty());
    assert!(on_disk(&state).is_none());
}

#[tokio::test]
async fn hetzner_destroy_returns_only_once_the_delete_action_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, hz, state, id) = booted(Api::Hetzner, &dir, hetzner).await;
    fake.world().action_polls = 3;

    let outcome = state.destroy(hz.as_ref(), "appnode2", None).await.unwrap();
    assert_eq!(outcome, Destroyed::Deleted);
    // Destroyed means gone at the provider, not "asked to go".
    assert!(
        fake.world().servers.is_empty(),
        "destroy returned while the delete action was still running"
    );
    assert_eq!(fake.count("DELETE", &format!("/v1/servers/{id}")), 1);
    let action_looks = fake.count("GET", "/v1/actions/");
    assert_eq!(
        action_looks, 3,
        "the action was followed until it succeeded"
    );
    assert!(hz.status(&id).await.unwrap_err().is_not_found());
    assert!(on_disk(&state).is_none());
}

#[tokio::test]
async fn hetzner_server_is_deleting_while_its_delete_action_runs() {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    fake.world().action_polls = 1_000_000;
    let hz = impatient(&fake, Api::Hetzner);
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();

    let err = hz
        .destroy(&s.id)
        .await
        .expect_err("the action never finishes");
    assert!(matches!(err, Error::ActionTimeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&s.id) && message.contains("delete_server"),
        "{message}"
    );
    assert_eq!(
        hz.status(&s.id).await.unwrap().status,
        ServerStatus::Deleting
    );
}

#[tokio::test]
async fn hetzner_destroy_again_follows_the_delete_still_running_from_before() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, hz, state, id) = booted(Api::Hetzner, &dir, hetzner).await;
    // The first destroy gives up while the delete action still runs.
    fake.world().action_polls = 1_000_000;
    let impatient = impatient(&fake, Api::Hetzner);
    let err = state
        .destroy(impatient.as_ref(), "appnode2", None)
        .await
        .expect_err("the delete did not finish in time");
    assert!(matches!(err, Error::ActionTimeout { .. }), "{err:?}");
    assert_eq!(
        on_disk(&state).expect("the record is kept").status,
        ServerStatus::Deleting
    );

    // The API refuses a second DELETE (`locked`); the next destroy follows the running one.
    fake.world().action_polls = 3;
    let outcome = state.destroy(hz.as_ref(), "appnode2", None).await.unwrap();
    assert_eq!(outcome, Destroyed::Deleted);
    assert_eq!(
        fake.statuses("DELETE", &format!("/v1/servers/{id}")),
        [200, 423]
    );
    assert_eq!(fake.world().actions.len(), 1, "one delete action only");
    assert!(fake.world().servers.is_empty());
    assert!(on_disk(&state).is_none());
}

#[tokio::test]
async fn hetzner_destroy_of_a_server_locked_by_another_action_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, hz, state, id) = booted(Api::Hetzner, &dir, hetzner).await;
    fake.fail_next(
        Method::DELETE,
        "/servers/",
        Fault::Answer(
            423,
            serde_json::json!({"error": {"code": "locked", "message": "server is locked, because there is already an action running", "details": {}}}),
        ),
    );
    let err = state
        .destroy(hz.as_ref(), "appnode2", None)
        .await
        .expect_err("a locked server is not destroyed");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(fake.world().servers.contains_key(&id.parse().unwrap()));
    assert!(on_disk(&state).is_some(), "the record is kept");
}

#[tokio::test]
async fn hetzner_destroy_follows_the_action_through_a_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, hz, state, _id) = booted(Api::Hetzner, &dir, hetzner).await;
    fake.world().action_polls = 2;
    fake.fail_next(
        Method::GET,
        "/actions/",
        Fault::TooManyRequests {
            retry_after: Some(1),
            reset_in: None,
        },
    );
    let outcome = state.destroy(hz.as_ref(), "appnode2", None).await.unwrap();
    assert_eq!(outcome, Destroyed::Deleted);
    assert_eq!(fake.statuses("GET", "/v1/actions/"), [429, 200, 200]);
    assert!(fake.world().servers.is_empty());
}

#[tokio::test]
async fn digitalocean_destroy_returns_only_once_the_droplet_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, dio, state, id) = booted(Api::DigitalOcean, &dir, digitalocean).await;
    fake.world().action_polls = 3;

    let outcome = state.destroy(dio.as_ref(), "appnode2", None).await.unwrap();
    assert_eq!(outcome, Destroyed::Deleted);
    assert!(
        fake.world().servers.is_empty(),
        "destroy returned while the droplet still existed"
    );
    assert_eq!(
        fake.statuses("GET", &format!("/v2/droplets/{id}")),
        [200, 200, 404],
        "the droplet was looked at until the API said it is gone"
    );
    assert!(on_disk(&state).is_none());
}

#[tokio::test]
async fn digitalocean_destroy_whose_droplet_stays_is_an_error_and_the_record_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, patient, state, id) = booted(Api::DigitalOcean, &dir, digitalocean).await;
    let dio = impatient(&fake, Api::DigitalOcean);
    fake.fail_next_action("destroy", "the droplet could not be destroyed");

    let err = state
        .destroy(dio.as_ref(), "appnode2", None)
        .await
        .expect_err("a droplet that stays is not destroyed");
    assert!(matches!(err, Error::ActionTimeout { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("`appnode2`") && message.contains(&id) && message.contains("destroy"),
        "{message}"
    );
    assert!(fake.world().servers.contains_key(&id.parse().unwrap()));
    let kept = on_disk(&state).expect("the record is kept");
    assert_eq!(kept.status, ServerStatus::Deleting, "an unfinished destroy");

    // The next run's reconcile finishes the destroy.
    let done = state.reconcile(&[patient.as_ref()]).await.unwrap();
    assert_eq!(done.destroyed, ["appnode2"]);
    assert!(fake.world().servers.is_empty());
    assert!(on_disk(&state).is_none());
}

#[tokio::test]
async fn hetzner_start_whose_power_on_action_fails_is_an_error() {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    let hz = hetzner(&fake);
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    fake.power_off(&s.id);
    fake.fail_next_action("start_server", "server is locked");

    let err = hz.start(&s.id).await.expect_err("a failed power-on");
    assert!(matches!(err, Error::ActionFailed { .. }), "{err:?}");
    let message = err.to_string();
    for part in [s.id.as_str(), "start_server", "server is locked"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert_eq!(hz.status(&s.id).await.unwrap().status, ServerStatus::Off);
}

#[tokio::test]
async fn hetzner_start_returns_once_the_power_on_action_succeeded() {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    fake.world().action_polls = 2;
    let hz = hetzner(&fake);
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    fake.power_off(&s.id);

    hz.start(&s.id).await.unwrap();
    let w = fake.world();
    let power_on = w
        .actions
        .values()
        .find(|a| a.command == "start_server")
        .expect("a power-on action");
    assert_eq!(power_on.state, ActionState::Succeeded);
    assert_eq!(power_on.polls, 2);
}

#[tokio::test]
async fn digitalocean_start_whose_power_on_action_errors_is_an_error() {
    let fake = Fake::start(Api::DigitalOcean, DO_TOKEN).await;
    let dio = digitalocean(&fake);
    let s = dio
        .create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    fake.power_off(&s.id);
    fake.fail_next_action("power_on", "unused");

    let err = dio.start(&s.id).await.expect_err("an errored power-on");
    assert!(matches!(err, Error::ActionFailed { .. }), "{err:?}");
    let message = err.to_string();
    for part in [s.id.as_str(), "power_on", "errored"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert_eq!(dio.status(&s.id).await.unwrap().status, ServerStatus::Off);
}

#[tokio::test]
async fn a_new_server_advances_to_running_as_it_is_polled() {
    for api in [Api::Hetzner, Api::DigitalOcean] {
        let fake = Fake::start(
            api,
            match api {
                Api::Hetzner => HZ_TOKEN,
                Api::DigitalOcean => DO_TOKEN,
            },
        )
        .await;
        fake.world().polls_until_running = 2;
        let provider = match api {
            Api::Hetzner => hetzner(&fake),
            Api::DigitalOcean => digitalocean(&fake),
        };
        let s = provider.create(&fake::spec(api, "appnode2")).await.unwrap();
        assert_eq!(s.status, ServerStatus::Starting, "{api:?}");
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(provider.status(&s.id).await.unwrap().status);
        }
        assert_eq!(
            seen,
            [
                ServerStatus::Starting,
                ServerStatus::Starting,
                ServerStatus::Running
            ],
            "{api:?}"
        );
    }
}
