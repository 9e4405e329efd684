//! The `[dns]` name follows only load balancers that serve: `boot lb1 appnode1` leaves the new
//! lb1 out of DNS (nothing serves on it yet) and says it joins once launched; `launch` then
//! points the name at lb1, once, and lb1 serves the app. Real local machines, with dm-providers'
//! fake DigitalOcean API on 127.0.0.1 as the DNS provider; the token is given to the dm process
//! only (`DIGITALOCEAN_TOKEN` of the subprocess), never set in this shared test process.

use std::time::{Duration, Instant};

use crate::dns_support::{FakeDns, record};
use crate::fake::Fake;
use dm_tests::{Run, git, http_get, webapp_example};

/// The account token the fake accepts.
const TOKEN: &str = "dop_v1_dns-follow-test-7c2d41e0";

/// The example's `[vars.app]` (and `[vars.postgres]`, unused without a database server), with
/// the app repository at `repo`.
fn app_vars(repo: &std::path::Path) -> String {
    let text = std::fs::read_to_string(webapp_example().join("dm.toml")).expect("example dm.toml");
    let start = text.find("[vars.app]").expect("[vars.app] in the example");
    let end = text.find("[servers.").expect("[servers.*] in the example");
    text[start..end].replace("\"build/app\"", &format!("\"{}\"", repo.display()))
}

/// The addresses of `www.example.com`'s A records at the fake, sorted.
fn a_records(fake: &Fake) -> Vec<String> {
    let mut ips: Vec<String> = fake.world().domains["example.com"]
        .iter()
        .filter(|r| r.kind == "A" && r.name == "www")
        .map(|r| r.data.clone())
        .collect();
    ips.sort();
    ips
}

/// Every output line of run `run`'s `--json` report, all hosts together.
fn lines(run: &Run) -> Vec<String> {
    run.json()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .flat_map(|h| h["output"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l["line"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_new_load_balancer_joins_dns_once_launched() {
    let dns = FakeDns::start(TOKEN, vec![record(1, "NS", "@", "ns1.digitalocean.com")]);
    let (project, fake) = (&dns.project, &dns.fake);

    let repo = project.dir().join("app-repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    for file in ["app.py", "db.py", "migrate.py", "requirements.txt"] {
        std::fs::copy(webapp_example().join("app").join(file), repo.join(file)).expect("copy");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first release"]);
    project
        .write_inventory(&format!(
            "{}\n[servers.lb1]\nroles = [\"loadbalancer\"]\n\n[servers.appnode1]\nroles = \
             [\"appnode\"]\n\n{}",
            app_vars(&repo),
            dns.dns_table()
        ))
        .expect("write dm.toml");
    let dm = |args: &[&str]| dns.dm_ok(args);

    let start = Instant::now();
    let booted = dm(&["--json", "boot", "lb1", "appnode1"]);
    let boot_secs = start.elapsed().as_secs_f64();
    let printed = lines(&booted);
    assert!(
        printed
            .iter()
            .any(|l| l == "lb1: joins DNS once launched (dm launch lb1)"),
        "{printed:#?}"
    );
    assert_eq!(a_records(fake), Vec::<String>::new(), "{printed:#?}");
    assert_eq!(
        fake.count("PUT", "/v2/domains") + fake.count("POST", "/v2/domains"),
        0
    );

    let lb = project
        .machines()
        .expect("the machines")
        .into_iter()
        .find(|m| m.name == "lb1")
        .expect("lb1 is booted")
        .address
        .to_string();
    let start = Instant::now();
    let launched = dm(&["--json", "launch"]);
    let launch_secs = start.elapsed().as_secs_f64();
    let json = launched.json();
    let mut hosts: Vec<&str> = json["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["appnode1", "lb1"],
        "one entry per server, as before"
    );
    let printed = lines(&launched);
    assert_eq!(a_records(fake), [lb.as_str()], "{printed:#?}");
    assert_eq!(
        fake.count("POST", "/v2/domains/example.com/records"),
        1,
        "DNS was synced once: {printed:#?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http_get(&lb, "/health");
        if answer == "200 ok" {
            break;
        }
        assert!(Instant::now() < deadline, "lb1 does not serve: {answer}");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("dns_follow: boot {boot_secs:.1} s, launch {launch_secs:.1} s");
}
