//! The public testing API (`dm::testing`) as a fabfile's tests use it: fleets declared with vars
//! or loaded from an inventory, tasks run in-process, machines inspected from outside, parallel
//! fleets, teardown after a failing test, and the message when machines cannot be booted.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Barrier;

use dm::prelude::*;
use dm::testing::{Error, Fleet, Footprint, RunReport};
use dm_tests::boot;

/// Write `text` to /root/note.
#[task]
async fn note(ctx: &Ctx, text: String) -> Result<()> {
    ctx.run(format!("echo {} > /root/note", shell_quote(&text)))
        .await?;
    Ok(())
}

/// Print the environment, roles and vars this host sees.
#[task]
async fn show_vars(ctx: &Ctx) -> Result<()> {
    let var = |key: &str| match ctx.vars().get(key) {
        Some(value) => value.to_string(),
        None => "-".to_string(),
    };
    ctx.log(format!(
        "env={} roles={} app={} port={} weight={} tier={}",
        ctx.inventory().environment().unwrap_or("-"),
        ctx.host().roles.join(","),
        var("app"),
        var("port"),
        var("weight"),
        var("tier"),
    ));
    Ok(())
}

/// Fail on every host.
#[task]
async fn fail_here(ctx: &Ctx) -> Result<()> {
    ctx.run("echo failing on purpose >&2; exit 3").await?;
    Ok(())
}

/// The `show-vars` line of each host of a `--json` run, by host name.
fn shown(report: &RunReport) -> Vec<(String, String)> {
    report
        .hosts
        .iter()
        .map(|h| {
            let line = h
                .output
                .iter()
                .find(|l| l.line.starts_with("env="))
                .unwrap_or_else(|| panic!("no show-vars line for {}: {report:?}", h.host));
            (h.host.clone(), line.line.clone())
        })
        .collect()
}

/// An inventory written for real servers elsewhere: other addresses, user, port and a proxy jump,
/// none of which the test machines use. Its addresses are never contacted.
const INVENTORY: &str = r#"
default_environment = "dev"

[defaults]
user = "deploy"
port = 2222

[vars]
app = "shop"

[servers.lb1]
address = "10.231.0.10"
roles = ["loadbalancer"]

[servers.appnode1]
address = "10.231.0.11"
vars = { weight = 2 }

[servers.appnode2]
address = "10.231.0.12"
proxy_jump = "lb1"

[servers.db1]
address = "10.231.0.13"

[roles.appnode]
vars = { port = 8000 }

[environments.dev]
servers = ["appnode1"]

[environments.staging]
servers = ["lb1", "appnode1", "appnode2"]
vars = { tier = "staging" }
"#;

fn write_inventory(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("dm.toml");
    std::fs::write(&path, INVENTORY).unwrap();
    path
}

#[test]
fn a_fleet_from_the_inventory_has_its_servers_roles_vars_and_environment() {
    let scratch = tempfile::tempdir().unwrap();
    let path = write_inventory(scratch.path());
    let fleet = Fleet::from_inventory(&path, Some("staging"))
        .unwrap()
        .boot()
        .unwrap();
    let names: Vec<&str> = fleet.machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["appnode1", "appnode2", "lb1"]);
    assert_eq!(fleet.environment(), Some("staging"));
    assert_eq!(fleet.machine("appnode2").roles(), ["appnode".to_string()]);
    assert_eq!(
        fleet.machine("appnode1").exec_ok("hostname").trim(),
        "appnode1"
    );

    // No selection: every server of the (default) environment, reached at the local machines.
    let report = fleet.dm_ok(["--json", "show-vars"]);
    assert_eq!(
        shown(&report),
        [
            (
                "appnode1".to_string(),
                "env=staging roles=appnode app=\"shop\" port=8000 weight=2 tier=\"staging\""
                    .to_string()
            ),
            (
                "appnode2".to_string(),
                "env=staging roles=appnode app=\"shop\" port=8000 weight=- tier=\"staging\""
                    .to_string()
            ),
            (
                "lb1".to_string(),
                "env=staging roles=loadbalancer app=\"shop\" port=- weight=- tier=\"staging\""
                    .to_string()
            ),
        ]
    );
    // Roles and -E work as against the real inventory.
    let report = fleet.dm_ok(["-E", "staging", "-R", "appnode", "note", "hello"]);
    assert_eq!(report.counts.ok, 2);
    assert_eq!(fleet.machine("appnode2").read_file("/root/note"), "hello\n");
    assert!(
        fleet
            .machine("lb1")
            .exec("test -e /root/note")
            .unwrap()
            .status
            .code()
            == Some(1)
    );

    // Without an environment: the inventory's default one.
    let dev = Fleet::from_inventory(&path, None).unwrap().boot().unwrap();
    let names: Vec<&str> = dev.machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["appnode1"]);
    assert_eq!(dev.environment(), Some("dev"));
}

#[test]
fn a_broken_or_unknown_inventory_environment_is_refused_with_the_inventory_s_message() {
    let scratch = tempfile::tempdir().unwrap();
    let path = write_inventory(scratch.path());
    let unknown = Fleet::from_inventory(&path, Some("prod")).unwrap_err();
    let message = unknown.to_string();
    assert!(message.contains("unknown environment `prod`"), "{message}");
    assert!(message.contains("dev, staging"), "{message}");
    std::fs::write(&path, "[servers.app1]\nadress = \"10.231.0.11\"\n").unwrap();
    let message = Fleet::from_inventory(&path, None).unwrap_err().to_string();
    assert!(message.contains("dm.toml:2:1"), "{message}");
    assert!(message.contains("adress"), "{message}");
    std::fs::write(
        &path,
        "[servers.app1]\n[environments.empty]\nservers = []\n",
    )
    .unwrap();
    let message = Fleet::from_inventory(&path, Some("empty"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("has no servers in environment `empty`"),
        "{message}"
    );
}

#[test]
fn declared_vars_and_environment_reach_the_tasks() {
    let fleet = Fleet::builder()
        .machine("app1", &[])
        .machine("lb1", &["loadbalancer"])
        .var("app1", "port", 8000)
        .vars("app1", [("weight", 3)])
        .global_var("app", "shop")
        .environment("ci")
        .boot()
        .unwrap();
    assert_eq!(fleet.machine("app1").vars().get("port"), Some(&8000.into()));
    let report = fleet.dm_ok(["--json", "show-vars"]);
    assert_eq!(
        shown(&report),
        [
            (
                "app1".to_string(),
                "env=ci roles=app app=\"shop\" port=8000 weight=3 tier=-".to_string()
            ),
            (
                "lb1".to_string(),
                "env=ci roles=loadbalancer app=\"shop\" port=- weight=- tier=-".to_string()
            ),
        ]
    );
    let inventory = std::fs::read_to_string(fleet.inventory_path()).unwrap();
    assert_eq!(inventory, fleet.inventory_toml());
}

#[test]
fn a_var_for_an_undeclared_machine_is_refused_before_booting() {
    let error = Fleet::builder()
        .machine("app1", &[])
        .var("ghost", "port", 1)
        .boot()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidFleet(_)));
    assert!(
        error
            .to_string()
            .contains("\"ghost\", which is not declared")
    );
}

#[test]
fn in_process_runs_report_failures_and_refuse_what_cannot_run() {
    let fleet = Fleet::builder().machine("web1", &["web"]).boot().unwrap();
    let report = fleet.dm(["--json", "fail-here"]).unwrap();
    assert!(!report.success);
    assert_eq!((report.counts.ok, report.counts.failed), (0, 1));
    let error = report.hosts[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("exit status 3"), "{error}");
    let output = format!("{:?}", report.hosts[0].output);
    assert!(output.contains("failing on purpose"), "{output}");

    let panic = std::panic::catch_unwind(|| fleet.dm_ok(["--json", "fail-here"])).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("web1: failed:"), "{message}");
    assert!(message.contains("failing on purpose"), "{message}");

    let message = fleet.dm(["no-such-task"]).unwrap_err().to_string();
    assert!(message.contains("no-such-task"), "{message}");
    assert!(message.contains("show-vars"), "{message}");
    assert!(message.contains("as _;"), "{message}");
    let message = fleet
        .dm(["-H", "nowhere", "note", "x"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("unknown host `nowhere`"), "{message}");
    let message = fleet.dm(["--list"]).unwrap_err().to_string();
    assert!(message.contains("--list"), "{message}");
}

#[tokio::test]
async fn in_process_runs_work_from_async_tests() {
    let fleet = Fleet::builder().machine("web1", &["web"]).boot().unwrap();
    let report = fleet.dm_async(["note", "async"]).await.unwrap();
    assert!(report.success, "{report:?}");
    // The blocking form runs on its own thread and runtime, so it works here too.
    let report = fleet.dm(["note", "blocking"]).unwrap();
    assert!(report.success, "{report:?}");
    assert_eq!(fleet.machine("web1").read_file("/root/note"), "blocking\n");
}

#[test]
fn machines_are_inspected_from_outside() {
    let fleet = Fleet::builder().machine("box1", &[]).boot().unwrap();
    let machine = fleet.machine("box1");
    assert!(machine.is_active("ssh"));
    assert!(machine.is_active("ssh.service"));
    assert!(!machine.is_active("no-such-unit"));
    assert_eq!(machine.read_file("/etc/hostname").trim(), "box1");
    let panic = std::panic::catch_unwind(|| machine.read_file("/no/such/file")).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("box1") && message.contains("/no/such/file"),
        "{message}"
    );
    // Nothing listens on port 80: connecting is an error, not a response.
    let refused = machine.http_get(80, "/").unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // An unreachable machine is a panic, never "not active".
    machine.power_off();
    let panic = std::panic::catch_unwind(|| machine.is_active("ssh")).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("ssh failed"), "{message}");
}

#[test]
fn two_fleets_boot_and_run_tasks_from_two_threads_at_once() {
    let ready = Barrier::new(2);
    let fleets: Vec<(Fleet, RunReport)> = std::thread::scope(|scope| {
        let threads: Vec<_> = ["first", "second"]
            .into_iter()
            .map(|tag| {
                let ready = &ready;
                scope.spawn(move || {
                    let fleet = Fleet::builder()
                        .machine("web1", &["web"])
                        .machine("web2", &["web"])
                        .boot()
                        .unwrap();
                    // Both fleets are up: run the tasks at the same time.
                    ready.wait();
                    let report = fleet.dm_ok(["-R", "web", "note", tag]);
                    (fleet, report)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let (first, second) = (&fleets[0].0, &fleets[1].0);
    assert_ne!(first.dir(), second.dir());
    assert_ne!(
        first.machine("web1").address(),
        second.machine("web1").address()
    );
    for ((fleet, report), tag) in fleets.iter().zip(["first", "second"]) {
        assert_eq!(report.counts.ok, 2);
        for machine in fleet.machines() {
            assert_eq!(machine.read_file("/root/note"), format!("{tag}\n"));
        }
    }
}

/// Deletes a network namespace when dropped, also when the test fails.
struct NamespaceGuard(String);

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn the_leftover_check_finds_what_a_fleet_leaks() {
    let fleet = Fleet::builder().machine("leaky", &[]).boot().unwrap();
    let slot = fleet.machine("leaky").address().octets()[2];
    let footprint = fleet.footprint();
    drop(fleet);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
    // A namespace in the fleet's slot that teardown did not remove, as a leak would leave it.
    let leaked = format!("dm{slot}-leaked");
    let guard = NamespaceGuard(leaked.clone());
    let added = Command::new("ip")
        .args(["netns", "add", &leaked])
        .status()
        .unwrap();
    assert!(added.success());
    assert_eq!(
        footprint.leftovers(),
        [format!("network namespace {leaked}")]
    );
    drop(guard);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}

/// Environment variable naming the child test a parent test runs in a separate process.
const CHILD_ENV: &str = "DM_TESTING_API_CHILD";

/// Whether this process was started by a parent test to run `name` (child tests are ignored, and
/// do nothing when run by hand with `--ignored`).
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Runs the ignored test `name` of this binary in a child process, configured by `setup`.
fn run_child(name: &str, setup: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            &format!("testing_api::{name}"),
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name);
    setup(&mut command);
    command.output().unwrap()
}

#[test]
fn a_test_that_fails_on_purpose_leaves_nothing_of_its_fleet_behind() {
    let child = run_child(
        "child_boots_from_an_inventory_runs_a_task_and_fails",
        |_| {},
    );
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    let everything = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert_eq!(child.status.code(), Some(101), "{everything}");
    assert!(
        stderr.contains("this test fails on purpose"),
        "{everything}"
    );
    assert!(!stderr.contains("left something behind"), "{everything}");
    let footprint: Footprint = stdout
        .lines()
        .find_map(|line| {
            line.split_once("FOOTPRINT ")
                .map(|(_, footprint)| footprint)
        })
        .unwrap_or_else(|| panic!("the child printed no footprint:\n{everything}"))
        .parse()
        .unwrap();
    assert!(footprint.process_count() >= 4, "{footprint:?}");
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}

/// Run by [`a_test_that_fails_on_purpose_leaves_nothing_of_its_fleet_behind`] in a child
/// process: a fabfile test that boots from an inventory, runs a task, and fails.
#[test]
#[ignore = "child process of a_test_that_fails_on_purpose_leaves_nothing_of_its_fleet_behind"]
fn child_boots_from_an_inventory_runs_a_task_and_fails() {
    if !is_child("child_boots_from_an_inventory_runs_a_task_and_fails") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let path = write_inventory(scratch.path());
    let fleet = Fleet::from_inventory(&path, Some("staging"))
        .unwrap()
        .boot()
        .unwrap();
    fleet.dm_ok(["-R", "appnode", "note", "before the failure"]);
    let footprint = fleet.footprint();
    // The check sees a live fleet: it does not pass by looking in the wrong places.
    let live = footprint.leftovers();
    assert!(live.len() > 5, "{live:?}");
    // On a line of its own: libtest has written "test NAME ... " without a line break.
    println!("\nFOOTPRINT {footprint}");
    let report = fleet.dm(["fail-here"]).unwrap();
    assert!(report.success, "this test fails on purpose");
}

#[test]
fn without_root_booting_fails_with_one_message_saying_what_is_needed() {
    let nobody = 65534;
    let child = run_child("child_boots_as_an_ordinary_user", |command| {
        command.uid(nobody).gid(nobody).env("HOME", "/nonexistent");
    });
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    let everything = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert_eq!(child.status.code(), Some(101), "{everything}");
    assert_eq!(
        stderr.matches("dm-testing must run as root").count(),
        1,
        "{everything}"
    );
    assert!(
        stderr.contains("effective user id is 65534"),
        "{everything}"
    );
    assert!(stderr.contains("sudo -E cargo test"), "{everything}");
    // The message itself, not a dump of the error's fields.
    assert!(!stderr.contains("NotRoot"), "{everything}");
}

/// Run by [`without_root_booting_fails_with_one_message_saying_what_is_needed`] as an ordinary
/// user: what a fabfile test does, and where it stops.
#[test]
#[ignore = "child process of without_root_booting_fails_with_one_message_saying_what_is_needed"]
fn child_boots_as_an_ordinary_user() {
    if !is_child("child_boots_as_an_ordinary_user") {
        return;
    }
    let fleet = Fleet::builder().machine("never", &[]).boot().unwrap();
    fleet.dm_ok(["note", "unreachable"]);
}

/// Sleeps on every selected host (a run that outlives a short deadline).
#[task]
async fn sleep_long(ctx: &Ctx) -> Result<()> {
    ctx.run("sleep 120").await?;
    Ok(())
}

#[test]
fn an_in_process_run_past_its_deadline_is_an_error_not_a_hang() {
    let fleet = boot(Fleet::builder().machine("app1", &[]));
    let deadline = std::time::Duration::from_secs(3);
    let err = fleet
        .dm_within(deadline, ["-H", "app1", "sleep-long"])
        .expect_err("a run past its deadline is an error");
    assert!(
        err.to_string().contains("did not finish within 3s"),
        "{err}"
    );
    assert!(err.to_string().contains("sleep-long"), "{err}");
}
