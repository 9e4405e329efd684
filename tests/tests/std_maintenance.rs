//! `maintenance on|off` on a real load balancer: on, every request (the app and static files)
//! gets 503 with the maintenance page; off, requests reach the app again; switching twice
//! changes nothing the second time, and re-running the load balancer recipe keeps the mode.

use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::{boot, write};

/// The load balancer recipe as a task.
#[task]
async fn maintenance_lb(ctx: &Ctx) -> Result<()> {
    dm::tasks::loadbalancer::loadbalancer(ctx).await
}

/// How many operations of a run changed something.
fn changed(report: &RunReport) -> usize {
    report.operations.changed
}

/// The output lines of a run (`--json`), all hosts.
fn said(report: &RunReport) -> String {
    report
        .hosts
        .iter()
        .flat_map(|h| h.output.iter().map(|l| l.line.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Status and body of `GET path` through the load balancer.
fn get(lb: &Machine, path: &str) -> (u16, String) {
    let page = lb.http_get(80, path).expect("the load balancer answers");
    (page.status, page.body)
}

#[test]
fn maintenance_mode_answers_503_until_switched_off() {
    let fleet = boot(
        Fleet::builder()
            .machine("lb1", &["loadbalancer"])
            .machine("app1", &["appnode"]),
    );
    write(
        &fleet.dir().join("dm.toml"),
        &format!(
            "vars = {{ app = {{ name = \"shop\" }}, nginx = {{ static_root = \"/srv/static\" }} }}\n{}",
            fleet.inventory_toml()
        ),
    );
    let (lb, app) = (fleet.machine("lb1"), fleet.machine("app1"));
    app.exec_ok(
        "set -e; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null
         echo \"served by $(hostname)\" > /var/www/html/index.html
         printf 'server {\\n listen 8000;\\n root /var/www/html;\\n}\\n' > /etc/nginx/sites-enabled/default
         systemctl restart nginx",
    );
    fleet.dm_ok(["-H", "lb1", "maintenance-lb"]);
    lb.exec_ok("mkdir -p /srv/static && echo body{} > /srv/static/site.css");
    assert_eq!(get(lb, "/"), (200, "served by app1\n".to_string()));
    assert_eq!(get(lb, "/static/site.css").0, 200);

    let on = fleet.dm_ok(["--json", "maintenance", "on"]);
    assert_eq!(changed(&on), 1, "{on:?}");
    for path in ["/", "/static/site.css", "/any/page?x=1"] {
        let page = lb.http_get(80, path).expect("answers");
        assert_eq!(page.status, 503, "{path}: {page:?}");
        assert!(
            page.body.contains("Down for maintenance"),
            "{path}: {}",
            page.body
        );
        assert_eq!(page.header("Retry-After"), Some("300"), "{page:?}");
    }
    let again = fleet.dm_ok(["--json", "maintenance", "on"]);
    assert_eq!(changed(&again), 0, "{again:?}");
    // `status` says it is on, and since when, and changes nothing.
    let status = fleet.dm_ok(["--json", "maintenance", "status"]);
    let text = said(&status);
    assert!(text.contains("maintenance on for shop since 20"), "{text}");
    assert!(text.ends_with(" UTC"), "{text}");
    assert_eq!(changed(&status), 0, "{status:?}");
    assert_eq!(get(lb, "/").0, 503);

    // The recipe does not switch maintenance off behind the operator's back.
    let relaunch = fleet.dm_ok(["--json", "-H", "lb1", "maintenance-lb"]);
    assert_eq!(changed(&relaunch), 0, "{relaunch:?}");
    assert_eq!(get(lb, "/").0, 503);

    let off = fleet.dm_ok(["--json", "maintenance", "off"]);
    assert_eq!(changed(&off), 1, "{off:?}");
    assert_eq!(get(lb, "/"), (200, "served by app1\n".to_string()));
    assert_eq!(get(lb, "/static/site.css"), (200, "body{}\n".to_string()));
    let status = fleet.dm_ok(["--json", "maintenance", "status"]);
    assert_eq!(said(&status), "maintenance off for shop");

    // A wrong mode is a usage error naming the allowed values.
    let err = fleet.dm(["maintenance", "maybe"]).expect_err("usage error");
    assert!(
        err.to_string().contains("not `on`, `off` or `status`"),
        "{err}"
    );
}

#[test]
fn maintenance_refuses_a_host_without_the_load_balancer_site() {
    let fleet = boot(Fleet::builder().machine("lb1", &["loadbalancer"]));
    fleet
        .machine("lb1")
        .exec_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null");
    let report = fleet.dm(["--json", "maintenance", "on"]).expect("runs");
    assert!(!report.success);
    let error = report.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("set the host up with the loadbalancer recipe"),
        "{error}"
    );
    assert_eq!(
        fleet
            .machine("lb1")
            .exec_ok("test -e /var/lib/dm/maintenance/app && echo on || echo off")
            .trim(),
        "off"
    );
}
