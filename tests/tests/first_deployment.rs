//! The first deployment of the webapp example (examples/webapp) on real machines, as its README
//! walks through it: four bare servers (lb1, appnode1, appnode2, db1, from the example's own
//! dm.toml, environment `dev`, its secrets and dev key), `provision`, `launch`, then the app
//! answers through the load balancer from both app nodes with the greeting from postgres.
//!
//! Then: a second provision + launch changes nothing; a new commit deployed is live through the
//! load balancer and `rollback` brings the old one back; a deploy whose build fails leaves the
//! old release serving; of two concurrent deploys one is refused; root and password logins are
//! refused while the administrator gets in; the example's own `seed` task changes the greeting
//! every app node serves, and its `status` task asks each app node directly. The wall time of
//! the first deployment is printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dm::testing::{Fleet, Machine};
use dm_tests::*;
// The example's own tasks (`seed`, `status`), run in-process with `fleet.dm`.
use webapp as _;

/// The sample app's repository: a git repository (branch main) made from examples/webapp/app,
/// as the README tells a user to make it.
fn make_app_repo(repo: &Path) {
    std::fs::create_dir_all(repo).expect("repo dir");
    for entry in std::fs::read_dir(webapp_example().join("app")).expect("examples/webapp/app") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), repo.join(entry.file_name())).expect("copy app file");
        }
    }
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "first release"]);
}

/// Edits `file` of the app repository with `edit` and commits it.
fn commit_change(repo: &Path, file: &str, message: &str, edit: impl Fn(String) -> String) {
    let path = repo.join(file);
    let text = std::fs::read_to_string(&path).expect("read app file");
    let changed = edit(text.clone());
    assert_ne!(text, changed, "the edit of {file} changed nothing");
    write(&path, &changed);
    git(repo, &["commit", "-q", "-a", "-m", message]);
}

/// Sets the app's VERSION constant.
fn set_version(text: String, version: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("VERSION = ") {
                format!("VERSION = \"{version}\"")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The example's machines, booted, with its inventory (app.repo pointing at `repo`) and secrets
/// in the fleet's directory. The inventory logs in as `admin`, as the example's does.
fn boot_example() -> (Fleet, PathBuf) {
    let inventory = webapp_example().join("dm.toml");
    let fleet = boot(
        Fleet::from_inventory(&inventory, Some("dev"))
            .unwrap_or_else(|e| panic!("the example's inventory: {e}"))
            .user("admin"),
    );
    let names: Vec<&str> = fleet.machines().iter().map(Machine::name).collect();
    assert_eq!(names, ["appnode1", "appnode2", "db1", "lb1"]);

    let repo = fleet.dir().join("app-repo");
    make_app_repo(&repo);
    let text = fleet.inventory_toml();
    let repo_value = format!("\"{}\"", repo.display());
    assert!(text.contains("\"build/app\""), "{text}");
    write(
        &fleet.inventory_path(),
        &text.replace("\"build/app\"", &repo_value),
    );
    let secrets = fleet.dir().join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    for file in ["dev.age", "dev.recipients"] {
        std::fs::copy(
            webapp_example().join("secrets").join(file),
            secrets.join(file),
        )
        .expect("copy the example's secrets");
    }
    (fleet, repo)
}

/// The example fabfile's command line (dm's standard tasks) with the example's dev key.
fn dm(fleet: &Fleet, args: &[&str]) -> Dm {
    let key = webapp_example().join("secrets/dev.key");
    Dm::new(fleet)
        .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
        .args(args)
}

/// Runs `args` with `--json`, asserting success; returns the report.
fn run_ok(fleet: &Fleet, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = dm(fleet, &all).run();
    run.assert_success();
    run.json()
}

/// How many operations of a `--json` report changed something.
fn changed(report: &serde_json::Value) -> u64 {
    report["operations"]["changed"]
        .as_u64()
        .unwrap_or_else(|| panic!("no operations.changed in the report:\n{report:#}"))
}

/// Operations that changed something, as `host: operation`, for failure messages.
fn changed_ops(report: &serde_json::Value) -> Vec<String> {
    let mut list = Vec::new();
    for host in report["hosts"].as_array().into_iter().flatten() {
        for op in host["operations"].as_array().into_iter().flatten() {
            if op["status"] == "changed" {
                list.push(format!("{}: {}", host["host"], op["name"]));
            }
        }
    }
    list
}

/// Each host's SSH round trips in a `--json` report, as `(host, round trips)`.
fn round_trips_by_host(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let name = h["host"].as_str().unwrap_or_default().to_string();
            (name, h["round_trips"].as_u64().unwrap_or(u64::MAX))
        })
        .collect()
}

/// The README's claim for a no-change rerun, counted instead of timed (how long it takes
/// belongs to BENCHMARKS.md): every server of the run costs at most `most` SSH round trips.
fn assert_round_trips_at_most(report: &serde_json::Value, most: u64, what: &str) {
    let trips = round_trips_by_host(report);
    assert!(
        !trips.is_empty() && trips.iter().all(|(_, n)| *n <= most),
        "{what}: more than {most} round trips on a server: {trips:?}"
    );
}

/// `count` requests of `path` through the load balancer: `status body` of each.
fn through_lb(fleet: &Fleet, path: &str, count: usize) -> Vec<String> {
    let lb = fleet.machine("lb1");
    (0..count)
        .map(|_| match lb.http_get(80, path) {
            Ok(page) => format!("{} {}", page.status, page.body.trim()),
            Err(e) => format!("error {e}"),
        })
        .collect()
}

/// Waits (up to a minute) until 10 requests of `path` through the load balancer all answer
/// `200 want`; panics with the last answers otherwise.
fn wait_for_lb(fleet: &Fleet, path: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected = format!("200 {want}");
    loop {
        let answers = through_lb(fleet, path, 10);
        if answers.iter().all(|a| *a == expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the load balancer does not answer {expected:?} on {path}: {answers:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn first_deployment_of_the_example() {
    let (fleet, repo) = boot_example();

    // Bare servers to a running web stack.
    let start = Instant::now();
    let provision = dm(&fleet, &["provision"]).run();
    provision.assert_success();
    let provisioned = start.elapsed();
    let launch = dm(&fleet, &["launch"]).run();
    launch.assert_success();
    let total = start.elapsed();
    eprintln!(
        "first deployment of 4 servers: provision {:.1} s + launch {:.1} s = {:.1} s wall time",
        provisioned.as_secs_f64(),
        (total - provisioned).as_secs_f64(),
        total.as_secs_f64()
    );
    println!("first deployment wall time: {:.1} s", total.as_secs_f64());
    let secret = std::process::Command::new(fabfile_bin())
        .current_dir(fleet.dir())
        .env("HOME", fleet.dir())
        .env("DM_AGE_IDENTITY", webapp_example().join("secrets/dev.key"))
        .args(["secrets", "show", "dev", "postgres_password"])
        .output()
        .expect("secrets show");
    let password = String::from_utf8_lossy(&secret.stdout).trim().to_string();
    assert!(
        password.len() >= 8,
        "the example's dev secret: {password:?}"
    );
    for run in [&provision, &launch] {
        assert!(
            !run.stdout().contains(&password) && !run.stderr().contains(&password),
            "the postgres password was printed:\n{}",
            run.describe()
        );
    }

    // Both app nodes answer through the load balancer, each with the value from postgres.
    let answers = through_lb(&fleet, "/", 20);
    let mut served_by = BTreeSet::new();
    for answer in &answers {
        let body = answer
            .strip_prefix("200 served by ")
            .unwrap_or_else(|| panic!("unexpected answer through the load balancer: {answers:#?}"));
        let (host, value) = body.split_once(": ").expect("`host: value`");
        assert_eq!(value, "hello from postgres", "{answers:#?}");
        served_by.insert(host.to_string());
    }
    assert_eq!(
        served_by,
        BTreeSet::from(["appnode1".to_string(), "appnode2".to_string()]),
        "{answers:#?}"
    );

    // Root and password logins are refused; the administrator gets in and has sudo.
    for machine in fleet.machines() {
        let root = machine.exec("true").expect("ssh runs");
        assert_eq!(
            root.status.code(),
            Some(255),
            "root logs in to {}",
            machine.name()
        );
        let password = password_login(&fleet, machine, "deploy");
        assert!(
            String::from_utf8_lossy(&password.stderr).contains("Permission denied (publickey)"),
            "{} offers more than public keys: {}",
            machine.name(),
            String::from_utf8_lossy(&password.stderr)
        );
        let admin = machine
            .exec_as("admin", "sudo -n id -un")
            .expect("ssh runs");
        assert_eq!(
            String::from_utf8_lossy(&admin.stdout).trim(),
            "root",
            "admin on {}: {}",
            machine.name(),
            String::from_utf8_lossy(&admin.stderr)
        );
    }

    // Nothing to do the second time.
    let again = run_ok(&fleet, &["provision"]);
    assert_eq!(
        changed(&again),
        0,
        "provision again: {:#?}",
        changed_ops(&again)
    );
    assert_round_trips_at_most(&again, 4, "provision again");
    let again = run_ok(&fleet, &["launch"]);
    assert_eq!(
        changed(&again),
        0,
        "launch again: {:#?}",
        changed_ops(&again)
    );
    assert_round_trips_at_most(&again, 6, "launch again");

    // A new commit goes live through the load balancer; rollback brings the old one back.
    wait_for_lb(&fleet, "/version", "1");
    commit_change(&repo, "app.py", "version 2", |t| set_version(t, "2"));
    dm(&fleet, &["deploy"]).run().assert_success();
    wait_for_lb(&fleet, "/version", "2");
    dm(&fleet, &["rollback"]).run().assert_success();
    wait_for_lb(&fleet, "/version", "1");

    // A build that fails never goes live.
    commit_change(&repo, "requirements.txt", "a requirement nobody has", |t| {
        t + "no-such-package-for-dm-tests\n"
    });
    commit_change(&repo, "app.py", "version 3", |t| set_version(t, "3"));
    let failed = dm(&fleet, &["deploy"]).run();
    failed.assert_code(1);
    failed.assert_output_contains("no-such-package-for-dm-tests");
    wait_for_lb(&fleet, "/version", "1");

    // Two deploys at once: one is refused, never both run.
    commit_change(&repo, "requirements.txt", "requirements fixed", |t| {
        t.replace("no-such-package-for-dm-tests\n", "")
    });
    commit_change(&repo, "app.py", "version 4", |t| set_version(t, "4"));
    let first = dm(&fleet, &["-H", "appnode1", "deploy"]).spawn();
    let second = dm(&fleet, &["-H", "appnode1", "deploy"]).spawn();
    let outputs = [first, second].map(|child| child.wait_with_output().expect("deploy ends"));
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    let refused: Vec<&std::process::Output> = outputs
        .iter()
        .filter(|o| {
            String::from_utf8_lossy(&o.stdout).contains("another deploy is running")
                || String::from_utf8_lossy(&o.stderr).contains("another deploy is running")
        })
        .collect();
    let describe = || {
        outputs
            .iter()
            .map(|o| {
                format!(
                    "{}\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert_eq!(succeeded, 1, "exactly one deploy succeeds:\n{}", describe());
    assert_eq!(refused.len(), 1, "the other is refused:\n{}", describe());
    let app1 = fleet.machine("appnode1");
    let version = app1
        .exec_as(
            "admin",
            &format!("curl -fsS http://{}:8000/version", app1.address()),
        )
        .expect("ssh runs");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "4");

    // The example's own tasks: a new greeting in the database, seen through the load balancer
    // and by each app node.
    let seeded = fleet.dm_ok(["--json", "seed", "--greeting", "hello from the seed task"]);
    assert_eq!(seeded.hosts.len(), 1, "seed runs once");
    let answers = through_lb(&fleet, "/", 10);
    for answer in &answers {
        assert!(
            answer.ends_with(": hello from the seed task") && answer.starts_with("200 served by "),
            "{answers:#?}"
        );
    }
    let status = fleet.dm_ok(["--json", "status"]);
    for host in &status.hosts {
        let lines: Vec<&str> = host.output.iter().map(|l| l.line.as_str()).collect();
        assert!(
            lines.contains(&format!("served by {}: hello from the seed task", host.host).as_str()),
            "{}: {lines:?}",
            host.host
        );
    }
    assert_eq!(status.hosts.len(), 2);
}
