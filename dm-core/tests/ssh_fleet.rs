//! The ssh layer against real Debian machines from `dm_testing` (systemd-nspawn hosts in
//! network namespaces, stock OpenSSH 9.2): ProxyJump through a firewalled bastion, host-key
//! changes, crashes and network cuts, throughput over the test network, users.

use std::time::{Duration, Instant};

use dm_core::Error;
use dm_core::host::Host;
use dm_core::ssh::{ConnectOptions, HostKeyPolicy, Session, Stream};
use dm_testing::{Fleet, Machine};

fn boot(names: &[&str]) -> Fleet {
    let mut builder = Fleet::builder();
    for name in names {
        builder = builder.machine(name, &[]);
    }
    builder
        .boot()
        .unwrap_or_else(|e| panic!("cannot boot test machines: {e}"))
}

fn host(fleet: &Fleet, machine: &Machine) -> Host {
    let mut host = Host::new(machine.name(), machine.address().to_string());
    host.identity_files = vec![fleet.private_key().to_path_buf()];
    host
}

fn options(fleet: &Fleet) -> ConnectOptions {
    ConnectOptions {
        known_hosts: fleet.known_hosts().to_path_buf(),
        use_agent: false,
        ..ConnectOptions::default()
    }
}

async fn stdout(session: &Session, cmd: &str) -> String {
    let mut out = Vec::new();
    let status = session
        .exec(cmd, None, &mut |s, b| {
            if s == Stream::Stdout {
                out.extend_from_slice(b)
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd}: {status}");
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn proxy_jump_through_a_bastion_the_target_only_accepts() {
    let fleet = boot(&["bastion", "app"]);
    let (bastion, app) = (fleet.machine("bastion"), fleet.machine("app"));
    app.allow_ssh_only_from(bastion);
    let opts = options(&fleet);

    // Directly: refused by the firewall.
    let err = Session::connect(&host(&fleet, app), &opts)
        .await
        .expect_err("firewalled");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");

    // Through the bastion: works, and the target sees the bastion's address.
    let mut target = host(&fleet, app);
    target.proxy_jump = Some(Box::new(host(&fleet, bastion)));
    let session = Session::connect(&target, &opts)
        .await
        .expect("through the bastion");
    assert_eq!(stdout(&session, "hostname").await.trim(), "app");
    let from = stdout(&session, "echo $SSH_CLIENT").await;
    assert!(
        from.starts_with(&format!("{} ", bastion.address())),
        "{from}"
    );
    session.close().await;
}

#[tokio::test]
async fn deploy_user_and_many_commands_on_stock_sshd() {
    let fleet = boot(&["web"]);
    let mut web = host(&fleet, fleet.machine("web"));
    web.user = "deploy".to_string();
    let session = Session::connect(&web, &options(&fleet))
        .await
        .expect("connect as deploy");
    assert_eq!(stdout(&session, "id -un").await, "deploy\n");
    // 40 at once over one connection against Debian's default MaxSessions 10, five times: each
    // new channel is opened right behind the close of a finished one, which sshd may still count.
    let started = Instant::now();
    for _round in 0..5 {
        let outputs = futures::future::join_all((0..40).map(|i| {
            let session = session.clone();
            async move { stdout(&session, &format!("echo {i}")).await }
        }))
        .await;
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(out, &format!("{i}\n"));
        }
    }
    println!(
        "5 x 40 commands over one connection: {:?}",
        started.elapsed()
    );
    assert_eq!(session.round_trips(), 201);
}

#[tokio::test]
async fn regenerated_host_key_is_refused_even_with_accept_new() {
    let fleet = boot(&["db"]);
    let db = fleet.machine("db");
    let mut opts = options(&fleet);
    Session::connect(&host(&fleet, db), &opts)
        .await
        .expect("known key");
    db.regenerate_host_key();
    opts.host_key_policy = HostKeyPolicy::AcceptNew;
    let err = Session::connect(&host(&fleet, db), &opts)
        .await
        .expect_err("changed key");
    match &err {
        Error::HostKeyChanged {
            host, fingerprint, ..
        } => {
            assert_eq!(host, "db");
            assert_eq!(fingerprint, &db.host_key_fingerprint());
        }
        other => panic!("expected HostKeyChanged, got {other:?}"),
    }
    println!("{err}");
}

#[tokio::test]
async fn cut_network_and_crash_become_disconnected_errors() {
    let fleet = boot(&["cut", "crash"]);
    let mut opts = options(&fleet);
    opts.keepalive_interval = Duration::from_secs(1);

    for (name, breaks) in [("cut", 0), ("crash", 1)] {
        let machine = fleet.machine(name);
        let session = Session::connect(&host(&fleet, machine), &opts)
            .await
            .expect("connect");
        let running = session.clone();
        let command =
            tokio::spawn(async move { running.exec("sleep 120", None, &mut |_, _| {}).await });
        // Broken once the command runs there (its `sleep` is in the machine's process table).
        let started = std::time::Instant::now();
        while !machine
            .exec("pgrep -x sleep >/dev/null")
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the command never ran on {name}"
            );
            // Polling the machine's process table: it offers no readiness signal.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let broken = Instant::now();
        if breaks == 0 {
            machine.cut_network();
        } else {
            machine.power_off();
        }
        let result = tokio::time::timeout(Duration::from_secs(30), command)
            .await
            .expect("exec hung")
            .unwrap();
        let elapsed = broken.elapsed();
        match result {
            Err(e @ Error::Disconnected { .. }) => {
                println!("{name}: {e} after {elapsed:?}");
                assert!(
                    e.to_string()
                        .starts_with(&format!("{name}: connection lost"))
                );
            }
            other => panic!("{name}: expected Disconnected, got {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(8), "{name}: {elapsed:?}");
    }
}

#[tokio::test]
async fn fifty_megabytes_over_the_test_network() {
    let fleet = boot(&["files"]);
    let session = Session::connect(&host(&fleet, fleet.machine("files")), &options(&fleet))
        .await
        .expect("connect");
    let size = 50 * 1024 * 1024;
    let data: Vec<u8> = (0..size)
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let local_sum = {
        let path = fleet.dir().join("upload.bin");
        std::fs::write(&path, &data).unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(&path)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_string()
    };
    let mut input: &[u8] = &data;
    let started = Instant::now();
    let status = session
        .exec("cat > /root/upload.bin", Some(&mut input), &mut |_, _| {})
        .await
        .expect("upload");
    let elapsed = started.elapsed();
    assert!(status.success());
    let remote_sum = stdout(&session, "sha256sum /root/upload.bin").await;
    assert_eq!(&remote_sum[..64], local_sum);
    println!(
        "50 MiB through stdin to a test machine: {:.2} s = {:.0} MB/s",
        elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64()
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}
