//! `provision` on bare machines: afterwards root and password logins are refused, the
//! administrator gets in with the operator's key and has sudo, the firewall opens only what the
//! roles need, a second run changes nothing, a tampered sshd drop-in is repaired, and a
//! hardening that would lock the operator out is rolled back; keys that live only in the
//! operator's ssh-agent are authorized for the administrator too.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::Output;
use std::time::Duration;

use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::{boot, password_login};

/// Boots `machines` with the inventory logging in as `admin`, as a provisioned fleet does.
fn admin_fleet(builder: dm::testing::FleetBuilder) -> Fleet {
    dm::tasks::link();
    boot(builder.user("admin"))
}

fn provision(fleet: &Fleet, args: &[&str]) -> RunReport {
    let mut all = vec!["provision"];
    all.extend_from_slice(args);
    match fleet.dm(all) {
        Ok(report) => report,
        Err(e) => panic!("provision could not run: {e}"),
    }
}

fn errors(report: &RunReport) -> String {
    report
        .hosts
        .iter()
        .filter_map(|h| h.error.as_deref())
        .collect::<Vec<_>>()
        .join("\n")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `cmd` as root through the administrator's passwordless sudo (root cannot log in).
fn admin_sudo(machine: &Machine, cmd: &str) -> String {
    let output = machine
        .exec_as("admin", &format!("sudo -n sh -c {}", dm::shell_quote(cmd)))
        .expect("ssh runs");
    assert!(
        output.status.success(),
        "on {}: `{cmd}` as admin with sudo failed: {}",
        machine.name(),
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether a TCP connection from this machine to `machine:port` is accepted within 3 s.
fn reachable(machine: &Machine, port: u16) -> bool {
    let address = SocketAddr::from((machine.address(), port));
    TcpStream::connect_timeout(&address, Duration::from_secs(3)).is_ok()
}

/// Starts a throwaway HTTP server on `port` (python3 comes with unattended-upgrades).
fn listen(machine: &Machine, port: u16) {
    admin_sudo(
        machine,
        &format!("systemd-run --unit=test-listener-{port} python3 -m http.server {port}"),
    );
    // Listening from the machine itself (the loopback is always allowed).
    admin_sudo(
        machine,
        &format!(
            "for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:{port}/ && exit 0; sleep 0.1; done; exit 1"
        ),
    );
}

#[test]
fn bare_machines_are_provisioned_hardened_and_stay_provisioned() {
    let fleet = admin_fleet(
        Fleet::builder()
            .machine("lb1", &["loadbalancer"])
            .machine("app1", &["appnode"])
            .var("app1", "admin", BTreeMap::from([("ports", vec![9100])]))
            .var("lb1", "admin", BTreeMap::from([("packages", vec!["jq"])])),
    );
    let (lb, app) = (fleet.machine("lb1"), fleet.machine("app1"));

    // Bare: root logs in, the deploy user is offered password authentication.
    assert!(lb.exec("true").expect("ssh runs").status.success());
    let before = password_login(&fleet, app, "deploy");
    assert!(stderr(&before).contains("password"), "{}", stderr(&before));

    let started = std::time::Instant::now();
    let report = provision(&fleet, &[]);
    assert!(report.success, "{}", errors(&report));
    println!(
        "first provision of 2 machines: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    for machine in [lb, app] {
        // Root is refused even with the right key.
        let root = machine.exec("true").expect("ssh runs");
        assert_eq!(
            root.status.code(),
            Some(255),
            "root still logs in to {}",
            machine.name()
        );
        assert!(
            stderr(&root).contains("Permission denied"),
            "{}",
            stderr(&root)
        );
        // Passwords are not even offered any more.
        let password = password_login(&fleet, machine, "deploy");
        assert!(!password.status.success());
        assert!(
            stderr(&password).contains("Permission denied (publickey)"),
            "{}: {}",
            machine.name(),
            stderr(&password)
        );
        // The administrator gets in with the fleet's key and is root through sudo.
        assert_eq!(admin_sudo(machine, "id -u").trim(), "0");
        let effective = admin_sudo(machine, "sshd -T");
        for line in [
            "permitrootlogin no",
            "passwordauthentication no",
            "kbdinteractiveauthentication no",
        ] {
            assert!(
                effective.lines().any(|l| l == line),
                "{line} missing:\n{effective}"
            );
        }
        assert_eq!(admin_sudo(machine, "cat /etc/timezone").trim(), "UTC");
        assert!(admin_sudo(machine, "cat /etc/default/locale").contains("LANG=en_US.UTF-8"));
        assert!(
            admin_sudo(machine, "locale -a")
                .lines()
                .any(|l| l == "en_US.utf8")
        );
        assert!(
            admin_sudo(machine, "cat /etc/apt/apt.conf.d/20auto-upgrades")
                .contains("Unattended-Upgrade \"1\"")
        );
        assert!(admin_sudo(machine, "visudo -c").contains("parsed OK"));
        assert!(admin_sudo(machine, "nft list table inet dm_firewall").contains("policy drop"));
    }
    admin_sudo(lb, "command -v jq");

    // Firewall: app1 serves its app port to the load balancer only, and admin.ports to all.
    listen(app, 8000);
    listen(app, 9100);
    listen(app, 9200);
    assert!(reachable(app, 22), "ssh is always open");
    assert!(reachable(app, 9100), "admin.ports are open to everyone");
    assert!(
        !reachable(app, 8000),
        "the app port is open to the load balancer only"
    );
    assert!(!reachable(app, 9200), "a port nobody opened is unreachable");
    let from_lb = admin_sudo(
        lb,
        &format!(
            "curl -sS -m 5 -o /dev/null -w '%{{http_code}}' http://{}:8000/",
            app.address()
        ),
    );
    assert_eq!(
        from_lb.trim(),
        "200",
        "the load balancer reaches the app port"
    );

    // Again: nothing to change, logging in as the administrator this time.
    let again = provision(&fleet, &[]);
    assert!(again.success, "{}", errors(&again));
    assert_eq!(again.operations.changed, 0, "{again:#?}");
    assert!(
        again.operations.ok > 20,
        "operations were checked: {again:#?}"
    );

    // A tampered drop-in (root and passwords allowed again) is repaired.
    admin_sudo(
        app,
        "printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/00-dm-provision.conf && systemctl reload ssh",
    );
    // `systemctl reload ssh` returns before sshd listens again (it re-executes on SIGHUP), so
    // a login right after it may be refused: give it a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !app.exec("true").expect("ssh runs").status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "tampering let root in"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let repair = provision(&fleet, &["app1"]);
    assert!(repair.success, "{}", errors(&repair));
    assert_eq!(
        repair.operations.changed, 2,
        "drop-in and sshd reload: {repair:#?}"
    );
    assert_eq!(app.exec("true").expect("ssh runs").status.code(), Some(255));
    assert!(
        admin_sudo(app, "cat /etc/ssh/sshd_config.d/00-dm-provision.conf")
            .contains("PermitRootLogin no")
    );
}

#[test]
fn a_hardening_that_would_lock_the_operator_out_is_rolled_back() {
    // The administrator accepts only a key this run does not have.
    let stranger = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wdHtJ9oUK0ILjL/Oyvf stranger@elsewhere";
    let fleet = admin_fleet(Fleet::builder().machine("web1", &[]).var(
        "web1",
        "admin",
        BTreeMap::from([("keys", vec![stranger])]),
    ));
    let web = fleet.machine("web1");

    let report = provision(&fleet, &[]);
    assert!(!report.success, "provision must fail: {report:#?}");
    let error = errors(&report);
    assert!(
        error.contains("a new SSH connection as `admin` did not work"),
        "{error}"
    );
    assert!(
        error.contains("previous sshd configuration was restored"),
        "{error}"
    );

    // The bootstrap login still works: nothing locked the operator out.
    let root = web.exec("test ! -e /etc/ssh/sshd_config.d/00-dm-provision.conf && sshd -T");
    let root = root.expect("ssh runs");
    assert!(
        root.status.success(),
        "root is locked out: {}",
        stderr(&root)
    );
    assert!(
        !String::from_utf8_lossy(&root.stdout)
            .lines()
            .any(|l| l == "permitrootlogin no"),
        "the hardening stayed"
    );
}

#[test]
fn an_sshd_that_would_ignore_the_hardening_keeps_its_configuration() {
    // sshd_config sets PermitRootLogin above its Include line, so sshd would ignore ours:
    // provision fails, naming the setting, and the server keeps its previous sshd configuration.
    let fleet = admin_fleet(Fleet::builder().machine("web2", &[]));
    let web = fleet.machine("web2");
    web.exec_ok("sed -i '1i PermitRootLogin yes' /etc/ssh/sshd_config");

    let report = provision(&fleet, &[]);
    assert!(!report.success, "provision must fail: {report:#?}");
    let error = errors(&report);
    assert!(
        error.contains("permitrootlogin is yes instead of no"),
        "{error}"
    );
    web.exec_ok("test ! -e /etc/ssh/sshd_config.d/00-dm-provision.conf");
    assert!(
        web.exec_ok("sshd -T")
            .lines()
            .any(|l| l == "passwordauthentication yes")
    );
}

/// `ssh-agent -D` on a socket in `dir` holding a new key `dir/agent-key`, killed on drop.
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl Agent {
    fn with_new_key(dir: &std::path::Path) -> Agent {
        let socket = dir.join("agent.sock");
        let key = dir.join("agent-key");
        let run = |cmd: &mut std::process::Command| {
            let status = cmd.stdout(std::process::Stdio::null()).status();
            assert!(status.is_ok_and(|s| s.success()), "{cmd:?}");
        };
        run(std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "agent-only", "-f"])
            .arg(&key));
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        for _ in 0..250 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        run(std::process::Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &socket));
        Agent { child, socket, key }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_administrator_accepts_the_keys_of_the_operators_ssh_agent() {
    let fleet = admin_fleet(Fleet::builder().machine("app1", &["appnode"]));
    let app = fleet.machine("app1");
    let dir = tempfile::tempdir().expect("a temp dir");
    let agent = Agent::with_new_key(dir.path());

    // dm runs with the agent (the user's, not the test process's environment).
    let run = dm_tests::Dm::new(&fleet)
        .env("SSH_AUTH_SOCK", agent.socket.to_str().expect("utf-8 path"))
        .args(["provision"])
        .run();
    run.assert_success();

    // The key that exists only in the agent logs in as the administrator (OpenSSH, strict host
    // key checking, no other key offered).
    let known_hosts = format!("UserKnownHostsFile={}", fleet.known_hosts().display());
    let login = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .args([
            "-o",
            &known_hosts,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
        ])
        .arg("-i")
        .arg(&agent.key)
        .arg(format!("admin@{}", app.address()))
        .arg("echo in")
        .output()
        .expect("ssh runs");
    assert!(login.status.success(), "{}", stderr(&login));
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), "in");
    // Both the fleet's key file and the agent's key are authorized.
    let authorized = admin_sudo(app, "cat /home/admin/.ssh/authorized_keys");
    assert!(authorized.contains("agent-only"), "{authorized}");
    assert_eq!(authorized.lines().count(), 2, "{authorized}");
}
