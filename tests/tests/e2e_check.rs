//! `--check` never acts: commands, sudo commands, uploads, downloads and commands on the
//! controller that the task did not mark read-only (`check_safe`) do not run; each is reported
//! (live, in the summary and in `--json`), and the host and the controller are unchanged, checked
//! from outside. The standard library's probes still run, so `--check launch` plans on a fresh
//! fleet without changing it.

use std::time::Duration;

use dm_tests::*;

use crate::ops_support::{files_newer_than, fs_fingerprint};

/// Every dm run of these tests ends within this.
const DEADLINE: Duration = Duration::from_secs(300);

/// Whether `path` exists on the machine, asked from outside (the harness's own connection).
fn exists(machine: &dm::testing::Machine, path: &str) -> bool {
    machine
        .exec_ok(&format!("test -e {path} && echo yes || echo no"))
        .trim()
        == "yes"
}

#[test]
fn check_run_sudo_touch_creates_nothing_and_says_so() {
    let fleet = fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let run = Dm::new(&fleet)
        .args(["--check", "-H", "app1", "run", "--sudo", "touch /root/x"])
        .run_within(DEADLINE);
    run.assert_success();
    assert!(!exists(m, "/root/x"), "--check ran the command");
    assert_eq!(
        run.host_lines("app1"),
        ["not run (--check): touch /root/x"],
        "{}",
        run.describe()
    );
    assert!(
        run.stderr().contains("--check: 1 command not run"),
        "the summary counts it:\n{}",
        run.describe()
    );

    let run = Dm::new(&fleet)
        .args(["--json", "--check", "-H", "app1", "run", "touch /root/x"])
        .run_within(DEADLINE);
    run.assert_success();
    let json = run.json();
    assert_eq!(json["skipped_commands"], 1, "{json:#}");
    assert_eq!(
        json["hosts"][0]["skipped_commands"],
        serde_json::json!(["touch /root/x"]),
        "{json:#}"
    );
    assert!(!exists(m, "/root/x"));

    // Without --check the same command acts (so the checks above could fail).
    Dm::new(&fleet)
        .args(["-H", "app1", "run", "--sudo", "touch /root/x"])
        .run_within(DEADLINE)
        .assert_success();
    assert!(exists(m, "/root/x"));
}

#[test]
fn check_mode_keeps_commands_and_transfers_from_acting_and_runs_read_only_probes() {
    let fleet = fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let local = fleet.dir().join("controller");
    std::fs::create_dir_all(&local).expect("local dir");
    let dir = local.to_str().expect("utf8").to_string();
    m.exec_ok("touch /root/.dm-check-stamp; sleep 1");
    let before = fs_fingerprint(m);

    let run = Dm::new(&fleet)
        .args(["--check", "-H", "app1", "check-effects", &dir])
        .run_within(DEADLINE);
    run.assert_success();
    let lines = run.host_lines("app1");
    assert!(
        lines.contains(&"probe=app1 skipped=false".to_string()),
        "a check_safe probe runs: {}",
        run.describe()
    );
    assert!(
        lines.contains(&"run skipped=true success=true stdout=\"\"".to_string()),
        "{}",
        run.describe()
    );
    assert!(lines.contains(&"downloaded=0".to_string()), "{lines:?}");
    for what in [
        "not run (--check): touch /root/check-run && echo made",
        "not run (--check): touch /root/check-sudo",
        "not run (--check): upload /root/check-put",
        &format!("not run (--check): download /etc/hostname to {dir}/hostname-app1"),
    ] {
        assert!(
            lines.contains(&what.to_string()),
            "{what}:\n{}",
            run.describe()
        );
    }
    assert!(
        lines.iter().any(
            |l| l.starts_with("not run (--check): (on this machine) touch ")
                && l.contains("local-app1")
        ),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr().contains("5 commands not run (--check)"),
        "{}",
        run.describe()
    );

    // Nothing changed, on the host and on the controller.
    assert_eq!(fs_fingerprint(m), before, "--check changed the host");
    assert_eq!(files_newer_than(m, "/root/.dm-check-stamp").trim(), "");
    let written: Vec<_> = std::fs::read_dir(&local)
        .expect("local dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(written.is_empty(), "--check wrote locally: {written:?}");

    // The same task without --check does all of it.
    Dm::new(&fleet)
        .args(["-H", "app1", "check-effects", &dir])
        .run_within(DEADLINE)
        .assert_success();
    for path in ["/root/check-run", "/root/check-sudo", "/root/check-put"] {
        assert!(exists(m, path), "{path}");
    }
    assert!(local.join("hostname-app1").exists() && local.join("local-app1").exists());
}

#[test]
fn check_launch_on_a_fresh_fleet_plans_and_changes_nothing() {
    use crate::std_launch::{example_dir, example_vars, make_app_repo};
    let fleet = boot(
        dm::testing::Fleet::builder()
            .machine("lb1", &["loadbalancer"])
            .machine("appnode1", &["appnode"])
            .machine("db1", &["dbserver"])
            .environment("dev"),
    );
    let repo = fleet.dir().join("app-repo");
    make_app_repo(&repo);
    let vars = example_vars().replace("\"build/app\"", &format!("\"{}\"", repo.display()));
    write(
        &fleet.inventory_path(),
        &format!("{}\n{vars}", fleet.inventory_toml()),
    );
    let secrets = fleet.dir().join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    for file in ["dev.age", "dev.recipients"] {
        std::fs::copy(example_dir().join("secrets").join(file), secrets.join(file))
            .expect("copy the example's secrets");
    }
    let key = example_dir().join("secrets/dev.key");
    let names = ["lb1", "appnode1", "db1"];
    let before: Vec<String> = names
        .iter()
        .map(|n| {
            let m = fleet.machine(n);
            m.exec_ok("touch /root/.dm-check-stamp; sleep 1");
            fs_fingerprint(m)
        })
        .collect();

    let run = Dm::new(&fleet)
        .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
        .args(["--json", "--check", "launch"])
        .run_within(DEADLINE);
    run.assert_success();
    let json = run.json();
    assert!(
        json["operations"]["would_change"].as_u64().unwrap_or(0) > 0,
        "a fresh fleet has everything to do: {json:#}"
    );
    // The standard library's read-only probes ran: the app node knows it has no release yet.
    let said: Vec<&str> = json["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["host"] == "appnode1")
        .flat_map(|h| h["output"].as_array().into_iter().flatten())
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert!(
        said.contains(&"check mode: would make the first deploy of the app: branch main"),
        "{said:?}"
    );
    for (name, before) in names.iter().zip(&before) {
        let m = fleet.machine(name);
        assert_eq!(&fs_fingerprint(m), before, "--check launch changed {name}");
        // apt's binary caches are rebuilt by any apt query (the package facts): a cache, not
        // a change.
        let newer = files_newer_than(m, "/root/.dm-check-stamp");
        let changed: Vec<&str> = newer
            .lines()
            .filter(|p| !p.is_empty() && !p.starts_with("/var/cache/apt"))
            .collect();
        assert!(
            changed.is_empty(),
            "--check launch wrote on {name}: {changed:?}"
        );
        assert!(
            !m.is_active("nginx") && !m.is_active("supervisor"),
            "{name}"
        );
    }
}

#[test]
fn check_boot_scale_and_destroy_boot_and_destroy_nothing() {
    dm::tasks::link();
    let project = dm::testing::LocalProject::new()
        .unwrap_or_else(|e| panic!("cannot create a local project: {e}"));
    project.write_inventory("").expect("inventory");
    let dm = |args: &[&str]| Dm::in_dir(project.dir()).args(args).run_within(DEADLINE);

    let run = dm(&["--check", "boot", "appnode1"]);
    run.assert_success();
    assert!(
        run.stdout()
            .contains("check mode: appnode1: would boot it with provider local"),
        "{}",
        run.describe()
    );
    assert_eq!(project.machines().expect("machines"), []);
    assert!(
        !project.state_path().exists(),
        "--check boot wrote the state file"
    );

    dm(&["boot", "appnode1"]).assert_success();
    assert_eq!(project.machines().expect("machines").len(), 1);
    let state = std::fs::read_to_string(project.state_path()).expect("state file");

    let run = dm(&["--check", "scale", "appnode=2"]);
    run.assert_success();
    run.assert_output_contains("check mode: appnode: would boot appnode2");
    let run = dm(&["--check", "scale", "appnode=0"]);
    run.assert_success();
    run.assert_output_contains("would take appnode1 out of the load balancers, drain and destroy");
    let run = dm(&["--check", "destroy", "appnode1"]);
    run.assert_success();
    run.assert_output_contains("check mode: appnode1: would destroy it");

    let machines = project.machines().expect("machines");
    assert_eq!(machines.len(), 1, "{machines:?}");
    assert_eq!(machines[0].name, "appnode1");
    assert_eq!(
        std::fs::read_to_string(project.state_path()).expect("state file"),
        state,
        "--check changed the state file"
    );
}

#[test]
fn diff_shows_nginx_configs_as_unified_diffs_with_secrets_masked() {
    let fleet = boot(
        dm::testing::Fleet::builder()
            .machine("web1", &[])
            .environment("dev"),
    );
    let token = "tok-8c1f0a9e7d";
    let key = init_secrets(fleet.dir(), "dev");
    set_secret(fleet.dir(), &key, "dev", "api_token", token);
    let dm = |args: &[&str]| {
        Dm::new(&fleet)
            .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
            .args(args)
            .run_within(DEADLINE)
    };
    dm(&["-H", "web1", "nginx-secret-site", "8083"]).assert_success();
    let web1 = fleet.machine("web1");
    let live = web1.exec_ok("cat /etc/nginx/sites-enabled/secret.conf");
    assert!(live.contains(token), "the site holds the secret: {live}");

    let run = dm(&[
        "--check",
        "--diff",
        "-H",
        "web1",
        "nginx-secret-site",
        "8084",
    ]);
    run.assert_success();
    let lines = run.host_lines("web1");
    let expected = [
        "--- a/etc/nginx/sites-enabled/secret.conf",
        "+++ b/etc/nginx/sites-enabled/secret.conf",
        "     # token ********",
        "-    listen 8083;",
        "+    listen 8084;",
    ];
    for line in expected {
        assert!(
            lines.iter().any(|l| l == line),
            "--diff shows {line:?}:\n{}",
            run.describe()
        );
    }
    assert!(!run.stdout().contains(token) && !run.stderr().contains(token));

    let run = dm(&[
        "--json",
        "--check",
        "--diff",
        "-H",
        "web1",
        "nginx-secret-site",
        "8084",
    ]);
    run.assert_success();
    let json = run.json();
    let ops = json["hosts"][0]["operations"]
        .as_array()
        .expect("operations");
    let nginx = ops
        .iter()
        .find(|op| {
            op["name"]
                .as_str()
                .is_some_and(|n| n.contains("secret.conf"))
        })
        .unwrap_or_else(|| panic!("the site's operation: {json:#}"));
    let diff = nginx["diff"].as_str().unwrap_or_default();
    assert!(
        diff.contains("-    listen 8083;\n+    listen 8084;\n")
            && diff.contains("# token ********"),
        "{json:#}"
    );
    assert!(
        !run.stdout().contains(token),
        "the secret leaked into --json"
    );
    assert!(
        web1.exec_ok("cat /etc/nginx/sites-enabled/secret.conf")
            .contains("listen 8083;")
    );
}

#[test]
fn check_deploy_unlock_says_who_holds_the_lock_and_leaves_it() {
    let fleet = fleet(&[("app1", &["appnode"])]);
    let text = format!("{}\n[vars.app]\nname = \"shop\"\n", fleet.inventory_toml());
    write(&fleet.inventory_path(), &text);
    let m = fleet.machine("app1");
    m.exec_ok(
        "mkdir -p /srv/shop/.deploy-lock && \
         printf 'owner=ci@build\\ntask=deploy\\npid=4242\\nsince=1700000000\\n' > /srv/shop/.deploy-lock/info",
    );
    let run = Dm::new(&fleet)
        .args(["--check", "-H", "app1", "deploy-unlock"])
        .run_within(DEADLINE);
    run.assert_success();
    run.assert_output_contains(
        "check mode: would break the deploy lock held by ci@build (deploy, pid 4242)",
    );
    assert!(
        exists(m, "/srv/shop/.deploy-lock/info"),
        "--check broke the lock"
    );

    Dm::new(&fleet)
        .args(["-H", "app1", "deploy-unlock"])
        .run_within(DEADLINE)
        .assert_success()
        .assert_output_contains("broke the deploy lock held by ci@build");
    assert!(!exists(m, "/srv/shop/.deploy-lock"));
}
