//! 429 and 5xx answers are retried with the documented headers honoured and a bounded number of
//! attempts; a create is never repeated blindly after a 5xx.

use crate::fake;

use std::time::{Duration, Instant};

use axum::http::Method;
use dm_providers::{DigitalOcean, Error, Hetzner, Provider};
use fake::{Api, Fake, Fault};

const TOKEN: &str = "rate-limit-test-token";

#[tokio::test]
async fn hetzner_429_is_retried_after_ratelimit_reset() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    fake.fail_next(
        Method::GET,
        "/servers",
        Fault::TooManyRequests {
            retry_after: None,
            reset_in: Some(1),
        },
    );
    let start = Instant::now();
    let servers = hz.list().await.unwrap();
    assert!(servers.is_empty());
    assert_eq!(
        fake.statuses("GET", "/v1/servers"),
        [429, 200],
        "one 429, then success"
    );
    // RateLimit-Reset is a whole-second UNIX time: the wait is up to one second.
    assert!(start.elapsed() <= Duration::from_secs(3));
    // And not shorter: the retry arrived once the announced reset (the 429's second + 1) came.
    let arrivals = fake.world().arrivals.clone();
    assert!(
        arrivals[1] >= arrivals[0].floor() + 1.0,
        "retried at {} before the reset at {}",
        arrivals[1],
        arrivals[0].floor() + 1.0
    );
}

#[tokio::test]
async fn digitalocean_429_is_retried_after_retry_after() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    fake.fail_next(
        Method::POST,
        "/droplets",
        Fault::TooManyRequests {
            retry_after: Some(1),
            reset_in: None,
        },
    );
    let start = Instant::now();
    d.create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(fake.statuses("POST", "/v2/droplets"), [429, 202]);
    assert_eq!(
        fake.world().servers.len(),
        1,
        "a 429'd create made nothing; the retry made one"
    );
}

#[tokio::test]
async fn attempts_are_bounded() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    for _ in 0..10 {
        fake.fail_next(
            Method::GET,
            "/servers",
            Fault::TooManyRequests {
                retry_after: None,
                reset_in: None,
            },
        );
    }
    let err = hz.list().await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(
        fake.count("GET", "/v1/servers"),
        4,
        "max_attempts in the config is 4"
    );
    let text = err.to_string();
    assert!(
        text.contains("rate limited (HTTP 429) after 4 attempt(s)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wait_longer_than_allowed_fails_at_once() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    fake.fail_next(
        Method::GET,
        "/droplets",
        Fault::TooManyRequests {
            retry_after: Some(3600),
            reset_in: None,
        },
    );
    let start = Instant::now();
    let err = d.list().await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.count("GET", "/v2/droplets"), 1);
    assert!(
        err.to_string().contains("the API asks to wait 3600s more"),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_with_backoff() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    let created = d
        .create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    fake.fail_next(Method::GET, "/droplets/", Fault::ServerError(503));
    fake.fail_next(Method::GET, "/droplets/", Fault::ServerError(500));
    let server = d.status(&created.id).await.unwrap();
    assert_eq!(server.name, "appnode2");
    assert_eq!(fake.statuses("GET", "/v2/droplets/"), [503, 500, 200]);
}

#[tokio::test]
async fn a_failed_create_looks_before_it_tries_again() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    fake.fail_next(Method::POST, "/servers", Fault::ServerError(502));
    let server = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    assert_eq!(fake.statuses("POST", "/v1/servers"), [502, 201]);
    // Before each POST, a lookup by name label.
    assert_eq!(
        fake.count("GET", "/v1/servers?label_selector=dm%2Fname%3Dappnode2"),
        2
    );
    assert_eq!(fake.world().servers.len(), 1);
    assert_eq!(server.name, "appnode2");
}

/// The provider for `api` against `fake`.
fn provider(api: Api, fake: &Fake) -> Box<dyn Provider> {
    match api {
        Api::Hetzner => Box::new(Hetzner::new(fake.config(TOKEN)).unwrap()),
        Api::DigitalOcean => Box::new(DigitalOcean::new(fake.config(TOKEN)).unwrap()),
    }
}

#[tokio::test]
async fn a_create_that_went_through_before_its_5xx_makes_one_server() {
    for (api, path, create) in [
        (Api::Hetzner, "/servers", "/v1/servers"),
        (Api::DigitalOcean, "/droplets", "/v2/droplets"),
    ] {
        let fake = Fake::start(api, TOKEN).await;
        let cloud = provider(api, &fake);
        // The server is created, the answer lost to a 502.
        fake.fail_next(Method::POST, path, Fault::ServerErrorAfterActing(502));
        let server = cloud
            .create(&fake::spec(api, "appnode2"))
            .await
            .unwrap_or_else(|e| panic!("{api:?}: {e}"));
        assert_eq!(server.name, "appnode2", "{api:?}");
        assert_eq!(
            fake.world().servers.len(),
            1,
            "{api:?}: the create was repeated and made a second server"
        );
        assert_eq!(
            fake.statuses("POST", create),
            [502],
            "{api:?}: looked, found it, did not create again"
        );
    }
}

#[tokio::test]
async fn a_request_budget_is_waited_out_not_retried_into() {
    for api in [Api::Hetzner, Api::DigitalOcean] {
        let fake = Fake::start(api, TOKEN).await;
        let cloud = provider(api, &fake);
        let created = cloud.create(&fake::spec(api, "appnode2")).await.unwrap();
        let before = fake.world().log.len();
        // Two requests a second, with the budget headers on every answer: six status reads need
        // three windows.
        fake.set_budget(2, 1);
        for _ in 0..6 {
            let server = cloud
                .status(&created.id)
                .await
                .unwrap_or_else(|e| panic!("{api:?}: {e}"));
            assert_eq!(server.name, "appnode2");
        }
        let world = fake.world();
        let statuses: Vec<u16> = world.log[before..].iter().map(|(_, _, s)| *s).collect();
        assert!(
            statuses.contains(&429),
            "{api:?}: the budget never ran out: {statuses:?}"
        );
        // A 429 is waited out until RateLimit-Reset: the next request gets through (a retry
        // before the reset would meet another 429).
        for pair in statuses.windows(2) {
            assert!(
                !(pair[0] == 429 && pair[1] == 429),
                "{api:?}: retried before the budget's reset: {statuses:?}"
            );
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            6,
            "{api:?}: {statuses:?}"
        );
    }
}
