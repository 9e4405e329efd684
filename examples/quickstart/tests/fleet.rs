//! The quickstart fabfile tested against real local machines with `dm::testing`: its tasks run
//! in-process against booted Debian machines, and the results are checked from outside.
//!
//! Run as root: `sudo -E cargo test -p quickstart` (dm's `scripts/test` does).

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dm::prelude::*;
use dm::testing::Fleet;
// Links the fabfile's tasks (src/lib.rs) into this test binary.
use quickstart as _;

/// The main PID of systemd unit `unit` on `machine`, as systemd reports it.
fn main_pid(machine: &dm::testing::Machine, unit: &str) -> u32 {
    let pid = machine.exec_ok(&format!("systemctl show --property=MainPID --value {unit}"));
    pid.trim()
        .parse()
        .unwrap_or_else(|e| panic!("MainPID of {unit} on {}: {pid:?}: {e}", machine.name()))
}

#[test]
fn health_runs_everywhere_and_restart_restarts_ssh_on_app_nodes_only() {
    let fleet = Fleet::builder()
        .machine("lb1", &["loadbalancer"])
        .machine("appnode1", &["appnode"])
        .boot()
        .unwrap();
    let footprint = fleet.footprint();

    let report = fleet.dm_ok(["--json", "health"]);
    assert_eq!(report.counts.ok, 2, "{report:?}");
    for host in &report.hosts {
        let output: Vec<&str> = host.output.iter().map(|l| l.line.as_str()).collect();
        assert!(
            output.iter().any(|l| l.contains("load average")),
            "{}: {output:?}",
            host.host
        );
        assert!(
            output.iter().any(|l| l.starts_with("Filesystem")),
            "{}: {output:?}",
            host.host
        );
    }

    let (lb, app) = (fleet.machine("lb1"), fleet.machine("appnode1"));
    let (lb_sshd, app_sshd) = (main_pid(lb, "ssh"), main_pid(app, "ssh"));
    // `restart` runs on its roles (appnode) when nothing is selected.
    let report = fleet.dm_ok(["restart", "ssh"]);
    let hosts: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts, ["appnode1"]);
    assert!(app.is_active("ssh"));
    assert_ne!(
        main_pid(app, "ssh"),
        app_sshd,
        "sshd on appnode1 was not restarted"
    );
    assert_eq!(
        main_pid(lb, "ssh"),
        lb_sshd,
        "sshd on lb1 must not be touched"
    );

    // A unit that does not exist: the task fails on the host, and the report says so.
    let report = fleet.dm(["restart", "no-such-unit"]).unwrap();
    assert!(!report.success);
    assert_eq!(report.counts.failed, 1);
    let error = report.hosts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("no-such-unit"), "{error}");

    drop(fleet);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}

/// Install nginx and serve this host's name as the home page (the app of this test).
#[task(roles = ["appnode"])]
async fn serve_hostname(ctx: &Ctx) -> Result<()> {
    install_nginx(ctx).await?;
    ctx.run("hostname > /var/www/html/index.html").await?;
    Ok(())
}

/// Install nginx and balance port 80 over every app node of the inventory, round robin.
#[task(roles = ["loadbalancer"])]
async fn balance(ctx: &Ctx) -> Result<()> {
    let backends: String = ctx
        .inventory()
        .role("appnode")
        .iter()
        .map(|host| format!("    server {}:80;\n", host.address))
        .collect();
    ensure!(!backends.is_empty(), "no app nodes in the inventory");
    install_nginx(ctx).await?;
    let site = format!(
        "upstream app {{\n{backends}}}\n\
         server {{\n    listen 80 default_server;\n    location / {{ proxy_pass http://app; }}\n}}\n"
    );
    ctx.put_bytes(site.into_bytes(), "/etc/nginx/sites-available/default")
        .await?;
    ctx.run("nginx -t && systemctl reload nginx").await?;
    Ok(())
}

/// `apt-get install nginx`, without prompts.
async fn install_nginx(ctx: &Ctx) -> Result<()> {
    ctx.run("apt-get update -q -o Acquire::Retries=3 >/dev/null")
        .await?;
    ctx.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null")
        .await?;
    Ok(())
}

#[test]
fn the_app_answers_through_the_load_balancer_from_both_app_nodes() {
    let fleet = Fleet::builder()
        .machine("lb1", &["loadbalancer"])
        .machine("appnode1", &["appnode"])
        .machine("appnode2", &["appnode"])
        .boot()
        .unwrap();
    // The deployment: the app on every app node, then the balancer in front of them.
    fleet.dm_ok(["serve-hostname"]);
    fleet.dm_ok(["balance"]);
    let lb = fleet.machine("lb1");
    assert!(lb.is_active("nginx"));
    let mut seen = Vec::new();
    for _ in 0..4 {
        let page = lb.http_get(80, "/").unwrap();
        assert_eq!(page.status, 200, "{page:?}");
        assert_eq!(
            page.header("server").map(|s| s.starts_with("nginx")),
            Some(true)
        );
        seen.push(page.body.trim().to_string());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["appnode1", "appnode2"]);
    // With one app node down, the balancer still answers, from the other one.
    fleet.machine("appnode1").exec_ok("systemctl stop nginx");
    assert!(!fleet.machine("appnode1").is_active("nginx"));
    for _ in 0..3 {
        let page = lb.http_get(80, "/").unwrap();
        assert_eq!((page.status, page.body.trim()), (200, "appnode2"));
    }
}
