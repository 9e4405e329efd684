//! nginx and the load balancer role on real machines: requests through the load balancer reach
//! both app nodes, a second run changes nothing, a dead or removed node does not fail requests,
//! a bad configuration (a broken template, an invalid directive, a broken site) is refused while
//! the old configuration keeps serving, and TLS serves a self-signed certificate.

use std::collections::BTreeSet;
use std::process::Command;

use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::{boot, set_vars, write};

/// The load balancer recipe as a task.
#[task]
async fn nginx_lb(ctx: &Ctx) -> Result<()> {
    dm::tasks::loadbalancer::loadbalancer(ctx).await
}

/// Rewrites the upstream to the named servers only.
#[task]
async fn lb_upstream(
    ctx: &Ctx,
    #[arg(help = "comma-separated app nodes")] nodes: String,
) -> Result<()> {
    let names: Vec<&str> = nodes.split(',').collect();
    let hosts: Vec<_> = ctx
        .inventory()
        .servers()
        .filter(|h| names.contains(&h.name.as_str()))
        .cloned()
        .collect();
    dm::tasks::loadbalancer::update_upstream(ctx, &hosts).await
}

/// A site that nginx refuses (an unknown directive).
#[task]
async fn bad_site(ctx: &Ctx) -> Result<()> {
    dm::tasks::nginx::site_from_str(
        ctx,
        "broken",
        "broken.conf.j2",
        "server {\n    listen 8081;\n    bogus_directive on;\n}\n",
    )
    .await?;
    Ok(())
}

/// A site template with an undefined variable on line 3.
#[task]
async fn undefined_site(ctx: &Ctx) -> Result<()> {
    dm::tasks::nginx::site_from_str(
        ctx,
        "undefined",
        "undefined.conf.j2",
        "server {\n    listen 8082;\n    server_name {{ no_such_domain }};\n}\n",
    )
    .await?;
    Ok(())
}

/// Makes `machine` answer `served by NAME` on port 8000 (plain nginx from apt, set up by hand).
fn serve_name_on_8000(machine: &Machine) {
    machine.exec_ok(
        "set -e; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null \
         || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; }
         mkdir -p /srv/www && echo \"served by $(hostname)\" > /srv/www/index.html
         printf 'server {\\n listen 8000;\\n root /srv/www;\\n}\\n' > /etc/nginx/sites-enabled/default
         systemctl restart nginx",
    );
}

/// The bodies of `n` requests to the load balancer, each a 200.
fn bodies(lb: &Machine, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| {
            let page = lb.http_get(80, "/").expect("the load balancer answers");
            assert_eq!(page.status, 200, "{page:?}");
            page.body.trim().to_string()
        })
        .collect()
}

/// Names of the changed operations of a report.
fn changed(report: &RunReport) -> Vec<String> {
    report
        .hosts
        .iter()
        .flat_map(|h| &h.operations)
        .filter(|o| o.status == dm::ops::OpStatus::Changed)
        .map(|o| o.name.clone())
        .collect()
}

/// The error of the run's only host.
fn error(report: &RunReport) -> String {
    assert!(!report.success, "expected a failure: {report:?}");
    report.hosts[0].error.clone().unwrap_or_default()
}

fn both() -> BTreeSet<String> {
    ["served by app1".to_string(), "served by app2".to_string()].into()
}

#[test]
fn load_balancer_reaches_every_app_node_and_refuses_bad_configuration() {
    let fleet = boot(
        Fleet::builder()
            .machine("lb1", &["loadbalancer"])
            .machine("app1", &["appnode"])
            .machine("app2", &["appnode"]),
    );
    set_vars(&fleet, r#"{ app = { name = "shop", port = 8000 } }"#);
    let lb = fleet.machine("lb1");
    let (app1, app2) = (fleet.machine("app1"), fleet.machine("app2"));
    std::thread::scope(|s| {
        s.spawn(|| serve_name_on_8000(app1));
        s.spawn(|| serve_name_on_8000(app2));
    });

    // First run sets everything up; requests reach both app nodes.
    let first = fleet.dm_ok(["--json", "-H", "lb1", "nginx-lb"]);
    assert!(!changed(&first).is_empty(), "{first:?}");
    let upstream = lb.read_file("/etc/nginx/conf.d/shop-upstream.conf");
    for machine in [app1, app2] {
        assert!(
            upstream.contains(&format!("server {}:8000 ", machine.address())),
            "{upstream}"
        );
    }
    assert!(
        !lb.exec_ok("ls /etc/nginx/sites-enabled")
            .contains("default")
    );
    assert_eq!(bodies(lb, 6), both());

    // Second run: nothing to do.
    let second = fleet.dm_ok(["--json", "-H", "lb1", "nginx-lb"]);
    assert_eq!(changed(&second), Vec::<String>::new(), "{second:?}");
    assert_eq!(second.operations.changed, 0);

    // A dead app node does not fail requests: they go to the other one.
    app2.exec_ok("systemctl stop nginx");
    assert_eq!(
        bodies(lb, 6),
        BTreeSet::from(["served by app1".to_string()])
    );
    app2.exec_ok("systemctl start nginx");

    // Scaling down: only app1 stays in the upstream, reloaded without a failed request.
    fleet.dm_ok(["-H", "lb1", "lb-upstream", "app1"]);
    let upstream = lb.read_file("/etc/nginx/conf.d/shop-upstream.conf");
    assert!(
        !upstream.contains(&app2.address().to_string()),
        "{upstream}"
    );
    assert_eq!(
        bodies(lb, 6),
        BTreeSet::from(["served by app1".to_string()])
    );
    let again = fleet.dm_ok(["--json", "-H", "lb1", "lb-upstream", "app1"]);
    assert_eq!(changed(&again), Vec::<String>::new(), "{again:?}");
    fleet.dm_ok(["-H", "lb1", "lb-upstream", "app1,app2"]);
    let seen = bodies(lb, 6);
    assert_eq!(
        seen,
        both(),
        "{}\n{}\n{}",
        lb.read_file("/etc/nginx/conf.d/shop-upstream.conf"),
        lb.exec_ok("tail -n 20 /var/log/nginx/error.log"),
        app2.exec_ok("systemctl status nginx --no-pager | head -5")
    );

    let site_before = lb.read_file("/etc/nginx/sites-enabled/shop.conf");

    // An invalid directive in a new site: refused with nginx's message, nothing installed.
    let refused = fleet.dm(["--json", "-H", "lb1", "bad-site"]).expect("runs");
    let message = error(&refused);
    assert!(
        message.contains(
            "unknown directive \"bogus_directive\" in /etc/nginx/sites-enabled/broken.conf:3"
        ),
        "{message}"
    );
    assert!(message.contains("none of it was installed"), "{message}");
    assert_eq!(
        lb.exec_ok("test -e /etc/nginx/sites-enabled/broken.conf && echo present || echo absent")
            .trim(),
        "absent"
    );

    // A template with an undefined variable: named with its line before the host is touched.
    let undefined = fleet
        .dm(["--json", "-H", "lb1", "undefined-site"])
        .expect("runs");
    let message = error(&undefined);
    assert!(
        message.contains("undefined.conf.j2:3") && message.contains("no_such_domain"),
        "{message}"
    );
    assert_eq!(
        lb.exec_ok(
            "test -e /etc/nginx/sites-enabled/undefined.conf && echo present || echo absent"
        )
        .trim(),
        "absent"
    );

    // A bad value for the load balancer's own, live site: refused when the inventory loads
    // (before anything is written), and the old site stays.
    set_vars(
        &fleet,
        r#"{ app = { name = "shop", port = 8000 }, nginx = { client_max_body_size = "lots" } }"#,
    );
    let message = match fleet.dm(["--json", "-H", "lb1", "nginx-lb"]) {
        Ok(_) => panic!("a client_max_body_size of \"lots\" was not refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("nginx.client_max_body_size") && message.contains("is not a size"),
        "{message}"
    );
    assert_eq!(
        lb.read_file("/etc/nginx/sites-enabled/shop.conf"),
        site_before
    );
    // What is on disk is still valid: even a full restart serves.
    lb.exec_ok("nginx -t -q && systemctl restart nginx");
    assert_eq!(bodies(lb, 4), both());

    // TLS on: a self-signed certificate generated on the host; https answers through it.
    set_vars(
        &fleet,
        r#"{ app = { name = "shop", port = 8000 }, nginx = { tls = true } }"#,
    );
    fleet.dm_ok(["-H", "lb1", "nginx-lb"]);
    let url = format!("https://{}/", lb.address());
    let curl = Command::new("curl")
        .args(["-sk", "--noproxy", "*", "--max-time", "10", &url])
        .output()
        .expect("curl runs");
    assert!(curl.status.success(), "{curl:?}");
    let body = String::from_utf8_lossy(&curl.stdout);
    assert!(body.starts_with("served by app"), "{body}");
    let strict = Command::new("curl")
        .args(["-s", "--noproxy", "*", "--max-time", "10", &url])
        .output()
        .expect("curl runs");
    assert_eq!(
        strict.status.code(),
        Some(60),
        "not a self-signed certificate: {strict:?}"
    );
    let subject = lb.exec_ok(
        "openssl x509 -noout -subject -issuer -in /etc/nginx/dm-tls/shop.crt; stat -c %a /etc/nginx/dm-tls/shop.key",
    );
    assert_eq!(subject, "subject=CN = lb1\nissuer=CN = lb1\n600\n");
    assert_eq!(bodies(lb, 4), both());
    let tls_again = fleet.dm_ok(["--json", "-H", "lb1", "nginx-lb"]);
    assert_eq!(changed(&tls_again), Vec::<String>::new(), "{tls_again:?}");
}

/// A run that takes longer than this hangs: the test fails instead of waiting for CI's limit.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs dm in-process with a deadline; the run's report, or why nothing ran.
fn dm_within_deadline(fleet: &Fleet, args: &[&str]) -> Result<RunReport, dm::testing::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime
        .block_on(async { tokio::time::timeout(DEADLINE, fleet.dm_async(args)).await })
        .unwrap_or_else(|_| panic!("dm {args:?} did not finish within {DEADLINE:?}"))
}

#[test]
fn nginx_values_with_configuration_syntax_are_refused_before_anything_is_written() {
    let fleet = boot(
        Fleet::builder()
            .machine("lb1", &["loadbalancer"])
            .machine("app1", &["appnode"]),
    );
    let lb = fleet.machine("lb1");
    // Nothing of nginx on the load balancer: whatever a refused run wrote would show.
    let written = || {
        lb.exec_ok("find /etc/nginx /var/www/dm-maintenance -maxdepth 3 2>/dev/null | wc -l")
            .trim()
            .to_string()
    };
    assert_eq!(written(), "0");
    for (vars, key) in [
        (
            r#"{ app = { name = "shop" }, nginx = { domain = "x; include /etc/shadow" } }"#,
            "nginx.domain",
        ),
        (
            r#"{ app = { name = "shop" }, nginx = { client_max_body_size = "1m; include /etc/shadow" } }"#,
            "nginx.client_max_body_size",
        ),
        (
            r#"{ app = { name = "shop" }, nginx = { static_root = "/srv/x; include /etc/shadow" } }"#,
            "nginx.static_root",
        ),
    ] {
        set_vars(&fleet, vars);
        let said = match dm_within_deadline(&fleet, &["--json", "-H", "lb1", "nginx-lb"]) {
            Err(e) => e.to_string(),
            Ok(report) => panic!("{vars}: the run was not refused before it started: {report:?}"),
        };
        assert!(
            said.contains(&format!("variable `{key}`")) && said.contains("dm.toml"),
            "{vars}: the refusal does not name the key and the file: {said}"
        );
    }
    // An app node's address goes into the upstream file too.
    write(
        &fleet.dir().join("dm.toml"),
        &format!(
            "vars = {{ app = {{ name = \"shop\" }} }}\n{}",
            fleet.inventory_toml().replace(
                "[servers.app1]\n",
                "[servers.app1]\nvars = { private_address = \"10.0.0.5:80; include /etc/shadow\" }\n",
            )
        ),
    );
    let report = dm_within_deadline(&fleet, &["--json", "-H", "lb1", "nginx-lb"])
        .unwrap_or_else(|e| panic!("dm could not run: {e}"));
    let said = error(&report);
    assert!(
        said.contains("app1") && said.contains("private_address"),
        "the upstream address was not refused naming the server and variable: {said}"
    );
    assert_eq!(written(), "0", "a refused run wrote nginx files");
}
