//! Deploys that drop no request and leave the fleet on one version, on real machines: a load
//! balancer and two app nodes serving a tiny WSGI app from a local repository.
//!
//! - `deploy`, `rollback` and `restart-app` under a request loop through the load balancer
//!   answer every request (one node at a time out of the upstream, switched, checked, back);
//!   the deploy counts the switch of `current` as a change; with one app node it warns that a
//!   short outage is unavoidable.
//! - A deploy lock held on one node (a deploy paused in its build) refuses a deploy of the
//!   fleet before it changes anything anywhere, naming the holder; a lock left by a killed dm
//!   on this machine is recognised as stale and cleared.
//! - `scale appnode=3` after a `rollback` gives the new node the release live on the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dm::testing::{Fleet, LocalProject, Machine, RunReport};
use dm_tests::{Dm, git, http_get};

const APP: &str = "/srv/shop";

/// While this file exists on a node, builds there wait (a deploy paused holding its locks).
const HOLD: &str = "/tmp/dm-hold-build";

/// Commits a version of the app answering `version <version>`.
fn commit_version(repo: &Path, version: &str) -> String {
    std::fs::write(
        repo.join("app.py"),
        format!(
            "VERSION = \"{version}\"\n\n\
             def application(environ, start_response):\n    \
                 body = (\"version \" + VERSION + \"\\n\").encode()\n    \
                 start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\"), (\"Content-Length\", str(len(body)))])\n    \
                 return [body]\n"
        ),
    )
    .expect("write app.py");
    std::fs::write(repo.join("requirements.txt"), "gunicorn\n").expect("write requirements");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", version]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The `app` vars: the repository, a build that waits while [`HOLD`] exists, one wsgi process.
fn app_vars(repo: &Path) -> String {
    format!(
        r#"[vars.app]
name = "shop"
repo = "{repo}"
branch = "main"
port = 8000
build = [
  "while [ -e {HOLD} ]; do sleep 0.1; done",
  "python3 -m venv --system-site-packages venv",
  "venv/bin/pip install --no-index -r requirements.txt",
]

[vars.app.processes.web]
kind = "wsgi"
module = "app:application"
python = "venv/bin/python"
workers = 1
"#,
        repo = repo.display()
    )
}

fn temp_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("shop");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    repo
}

/// Everything a run printed and its errors, all hosts.
fn text(report: &RunReport) -> String {
    report
        .hosts
        .iter()
        .flat_map(|h| {
            h.output
                .iter()
                .map(|l| format!("[{}] {}", h.host, l.line))
                .chain(h.error.iter().map(|e| format!("[{}] error: {e}", h.host)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run in this process with `--json` (so the report holds the output), succeeded or not.
fn dm(fleet: &Fleet, args: &[&str]) -> RunReport {
    let mut line = vec!["--json"];
    line.extend_from_slice(args);
    fleet
        .dm(&line)
        .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"))
}

/// The commit live on a node.
fn live_commit(m: &Machine) -> String {
    m.exec_ok(&format!("cat {APP}/current/REVISION 2>/dev/null || true"))
        .trim()
        .to_string()
}

fn releases(m: &Machine) -> String {
    m.exec_ok(&format!("ls {APP}/releases")).trim().to_string()
}

/// Requests through the load balancer, one per 0.1 s, from another thread: at most 3 minutes'
/// worth, ended early by [`Load::answers`].
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Load {
    fn start(lb: &Machine) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let address = lb.address().to_string();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answers = Vec::new();
            for _ in 0..1800 {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                answers.push(http_get(&address, "/"));
                std::thread::sleep(Duration::from_millis(100));
            }
            answers
        });
        Load { stop, thread }
    }

    fn answers(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the request loop")
    }
}

/// Problems found along the test, reported together at the end (so one run shows every
/// requirement that does not hold, not only the first).
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let what = what();
            eprintln!("PROBLEM: {what}");
            self.0.push(what);
        }
    }

    /// Every request answered 200 by the app, and enough of them to cover the run.
    fn all_answered(&mut self, during: &str, answers: &[String]) {
        let failed: Vec<&String> = answers
            .iter()
            .filter(|a| !a.starts_with("200 version "))
            .collect();
        eprintln!(
            "{during}: {} requests, {} failed",
            answers.len(),
            failed.len()
        );
        self.check(failed.is_empty() && answers.len() >= 10, || {
            format!(
                "{during}: {} of {} requests through the load balancer failed: {:?}",
                failed.len(),
                answers.len(),
                failed.iter().take(5).collect::<Vec<_>>()
            )
        });
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

/// Waits (a minute at most) until `path` exists on `m`: a readiness signal of a run in flight.
fn wait_for_file(m: &Machine, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !m
        .exec_ok(&format!("test -e {path} && echo yes || true"))
        .contains("yes")
    {
        assert!(
            Instant::now() < deadline,
            "{path} did not appear on {}",
            m.name()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn deploy_rollback_and_restart_answer_every_request_and_keep_one_version() {
    dm::tasks::link();
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = temp_repo(tmp.path());
    let v1 = commit_version(&repo, "v1");
    let fleet = Fleet::builder()
        .machine("lb1", &["loadbalancer"])
        .machine("appnode1", &["appnode"])
        .machine("appnode2", &["appnode"])
        .boot()
        .expect("boot");
    let base = fleet.inventory_toml();
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{base}", app_vars(&repo)),
    )
    .expect("write dm.toml");
    let (lb, a1, a2) = (
        fleet.machine("lb1"),
        fleet.machine("appnode1"),
        fleet.machine("appnode2"),
    );
    let launch = dm(&fleet, &["launch"]);
    assert!(launch.success, "{}", text(&launch));
    assert_eq!((live_commit(a1), live_commit(a2)), (v1.clone(), v1.clone()));
    let mut problems = Problems::default();

    // A deploy under load: every request answered, the switch counted as a change.
    let v2 = commit_version(&repo, "v2");
    let load = Load::start(lb);
    let deploy = dm(&fleet, &["deploy"]);
    problems.all_answered("deploy", &load.answers());
    problems.check(deploy.success, || {
        format!("deploy failed:\n{}", text(&deploy))
    });
    problems.check(live_commit(a1) == v2 && live_commit(a2) == v2, || {
        "deploy: not both nodes on v2".into()
    });
    problems.check(deploy.operations.changed >= 2, || {
        format!(
            "deploy reported {} changed operations: the switch of `current` on each node is a change",
            deploy.operations.changed
        )
    });

    // A rollback and an app restart under load.
    let load = Load::start(lb);
    let rollback = dm(&fleet, &["rollback"]);
    problems.all_answered("rollback", &load.answers());
    problems.check(rollback.success, || {
        format!("rollback failed:\n{}", text(&rollback))
    });
    problems.check(live_commit(a1) == v1 && live_commit(a2) == v1, || {
        "rollback: not both nodes on v1".into()
    });
    let load = Load::start(lb);
    let restart = dm(&fleet, &["restart-app"]);
    problems.all_answered("restart-app", &load.answers());
    problems.check(restart.success, || {
        format!("restart-app failed:\n{}", text(&restart))
    });

    // appnode2's lock is held by a deploy paused in its build: a deploy of the fleet (another
    // revision) is refused before it changes anything on appnode1, naming the holder.
    let v3 = commit_version(&repo, "v3");
    a2.exec_ok(&format!("touch {HOLD}"));
    let (before1, before2) = (releases(a1), releases(a2));
    std::thread::scope(|s| {
        let holder = s.spawn(|| dm(&fleet, &["-H", "appnode2", "deploy"]));
        wait_for_file(a2, &format!("{APP}/.deploy-lock/info"));
        let refused = dm(&fleet, &["deploy", "--commit", &v2]);
        let said = text(&refused);
        problems.check(!refused.success, || {
            "the second deploy was not refused".into()
        });
        problems.check(
            said.contains("appnode2")
                && said.contains("held by")
                && said.contains(&format!("pid {}", std::process::id()))
                && said.contains("@"),
            || format!("the refusal does not name the holder (user@host, pid, since):\n{said}"),
        );
        problems.check(
            live_commit(a1) == v1 && releases(a1) == before1,
            || format!(
                "the refused deploy changed appnode1: live {} (was v1 {v1}), releases {:?} (were {before1:?})",
                live_commit(a1),
                releases(a1)
            ),
        );
        problems.check(
            !a1.exec_ok(&format!("ls -a {APP}")).contains(".deploy-lock"),
            || "the refused deploy left its lock on appnode1".into(),
        );
        a2.exec_ok(&format!("rm -f {HOLD}"));
        let held = holder.join().expect("the holding deploy");
        problems.check(held.success, || {
            format!("the holding deploy failed:\n{}", text(&held))
        });
    });
    problems.check(live_commit(a2) == v3, || "appnode2 is not on v3".into());
    problems.check(releases(a2) != before2, || "appnode2 got no release".into());

    // A deploy killed while it holds the locks (dm process gone, same machine): the next one
    // says the lock is stale, clears it and deploys.
    for m in [a1, a2] {
        m.exec_ok(&format!("touch {HOLD}"));
    }
    let mut killed = Dm::new(&fleet).args(["deploy"]).spawn();
    for m in [a1, a2] {
        wait_for_file(m, &format!("{APP}/.deploy-lock/info"));
    }
    killed.kill().expect("kill the deploy");
    let _ = killed.wait();
    for m in [a1, a2] {
        m.exec_ok(&format!("rm -f {HOLD}"));
    }
    let after_kill = dm(&fleet, &["deploy"]);
    let said = text(&after_kill);
    problems.check(after_kill.success && said.contains("stale"), || {
        format!("a deploy after a killed one did not clear the stale lock:\n{said}")
    });
    problems.check(live_commit(a1) == v3 && live_commit(a2) == v3, || {
        "after the killed deploy: not both nodes on v3".into()
    });

    // With one app node, a deploy says that a short outage is unavoidable.
    let one_node: String = base
        .split("\n[servers.")
        .filter(|part| !part.starts_with("appnode2]"))
        .collect::<Vec<_>>()
        .join("\n[servers.");
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{one_node}", app_vars(&repo)),
    )
    .expect("write dm.toml");
    let single = dm(&fleet, &["deploy"]);
    let said = text(&single);
    problems.check(single.success && said.contains("short outage"), || {
        format!("a deploy to one app node does not warn of the outage:\n{said}")
    });
    problems.assert_none();
}

#[test]
fn scale_after_rollback_gives_the_new_node_the_live_release() {
    dm::tasks::link();
    let project =
        LocalProject::new().unwrap_or_else(|e| panic!("cannot create a local project: {e}"));
    let repo = temp_repo(project.dir());
    let v1 = commit_version(&repo, "v1");
    project
        .write_inventory_as(
            "admin",
            &format!(
                "{}\n[servers.lb1]\nroles = [\"loadbalancer\"]\n",
                app_vars(&repo)
            ),
        )
        .expect("write dm.toml");
    let dm = |args: &[&str]| {
        let mut line = vec!["--json"];
        line.extend_from_slice(args);
        let report = project
            .dm(&line)
            .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"));
        assert!(report.success, "dm {args:?} failed:\n{}", text(&report));
        report
    };
    dm(&["boot", "lb1", "appnode1", "appnode2"]);
    dm(&["provision"]);
    dm(&["launch"]);
    let v2 = commit_version(&repo, "v2");
    dm(&["deploy"]);
    dm(&["rollback"]);
    dm(&["scale", "appnode=3"]);
    // Root may no longer log in (provisioned): ask as the administrator, through dm.
    let read = dm(&[
        "-H",
        "appnode3",
        "run",
        "--sudo",
        &format!("cat {APP}/current/REVISION"),
    ]);
    let live = read
        .hosts
        .iter()
        .flat_map(|h| h.output.iter())
        .map(|l| l.line.trim().to_string())
        .find(|l| l.len() == 40)
        .unwrap_or_else(|| format!("nothing: {}", text(&read)));
    assert_eq!(
        live, v1,
        "appnode3 runs {live}: the others run v1 ({v1}) after the rollback from v2 ({v2})"
    );
}
