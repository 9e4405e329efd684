//! The API token is never printed: not in any error's Display or Debug, not in a provider's
//! Debug, not in anything logged at TRACE level (dm's own events and those of the HTTP stack).

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use dm_providers::{
    ApiConfig, DigitalOcean, DigitalOceanDns, DnsProvider, Hetzner, Provider, Token,
};
use fake::{Api, Fake, Fault};

const HZ_TOKEN: &str = "hz-SECRET-token-7f3a9c2e";
const DO_TOKEN: &str = "dop_v1_SECRET_token_b81d44e0";
const WRONG_TOKEN: &str = "WRONG-SECRET-token-0d5e61aa";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_hidden(what: &str, text: &str) {
    for token in [HZ_TOKEN, DO_TOKEN, WRONG_TOKEN] {
        assert!(!text.contains(token), "{what} shows a token: {text}");
        // Not even a recognisable part of it.
        assert!(
            !text.contains("SECRET"),
            "{what} shows part of a token: {text}"
        );
    }
}

fn check_error(what: &str, err: &dm_providers::Error) -> String {
    let shown = format!("{err}\n{err:?}");
    assert_hidden(what, &shown);
    shown
}

#[tokio::test]
async fn the_token_is_never_printed_or_logged() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .unwrap();

    let port = fake::ssh_listener().await;

    // Hetzner: a full cycle, a 422, a 401 with a wrong token, a 429 until attempts run out.
    let hz_fake = Fake::start(Api::Hetzner, HZ_TOKEN).await;
    let hz = Hetzner::new(hz_fake.config(HZ_TOKEN)).unwrap();
    assert_hidden("Hetzner Debug", &format!("{hz:?}"));
    assert_hidden(
        "ApiConfig Debug",
        &format!("{:?}", hz_fake.config(HZ_TOKEN)),
    );
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    hz.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    hz.list().await.unwrap();
    hz.destroy(&s.id).await.unwrap();

    let mut bad = fake::spec(Api::Hetzner, "appnode3");
    bad.size = "cx999".into();
    check_error("422", &hz.create(&bad).await.unwrap_err());

    let wrong = Hetzner::new(hz_fake.config(WRONG_TOKEN)).unwrap();
    let shown = check_error("401", &wrong.list().await.unwrap_err());
    assert!(
        shown.contains("HCLOUD_TOKEN"),
        "the 401 says where the token comes from: {shown}"
    );

    for _ in 0..4 {
        hz_fake.fail_next(
            Method::GET,
            "/servers",
            Fault::TooManyRequests {
                retry_after: None,
                reset_in: None,
            },
        );
    }
    check_error("429", &hz.list().await.unwrap_err());

    // An API that cannot be reached: a port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = hz_fake.config(HZ_TOKEN);
    cfg.base_url = format!("http://127.0.0.1:{closed}/v1");
    let unreachable = Hetzner::new(cfg).unwrap();
    let shown = check_error("transport", &unreachable.list().await.unwrap_err());
    assert!(shown.contains("cannot reach the API"), "{shown}");

    // DigitalOcean: a cycle, a 5xx on create, a wrong token; and the DNS client.
    let do_fake = Fake::start(Api::DigitalOcean, DO_TOKEN).await;
    let d = DigitalOcean::new(do_fake.config(DO_TOKEN)).unwrap();
    assert_hidden("DigitalOcean Debug", &format!("{d:?}"));
    let s = d
        .create(&fake::spec(Api::DigitalOcean, "appnode2"))
        .await
        .unwrap();
    d.wait_ready(&s.id, &fake::wait(port)).await.unwrap();
    d.destroy(&s.id).await.unwrap();
    for _ in 0..4 {
        do_fake.fail_next(Method::POST, "/droplets", Fault::ServerError(500));
    }
    check_error(
        "500",
        &d.create(&fake::spec(Api::DigitalOcean, "appnode4"))
            .await
            .unwrap_err(),
    );
    let wrong = DigitalOcean::new(do_fake.config(WRONG_TOKEN)).unwrap();
    let shown = check_error("401", &wrong.list().await.unwrap_err());
    assert!(shown.contains("DIGITALOCEAN_TOKEN"), "{shown}");

    do_fake
        .world()
        .domains
        .insert("example.com".into(), Vec::new());
    let dns = DigitalOceanDns::new(do_fake.config(DO_TOKEN)).unwrap();
    assert_hidden("DigitalOceanDns Debug", &format!("{dns:?}"));
    dns.set_a_records("example.com", "www", &[Ipv4Addr::new(192, 0, 2, 1)])
        .await
        .unwrap();
    check_error(
        "dns 404",
        &dns.a_records("nope.example", "www").await.unwrap_err(),
    );

    // A token read from the environment is as hidden.
    // SAFETY: this test is the only one in its process touching the environment.
    unsafe { std::env::set_var("DM_TEST_SECRET_TOKEN", HZ_TOKEN) };
    let t = Token::from_env("DM_TEST_SECRET_TOKEN", "test").unwrap();
    assert_eq!(format!("{t} {t:?}"), "*** ***");
    let shown = format!("{:?}", ApiConfig::new("http://127.0.0.1:1/v1", t));
    assert_hidden("ApiConfig from env", &shown);
    let missing = Token::from_env("DM_TEST_UNSET_TOKEN_VAR", "Hetzner Cloud").unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("set the environment variable DM_TEST_UNSET_TOKEN_VAR")
    );

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works and is detailed: requests, retries, and the HTTP stack's own events.
    assert!(log.contains("API request"), "nothing captured:\n{log}");
    assert!(log.contains("rate limited (429); retrying"), "{log}");
    assert!(log.contains("TRACE"), "no TRACE events captured:\n{log}");
    assert_hidden("the TRACE log", &log);
}
