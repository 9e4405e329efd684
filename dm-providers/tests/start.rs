//! `Provider::start` of the cloud providers: a server that was shut down reports `off`, `start`
//! sends the documented power-on action and the server comes back; a server that is on is left
//! alone; an unknown id is not found.

use crate::fake;

use axum::http::Method;
use dm_providers::{DigitalOcean, Error, Hetzner, Provider, ServerStatus};
use fake::{Api, Fake, Fault};
use serde_json::json;

const HZ_TOKEN: &str = "hcloud-start-token-0123456789";
const DO_TOKEN: &str = "do-start-token-0123456789";

/// A fake and a provider with one server that ran and was then shut down.
async fn hetzner_off() -> (Fake, Hetzner, String, u16) {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    let hz = Hetzner::new(fake.config(HZ_TOKEN)).unwrap();
    let port = fake::ssh_listener().await;
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    hz.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    fake.power_off(&s.id);
    (fake, hz, s.id, port)
}

async fn digitalocean_off() -> (Fake, DigitalOcean, String, u16) {
    let fake = Fake::start(Api::DigitalOcean, DO_TOKEN).await;
    let dio = DigitalOcean::new(fake.config(DO_TOKEN)).unwrap();
    let port = fake::ssh_listener().await;
    let s = dio
        .create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    dio.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    fake.power_off(&s.id);
    (fake, dio, s.id, port)
}

#[tokio::test]
async fn hetzner_start_powers_on_a_server_that_is_off_and_it_comes_back_running() {
    let (fake, hz, id, port) = hetzner_off().await;
    let off = hz.status(&id).await.unwrap();
    assert_eq!(off.status, ServerStatus::Off);
    assert_eq!(off.public_ipv4, Some("127.0.0.1".parse().unwrap()));

    let started = hz.start(&id).await.unwrap();
    assert_eq!(started.id, id);
    assert_eq!(started.status, ServerStatus::Starting);
    assert_eq!(started.public_ipv4, off.public_ipv4, "the address is kept");

    // The documented action: POST, no parameters (an empty object or no body).
    let path = format!("/v1/servers/{id}/actions/poweron");
    assert_eq!(fake.statuses("POST", &path), [201]);
    let bodies = fake.bodies("POST", &path);
    assert!(
        bodies[0].is_null() || bodies[0] == json!({}),
        "no parameters: {}",
        bodies[0]
    );
    assert_eq!(fake.count("POST", "/v1/servers/"), 1, "one action only");

    let ready = hz.wait_ready(&id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
    assert_eq!(ready.id, id);
}

#[tokio::test]
async fn hetzner_start_sends_no_power_on_for_a_running_or_starting_server() {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    let hz = Hetzner::new(fake.config(HZ_TOKEN)).unwrap();
    let port = fake::ssh_listener().await;
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();

    // Just created: `initializing`.
    let starting = hz.start(&s.id).await.unwrap();
    assert_eq!(starting.status, ServerStatus::Starting);

    hz.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    let running = hz.start(&s.id).await.unwrap();
    assert_eq!(running.status, ServerStatus::Running);
    assert_eq!(running.id, s.id);

    assert_eq!(fake.count("POST", "/v1/servers/"), 0, "no action was sent");
}

#[tokio::test]
async fn hetzner_start_of_an_unknown_server_is_not_found() {
    let fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    let hz = Hetzner::new(fake.config(HZ_TOKEN)).unwrap();
    let err = hz.start("424242").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(fake.count("POST", "/v1/servers/"), 0);
}

#[tokio::test]
async fn hetzner_start_of_a_server_deleted_before_the_power_on_is_not_found() {
    let (fake, hz, id, _port) = hetzner_off().await;
    let path = format!("/servers/{id}/actions/poweron");
    fake.fail_next(
        Method::POST,
        &path,
        Fault::Answer(
            404,
            json!({"error": {"code": "not_found", "message": format!("server with ID '{id}' not found"), "details": {}}}),
        ),
    );
    let err = hz.start(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("not found"), "{err}");
}

#[tokio::test]
async fn hetzner_start_powers_on_again_after_a_server_error() {
    let (fake, hz, id, port) = hetzner_off().await;
    let path = format!("/servers/{id}/actions/poweron");
    fake.fail_next(Method::POST, &path, Fault::ServerError(503));
    let started = hz.start(&id).await.unwrap();
    assert_eq!(started.status, ServerStatus::Starting);
    assert_eq!(fake.statuses("POST", &format!("/v1{path}")), [503, 201]);
    let ready = hz.wait_ready(&id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
}

#[tokio::test]
async fn digitalocean_start_powers_on_a_droplet_that_is_off_and_it_comes_back_active() {
    let (fake, dio, id, port) = digitalocean_off().await;
    let off = dio.status(&id).await.unwrap();
    assert_eq!(off.status, ServerStatus::Off);
    assert_eq!(off.public_ipv4, Some("127.0.0.1".parse().unwrap()));

    let started = dio.start(&id).await.unwrap();
    assert_eq!(started.id, id);
    // DigitalOcean has no status for powering on: the droplet says `off` until it is active.
    assert_eq!(started.status, ServerStatus::Off);
    assert_eq!(started.public_ipv4, off.public_ipv4, "the address is kept");

    // The documented action: POST /droplets/{id}/actions {"type": "power_on"}.
    let path = format!("/v2/droplets/{id}/actions");
    assert_eq!(fake.statuses("POST", &path), [201]);
    assert_eq!(fake.bodies("POST", &path), [json!({"type": "power_on"})]);
    assert_eq!(fake.count("POST", "/v2/droplets/"), 1, "one action only");

    let ready = dio.wait_ready(&id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
    assert_eq!(ready.id, id);
}

#[tokio::test]
async fn digitalocean_start_sends_no_power_on_for_an_active_or_new_droplet() {
    let fake = Fake::start(Api::DigitalOcean, DO_TOKEN).await;
    let dio = DigitalOcean::new(fake.config(DO_TOKEN)).unwrap();
    let port = fake::ssh_listener().await;
    let s = dio
        .create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();

    // Just created: `new`.
    let new = dio.start(&s.id).await.unwrap();
    assert_eq!(new.status, ServerStatus::Starting);

    dio.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    let active = dio.start(&s.id).await.unwrap();
    assert_eq!(active.status, ServerStatus::Running);
    assert_eq!(active.id, s.id);

    assert_eq!(fake.count("POST", "/v2/droplets/"), 0, "no action was sent");
}

#[tokio::test]
async fn digitalocean_start_of_an_unknown_droplet_is_not_found() {
    let fake = Fake::start(Api::DigitalOcean, DO_TOKEN).await;
    let dio = DigitalOcean::new(fake.config(DO_TOKEN)).unwrap();
    let err = dio.start("424242").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(fake.count("POST", "/v2/droplets/"), 0);
}

#[tokio::test]
async fn digitalocean_start_of_a_droplet_deleted_before_the_power_on_is_not_found() {
    let (fake, dio, id, _port) = digitalocean_off().await;
    fake.fail_next(
        Method::POST,
        &format!("/droplets/{id}/actions"),
        Fault::Answer(
            404,
            json!({"id": "not_found", "message": "The resource you were accessing could not be found."}),
        ),
    );
    let err = dio.start(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("could not be found"), "{err}");
}

#[tokio::test]
async fn digitalocean_start_powers_on_again_after_a_server_error() {
    let (fake, dio, id, port) = digitalocean_off().await;
    let path = format!("/droplets/{id}/actions");
    fake.fail_next(Method::POST, &path, Fault::ServerError(500));
    dio.start(&id).await.unwrap();
    assert_eq!(fake.statuses("POST", &format!("/v2{path}")), [500, 201]);
    let ready = dio.wait_ready(&id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
}
