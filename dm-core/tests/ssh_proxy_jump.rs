//! ProxyJump: the target is reached through a `direct-tcpip` channel of the jump host's session
//! (and chains of jumps), proven by the jump sshd's own log.

use crate::ssh_support;

use dm_core::Error;
use dm_core::ssh::Session;
use ssh_support::Sshd;

/// One known_hosts file that records every server given.
fn shared_known_hosts(servers: &[&Sshd], path: &std::path::Path) {
    let content: String = servers
        .iter()
        .map(|s| std::fs::read_to_string(&s.known_hosts).unwrap())
        .collect();
    std::fs::write(path, content).unwrap();
}

fn forwarded_to(jump: &Sshd, port: u16) -> bool {
    jump.log()
        .contains(&format!("target 127.0.0.1 port {port}"))
}

#[tokio::test]
async fn through_one_and_two_jump_hosts() {
    let bastion = Sshd::start_with(&["LogLevel DEBUG1"]);
    let inner = Sshd::start_with(&["LogLevel DEBUG1"]);
    let target = Sshd::start();
    let mut opts = target.options();
    opts.known_hosts = target.dir.path().join("all_known_hosts");
    shared_known_hosts(&[&bastion, &inner, &target], &opts.known_hosts);

    // target via bastion
    let mut host = target.host("app");
    host.proxy_jump = Some(Box::new(bastion.host("bastion")));
    let session = Session::connect(&host, &opts)
        .await
        .expect("connect through bastion");
    let mut out = Vec::new();
    let status = session
        .exec("echo $SSH_CONNECTION", None, &mut |_, b| {
            out.extend_from_slice(b)
        })
        .await
        .unwrap();
    assert!(status.success());
    // The target saw a connection to its own port...
    let seen = String::from_utf8(out).unwrap();
    assert!(
        seen.trim_end().ends_with(&format!(" {}", target.port)),
        "{seen}"
    );
    // ...that the bastion opened for us.
    assert!(
        forwarded_to(&bastion, target.port),
        "bastion log shows no direct-tcpip to the target"
    );
    assert_eq!(
        session.round_trips(),
        1,
        "the tunnel is not counted as a command"
    );
    session.close().await;

    // target via inner via bastion: each jump reaches the next hop.
    let mut inner_host = inner.host("inner");
    inner_host.proxy_jump = Some(Box::new(bastion.host("bastion")));
    let mut host = target.host("app2");
    host.proxy_jump = Some(Box::new(inner_host));
    let session = Session::connect(&host, &opts)
        .await
        .expect("connect through two jumps");
    let status = session.exec("true", None, &mut |_, _| {}).await.unwrap();
    assert!(status.success());
    assert!(
        forwarded_to(&bastion, inner.port),
        "bastion did not forward to the inner jump"
    );
    assert!(
        forwarded_to(&inner, target.port),
        "inner jump did not forward to the target"
    );
}

#[tokio::test]
async fn a_jump_host_that_refuses_forwarding() {
    let bastion = Sshd::start_with(&["AllowTcpForwarding no"]);
    let target = Sshd::start();
    let mut opts = target.options();
    opts.known_hosts = target.dir.path().join("all_known_hosts");
    shared_known_hosts(&[&bastion, &target], &opts.known_hosts);
    let mut host = target.host("app");
    host.proxy_jump = Some(Box::new(bastion.host("bastion")));
    let err = Session::connect(&host, &opts)
        .await
        .expect_err("forwarding is off");
    let message = err.to_string();
    println!("{message}");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(message.starts_with("app: cannot connect to"), "{message}");
    assert!(
        message.contains("jump host bastion cannot reach 127.0.0.1"),
        "{message}"
    );
}

#[tokio::test]
async fn the_targets_host_key_is_checked_too() {
    let bastion = Sshd::start();
    let target = Sshd::start();
    // Only the bastion is known.
    let opts = bastion.options();
    let mut host = target.host("app");
    host.proxy_jump = Some(Box::new(bastion.host("bastion")));
    let err = Session::connect(&host, &opts)
        .await
        .expect_err("target unknown");
    assert!(
        matches!(err, Error::HostKeyUnknown { ref host, .. } if host == "app"),
        "{err:?}"
    );
}
