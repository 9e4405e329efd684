//! The webapp fabfile tested against real local machines with `dm::testing`, the way you would
//! test your own fabfile: two machines with the example's roles, vars and dev secrets, its tasks
//! run in-process (`launch`, then `deploy` of a new commit of the sample app, then the example's
//! own `seed` and `status`), and the app checked from outside, through the load balancer.
//!
//! Run as root: `sudo -E cargo test -p webapp`.
//!
//! Two machines instead of the inventory's four keep it fast: `lb1` is both the load balancer and
//! the database server, `appnode1` the only app node. `provision` is left out: test machines
//! accept root logins, which is all `launch` needs. (dm's own
//! `tests/tests/first_deployment.rs` does the README's whole first deployment, provision
//! included, on the inventory's four servers.)

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use dm::testing::{Fleet, Machine};
// Links the fabfile's tasks (src/lib.rs: `seed`, `status`) into this test binary, with dm's
// standard tasks (`launch`, `deploy`) that they build on.
use webapp as _;

/// What the sample app answers on `/` before anyone changes the greeting (app/db.py).
const DEFAULT_GREETING: &str = "hello from postgres";

/// A file of this example (the test binary may run from any directory).
fn example_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Gives dm the example's development key, as the README's `export DM_AGE_IDENTITY=secrets/dev.key`
/// does: `launch` decrypts the postgres password from `secrets/dev.age` with it.
fn use_dev_key() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: changing the environment is unsound only while another thread reads it. This
        // runs first thing in the test, before it boots machines or runs dm (the threads that
        // read the environment), and this binary has a single test.
        unsafe { std::env::set_var("DM_AGE_IDENTITY", example_file("secrets/dev.key")) };
    });
}

/// The example's vars (`[vars.*]` of its dm.toml: the app and postgres settings), with the app's
/// repository (`app.repo`) at `repo`.
fn example_vars(repo: &Path) -> toml::Table {
    let path = example_file("dm.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut inventory: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(toml::Value::Table(mut vars)) = inventory.remove("vars") else {
        panic!("{}: no [vars] table", path.display());
    };
    let app = vars
        .get_mut("app")
        .and_then(toml::Value::as_table_mut)
        .unwrap_or_else(|| panic!("{}: no [vars.app] table", path.display()));
    assert!(app.contains_key("repo"), "{}: no app.repo", path.display());
    app.insert("repo".into(), repo.display().to_string().into());
    vars
}

/// Runs git in `repo`, panicking with its output when it fails; returns its stdout.
fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=webapp test",
            "-c",
            "user.email=test@webapp.invalid",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Makes `repo` the sample app's git repository (branch main, one commit of app/), as the
/// README's step 1 does with `build/app`.
fn make_app_repo(repo: &Path) {
    for entry in std::fs::read_dir(example_file("app")).expect("the example's app/") {
        let entry = entry.expect("an entry of app/");
        if entry.file_type().expect("its type").is_file() {
            std::fs::copy(entry.path(), repo.join(entry.file_name())).expect("copy an app file");
        }
    }
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "first release"]);
}

/// Commits a new version of the app (its `VERSION` constant, which `/version` answers) and
/// returns the commit.
fn commit_version(repo: &Path, version: &str) -> String {
    let path = repo.join("app.py");
    let text = std::fs::read_to_string(&path).expect("read app.py");
    let changed: String = text
        .lines()
        .map(|line| {
            if line.starts_with("VERSION = ") {
                format!("VERSION = \"{version}\"\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_ne!(text, changed, "app.py has no `VERSION = ` line");
    std::fs::write(&path, changed).expect("write app.py");
    git(
        repo,
        &["commit", "-q", "-a", "-m", &format!("version {version}")],
    );
    git(repo, &["rev-parse", "HEAD"])
}

/// Copies the example's dev secrets next to the fleet's inventory, where dm looks for them
/// (`secrets/dev.age` beside `dm.toml`).
fn copy_dev_secrets(fleet: &Fleet) {
    let secrets = fleet.dir().join("secrets");
    std::fs::create_dir_all(&secrets).expect("the fleet's secrets dir");
    for file in ["dev.age", "dev.recipients"] {
        std::fs::copy(example_file("secrets").join(file), secrets.join(file))
            .unwrap_or_else(|e| panic!("copy secrets/{file}: {e}"));
    }
}

/// `count` requests of `path` through the load balancer, each as `STATUS BODY`.
fn through_lb(lb: &Machine, path: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| match lb.http_get(80, path) {
            Ok(page) => format!("{} {}", page.status, page.body.trim()),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

/// Waits (up to a minute: gunicorn takes a moment to start after a launch or deploy) until
/// requests of `path` through the load balancer all answer `200 want`.
fn wait_for_lb(lb: &Machine, path: &str, want: &str) {
    let expected = format!("200 {want}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answers = through_lb(lb, path, 5);
        if answers.iter().all(|a| *a == expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "through the load balancer, {path} does not answer {expected:?}: {answers:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The output lines of every host of a `--json` run, as `host: line`.
fn output_lines(report: &dm::testing::RunReport) -> Vec<String> {
    report
        .hosts
        .iter()
        .flat_map(|h| h.output.iter().map(|l| format!("{}: {}", h.host, l.line)))
        .collect()
}

#[test]
fn launch_then_deploy_serves_the_app_through_the_load_balancer() {
    use_dev_key();
    let repo = tempfile::tempdir().expect("a temp dir for the app's repository");
    make_app_repo(repo.path());
    let mut builder = Fleet::builder()
        .machine("lb1", &["loadbalancer", "dbserver"])
        .machine("appnode1", &["appnode"])
        // The environment whose secrets (secrets/dev.age) hold the postgres password.
        .environment("dev");
    for (key, value) in example_vars(repo.path()) {
        builder = builder.global_var(&key, value);
    }
    let fleet = builder
        .boot()
        .unwrap_or_else(|e| panic!("cannot boot test machines: {e}"));
    let footprint = fleet.footprint();
    copy_dev_secrets(&fleet);
    let (lb, app) = (fleet.machine("lb1"), fleet.machine("appnode1"));

    // Bare machines to the running stack: postgres and nginx on lb1, the app on appnode1.
    let launched = fleet.dm_ok(["--json", "launch"]);
    assert_eq!(launched.counts.ok, 2, "{:#?}", output_lines(&launched));
    assert!(lb.is_active("postgresql@15-main"), "postgres runs on lb1");
    assert!(lb.is_active("nginx"), "nginx runs on lb1");
    assert!(app.is_active("supervisor"), "supervisor runs on appnode1");
    assert!(!app.is_active("nginx"), "appnode1 is no load balancer");
    // The app node reaches postgres on lb1 with the password from the dev secrets, which dm
    // never prints (it redacts every secret value).
    let service = app.read_file("/srv/webapp/.pg_service.conf");
    assert!(
        service.contains(&format!("\nhost={}\n", lb.address())),
        "{service}"
    );
    let password = service
        .lines()
        .find_map(|line| line.strip_prefix("password="))
        .unwrap_or_else(|| panic!("no password in the libpq service file:\n{service}"));
    assert!(password.len() >= 8, "the dev secret: {password:?}");
    let printed = output_lines(&launched);
    assert!(
        !printed.iter().any(|line| line.contains(password)),
        "launch printed the postgres password"
    );

    // Every answer through the load balancer comes from the app node, with the value from
    // postgres on lb1.
    wait_for_lb(lb, "/", &format!("served by appnode1: {DEFAULT_GREETING}"));
    let page = lb.http_get(80, "/").expect("the load balancer answers");
    assert!(
        page.header("server")
            .is_some_and(|s| s.starts_with("nginx")),
        "{page:?}"
    );
    wait_for_lb(lb, "/version", "1");

    // A new commit of the app, deployed: the app node runs it, the load balancer serves it.
    let commit = commit_version(repo.path(), "2");
    let deployed = fleet.dm_ok(["--json", "deploy"]);
    // deploy runs once on this machine and goes through the app nodes one at a time, each
    // drained at the load balancer (which it also locks): the app nodes and the load balancer,
    // plus the local orchestration; the report has one entry per host.
    let hosts: Vec<&str> = deployed.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(
        hosts,
        ["local", "appnode1", "lb1"],
        "deploy reaches the app nodes and their load balancer only"
    );
    let lines = output_lines(&deployed);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("deployed commit {commit}"))),
        "{lines:#?}"
    );
    assert_eq!(app.read_file("/srv/webapp/current/REVISION").trim(), commit);
    wait_for_lb(lb, "/version", "2");
    wait_for_lb(lb, "/", &format!("served by appnode1: {DEFAULT_GREETING}"));

    // The example's own tasks: `seed` stores a new greeting, which every page then carries, and
    // `status` asks the app node directly.
    let seeded = fleet.dm_ok(["--json", "seed", "--greeting", "hello from the test"]);
    assert_eq!(seeded.hosts.len(), 1, "seed runs once");
    wait_for_lb(lb, "/", "served by appnode1: hello from the test");
    let status = fleet.dm_ok(["--json", "status"]);
    let lines = output_lines(&status);
    assert!(
        lines.contains(&"appnode1: served by appnode1: hello from the test".to_string()),
        "{lines:#?}"
    );

    // Dropping the fleet removes every trace of it from this machine.
    drop(fleet);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}
