//! Connection failures are `Error::Connect`, naming the host and destination, within the timeout.

use std::time::{Duration, Instant};

use dm_core::Error;
use dm_core::host::Host;
use dm_core::ssh::{ConnectOptions, Session};

fn options() -> ConnectOptions {
    ConnectOptions {
        use_agent: false,
        connect_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    }
}

#[tokio::test]
async fn nothing_listening() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut host = Host::new("app1", "127.0.0.1");
    host.port = port;
    let err = Session::connect(&host, &options())
        .await
        .expect_err("nothing listens");
    let message = err.to_string();
    println!("{message}");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        message.starts_with(&format!("app1: cannot connect to root@127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts TCP connections and then says nothing, like a stuck server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut host = Host::new("app2", "127.0.0.1");
    host.port = port;
    let started = Instant::now();
    let err = Session::connect(&host, &options())
        .await
        .expect_err("must time out");
    let elapsed = started.elapsed();
    let message = err.to_string();
    println!("{message} ({elapsed:?})");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(message.contains("timed out after 1 s"), "{message}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}
