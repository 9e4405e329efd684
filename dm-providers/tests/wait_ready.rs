//! `wait_ready` needs both: the provider saying running, and the SSH port taking a connection.
//! Either one missing ends in a timeout error that says which.

use crate::fake;

use std::time::{Duration, Instant};

use dm_providers::{Error, Hetzner, Provider, Wait};
use fake::{Api, Fake};

const TOKEN: &str = "wait-test-token";

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn short(port: u16) -> Wait {
    Wait {
        timeout: Duration::from_millis(600),
        poll_interval: Duration::from_millis(50),
        ssh_port: port,
        connect_timeout: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn running_but_ssh_closed_times_out_naming_the_port() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    let port = closed_port();
    let start = Instant::now();
    let err = hz.wait_ready(&s.id, &short(port)).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, Error::NotReady { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("hetzner: server `appnode2` was not ready after 0."),
        "{text}"
    );
    assert!(
        text.contains("s: the provider says running, but port"),
        "{text}"
    );
    assert!(
        text.contains(&format!("port {port} on 127.0.0.1 does not answer")),
        "{text}"
    );
}

#[tokio::test]
async fn never_running_times_out_with_the_provider_status() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    fake.world().polls_until_running = 1_000_000;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    let port = fake::ssh_listener().await;
    let err = hz.wait_ready(&s.id, &short(port)).await.unwrap_err();
    assert!(
        err.to_string().contains("the provider says `starting`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_is_gone_fails_at_once() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let s = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap();
    hz.destroy(&s.id).await.unwrap();
    let err = hz
        .wait_ready(&s.id, &fake::wait(closed_port()))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}
