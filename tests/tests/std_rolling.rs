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
//! - Of two deploys of the fleet started together, exactly one wins (the locks are taken in one
//!   order, checked in the interleaving that split them when each run took them all at once),
//!   the other is refused naming the holder, and the fleet ends on the winner's commit. Of two
//!   deploys of one app node each, started together under load, one goes on and the other is
//!   refused at the load balancer's lock: no request fails.
//! - `--check rollback` says where each node would go and changes nothing; an app node
//!   launched alone after a rollback starts on the release live on the others.
//! - Every other writer of the load balancer's configuration (`scale`, `maintenance on|off`,
//!   `launch` of the load balancer) holds its deploy lock: while a deploy holds it they are
//!   refused, naming the holder, and change nothing.

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

/// lb1, appnode1 and appnode2, launched with the app at commit `v1` of a fresh repository.
struct Launched {
    fleet: Fleet,
    repo: PathBuf,
    v1: String,
    /// Holds the repository.
    _tmp: tempfile::TempDir,
}

fn launch_two_nodes() -> Launched {
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
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{}", app_vars(&repo), fleet.inventory_toml()),
    )
    .expect("write dm.toml");
    let (a1, a2) = (fleet.machine("appnode1"), fleet.machine("appnode2"));
    let launch = dm(&fleet, &["launch"]);
    assert!(launch.success, "{}", text(&launch));
    assert_eq!((live_commit(a1), live_commit(a2)), (v1.clone(), v1.clone()));
    Launched {
        fleet,
        repo,
        v1,
        _tmp: tmp,
    }
}

#[test]
fn deploy_rollback_and_restart_answer_every_request_and_keep_one_version() {
    let Launched {
        _tmp,
        repo,
        v1,
        fleet,
    } = launch_two_nodes();
    let base = fleet.inventory_toml();
    let (lb, a1, a2) = (
        fleet.machine("lb1"),
        fleet.machine("appnode1"),
        fleet.machine("appnode2"),
    );
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
    let one_node = without_server(&base, "appnode2");
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

/// On a node with [`install_gate`], where the gate's signal files live.
const GATE: &str = "/run/dm-lock-gate";

/// Replaces `mkdir` on `m` by a gate that lets the test order concurrent runs: the `mkdir` of a
/// deploy lock says that it arrived (`arrived-PID`, the dm process's pid read from the lock
/// info in the calling script) and waits until the test lets that process go (`go-PID`), or
/// until the time in `open-at` (nanoseconds since the epoch: the machines share the host's
/// clock, so gates on several machines open at the same moment). Every other `mkdir` runs at
/// once.
fn install_gate(m: &Machine) {
    let gate = format!(
        "#!/bin/sh\n\
         case \"$*\" in\n\
         */.deploy-lock|*/deploy-lock/shop)\n\
         \tpid=$(tr '\\000' '\\n' <\"/proc/$PPID/cmdline\" | sed -n 's/^pid=\\([0-9][0-9]*\\)$/\\1/p' | head -n 1)\n\
         \t: >\"{GATE}/arrived-$pid\"\n\
         \twhile [ ! -e \"{GATE}/go-$pid\" ]; do\n\
         \t\tif [ -e {GATE}/open-at ] && [ \"$(date +%s%N)\" -ge \"$(cat {GATE}/open-at)\" ]; then break; fi\n\
         \t\tsleep 0.01\n\
         \tdone\n\
         \t;;\n\
         esac\n\
         exec /usr/bin/mkdir.real \"$@\"\n"
    );
    m.exec_ok(&format!(
        "/usr/bin/mkdir -p {GATE} && cp /usr/bin/mkdir /usr/bin/mkdir.real && \
         cat >/usr/bin/mkdir.gate <<'GATE'\n{gate}GATE\n\
         chmod 755 /usr/bin/mkdir.gate && mv -f /usr/bin/mkdir.gate /usr/bin/mkdir"
    ));
}

/// Opens the gates of [`install_gate`] on `machines` at one moment, 3 s from now (time enough
/// to tell every machine): every `mkdir` waiting there goes at once.
fn open_gates_together(machines: &[&Machine]) {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        + Duration::from_secs(3);
    for m in machines {
        m.exec_ok(&format!("echo {} >{GATE}/open-at", at.as_nanos()));
    }
}

/// Puts a copy of the real `mkdir` back in place of the gate (the original stays: gates
/// waking up now still run it).
fn remove_gate(m: &Machine) {
    m.exec_ok(
        "cp /usr/bin/mkdir.real /usr/bin/mkdir.back && mv -f /usr/bin/mkdir.back /usr/bin/mkdir",
    );
}

fn gate_has(m: &Machine, file: &str) -> bool {
    m.exec_ok(&format!("test -e {GATE}/{file} && echo yes || true"))
        .contains("yes")
}

/// The pid in the deploy lock held on app node `m`, if one is held.
fn lock_holder(m: &Machine) -> Option<u32> {
    m.exec_ok(&format!(
        "sed -n 's/^pid=//p' {APP}/.deploy-lock/info 2>/dev/null || true"
    ))
    .trim()
    .parse()
    .ok()
}

/// Polls `ready` (a state on the machines, or a run that ended) until it holds, for at most
/// two minutes; panics naming `what` with `debug()` otherwise.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool, debug: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within 2 min; {}",
            debug()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A dm process started in the background (the fabfile binary, as a user runs it).
struct Started {
    pid: u32,
    args: Vec<String>,
    waiting: std::thread::JoinHandle<std::process::Output>,
}

impl Started {
    fn new(fleet: &Fleet, args: &[&str]) -> Started {
        let child = Dm::new(fleet).args(args).spawn();
        let pid = child.id();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let for_thread = args.clone();
        let waiting = std::thread::spawn(move || {
            dm_tests::wait_with_deadline(child, Duration::from_secs(300), &for_thread)
        });
        Started { pid, args, waiting }
    }

    fn ended(&self) -> bool {
        self.waiting.is_finished()
    }

    fn finish(self) -> dm_tests::Run {
        let output = self.waiting.join().expect("the run's waiting thread");
        dm_tests::Run::from_output(self.args, output)
    }
}

fn said(run: &dm_tests::Run) -> String {
    format!("{}{}", run.stdout(), run.stderr())
}

/// A finished run and the pid it had.
type Finished = (u32, dm_tests::Run);

/// Of two runs, the one that exited 0 and the one that did not; `None` unless exactly one won.
fn one_winner<'r>(x: &'r Finished, y: &'r Finished) -> Option<(&'r Finished, &'r Finished)> {
    match (x.1.code() == 0, y.1.code() == 0) {
        (true, false) => Some((x, y)),
        (false, true) => Some((y, x)),
        _ => None,
    }
}

#[test]
fn of_two_concurrent_runs_exactly_one_wins_and_no_request_drops() {
    let Launched {
        _tmp, repo, fleet, ..
    } = launch_two_nodes();
    let (lb, a1, a2) = (
        fleet.machine("lb1"),
        fleet.machine("appnode1"),
        fleet.machine("appnode2"),
    );
    let mut problems = Problems::default();

    // Two deploys of the fleet started together, of different commits, in the interleaving
    // that split the locks when each run took them all at once: `second` takes appnode1 while
    // `first` waits there; `first`, when it also went for appnode2 meanwhile (taking all at
    // once), takes that; then every waiting lock attempt goes at the same moment. Exactly one
    // run must win, and the fleet end on its commit.
    let v2 = commit_version(&repo, "v2");
    let v3 = commit_version(&repo, "v3");
    for m in [a1, a2] {
        install_gate(m);
    }
    let gates = || {
        format!(
            "gate appnode1: {:?}, appnode2: {:?}",
            a1.exec_ok(&format!("ls {GATE}")),
            a2.exec_ok(&format!("ls {GATE}"))
        )
    };
    let first = Started::new(&fleet, &["deploy", "--commit", &v2]);
    let second = Started::new(&fleet, &["deploy", "--commit", &v3]);
    let (p1, p2) = (first.pid, second.pid);
    wait_until(
        "both deploys at appnode1's lock",
        || gate_has(a1, &format!("arrived-{p1}")) && gate_has(a1, &format!("arrived-{p2}")),
        gates,
    );
    a1.exec_ok(&format!("touch {GATE}/go-{p2}"));
    wait_until(
        "the second deploy holding appnode1",
        || lock_holder(a1) == Some(p2),
        gates,
    );
    wait_until(
        "the second deploy at appnode2's lock",
        || gate_has(a2, &format!("arrived-{p2}")),
        gates,
    );
    if gate_has(a2, &format!("arrived-{p1}")) {
        a2.exec_ok(&format!("touch {GATE}/go-{p1}"));
        wait_until(
            "the first deploy holding appnode2",
            || lock_holder(a2) == Some(p1),
            gates,
        );
    }
    open_gates_together(&[a1, a2]);
    let (first, second) = (first.finish(), second.finish());
    for m in [a1, a2] {
        remove_gate(m);
    }
    let runs = ((p1, first), (p2, second));
    match one_winner(&runs.0, &runs.1) {
        None => problems.check(false, || {
            format!(
                "two concurrent deploys: not exactly one won (exit codes {} and {}):\n{}\n---\n{}",
                runs.0.1.code(),
                runs.1.1.code(),
                said(&runs.0.1),
                said(&runs.1.1)
            )
        }),
        Some(((winner, _), (_, lost))) => {
            let why = said(lost);
            problems.check(
                why.contains("held by") && why.contains(&format!("pid {winner}")) && why.contains('@'),
                || format!("the refused deploy does not name the holder (user@host, pid {winner}, since):\n{why}"),
            );
            let commit = if *winner == p1 { &v2 } else { &v3 };
            problems.check(
                live_commit(a1) == *commit && live_commit(a2) == *commit,
                || {
                    format!(
                        "after two concurrent deploys the fleet is not on the winner's commit {commit}: appnode1 {}, appnode2 {}",
                        live_commit(a1),
                        live_commit(a2)
                    )
                },
            );
        }
    }

    // Two deploys of one app node each, started together under load: they would both take
    // their node out of the load balancer's upstream; exactly one may go on (it holds the load
    // balancer's lock), the other changes nothing, and every request is answered.
    let v4 = commit_version(&repo, "v4");
    let (before1, before2) = (
        (live_commit(a1), releases(a1)),
        (live_commit(a2), releases(a2)),
    );
    for m in [a1, a2] {
        m.exec_ok(&format!("touch {HOLD}"));
    }
    let building = |m: &Machine| {
        // `[d]` keeps the pattern from matching the shell that runs pgrep.
        m.exec_ok("pgrep -f '[d]m-hold-build' >/dev/null && echo yes || true")
            .contains("yes")
    };
    let load = Load::start(lb);
    let one = Started::new(&fleet, &["-H", "appnode1", "deploy"]);
    let two = Started::new(&fleet, &["-H", "appnode2", "deploy"]);
    wait_until(
        "one subset deploy refused, or both building",
        || one.ended() || two.ended() || (building(a1) && building(a2)),
        String::new,
    );
    for m in [a1, a2] {
        m.exec_ok(&format!("rm -f {HOLD}"));
    }
    let runs = ((one.pid, one.finish()), (two.pid, two.finish()));
    problems.all_answered("two concurrent subset deploys", &load.answers());
    match one_winner(&runs.0, &runs.1) {
        None => problems.check(false, || {
            format!(
                "two concurrent subset deploys: not exactly one went on (exit codes {} and {}):\n{}\n---\n{}",
                runs.0.1.code(),
                runs.1.1.code(),
                said(&runs.0.1),
                said(&runs.1.1)
            )
        }),
        Some(((winner, _), (_, lost))) => {
            let why = said(lost);
            problems.check(
                why.contains("lb1") && why.contains("held by") && why.contains(&format!("pid {winner}")),
                || format!("the refused subset deploy does not name the load balancer's holder (pid {winner}):\n{why}"),
            );
            let (won, refused, untouched) = if *winner == runs.0.0 {
                (a1, a2, &before2)
            } else {
                (a2, a1, &before1)
            };
            problems.check(live_commit(won) == v4, || {
                format!("the subset deploy that went on did not put v4 live on {}", won.name())
            });
            problems.check(
                (live_commit(refused), releases(refused)) == *untouched,
                || format!("the refused subset deploy changed {}", refused.name()),
            );
        }
    }
    problems.check(
        !lb.exec_ok("ls -A /var/lib/dm/deploy-lock 2>/dev/null || true")
            .contains("shop"),
        || "the load balancer's deploy lock was left behind".into(),
    );
    problems.assert_none();
}

/// The inventory `base` without the server `name`.
fn without_server(base: &str, name: &str) -> String {
    base.split("\n[servers.")
        .filter(|part| !part.starts_with(&format!("{name}]")))
        .collect::<Vec<_>>()
        .join("\n[servers.")
}

#[test]
fn rollback_check_changes_nothing_and_a_node_launched_after_a_rollback_joins_its_release() {
    dm::tasks::link();
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = temp_repo(tmp.path());
    let v1 = commit_version(&repo, "v1");
    let fleet = Fleet::builder()
        .machine("appnode1", &["appnode"])
        .machine("appnode2", &["appnode"])
        .boot()
        .expect("boot");
    let base = fleet.inventory_toml();
    let (a1, a2) = (fleet.machine("appnode1"), fleet.machine("appnode2"));
    // appnode2 joins the inventory later.
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{}", app_vars(&repo), without_server(&base, "appnode2")),
    )
    .expect("write dm.toml");
    let launch = dm(&fleet, &["launch"]);
    assert!(launch.success, "{}", text(&launch));
    let v2 = commit_version(&repo, "v2");
    let deploy = dm(&fleet, &["deploy"]);
    assert!(deploy.success, "{}", text(&deploy));
    assert_eq!(live_commit(a1), v2);
    let mut problems = Problems::default();

    // `--check rollback` says where the node would go and changes nothing.
    let state = |m: &Machine| {
        m.exec_ok(&format!(
            "readlink {APP}/current; ls -a {APP} {APP}/releases/*; cat {APP}/revisions.log"
        ))
    };
    let before = state(a1);
    let live_release = a1
        .exec_ok(&format!("basename \"$(readlink {APP}/current)\""))
        .trim()
        .to_string();
    let check = dm(&fleet, &["--check", "rollback"]);
    let said = text(&check);
    problems.check(
        check.success
            && said.contains("would roll appnode1 back")
            && said.contains(&format!("from release {live_release}"))
            && said.contains(&v1[..7]),
        || format!("`--check rollback` does not say where appnode1 would go (from {live_release} to v1 {v1}):\n{said}"),
    );
    problems.check(state(a1) == before, || {
        format!(
            "`--check rollback` changed appnode1:\nbefore:\n{before}\nafter:\n{}",
            state(a1)
        )
    });
    problems.check(live_commit(a1) == v2, || {
        "`--check rollback` rolled back".into()
    });

    // After a rollback to v1, a new app node launched alone starts on v1, not on the tip (v2).
    let rollback = dm(&fleet, &["rollback"]);
    assert!(rollback.success, "{}", text(&rollback));
    assert_eq!(live_commit(a1), v1);
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{base}", app_vars(&repo)),
    )
    .expect("write dm.toml");
    let joined = dm(&fleet, &["launch", "appnode2"]);
    problems.check(joined.success, || {
        format!("launch appnode2 failed:\n{}", text(&joined))
    });
    problems.check(live_commit(a2) == v1, || {
        format!(
            "appnode2, launched alone after the rollback, runs {}: appnode1 runs v1 ({v1}), the branch tip is v2 ({v2})",
            live_commit(a2)
        )
    });
    problems.assert_none();
}

/// The load balancer's deploy lock, on a load balancer that runs no app.
const LB_LOCK: &str = "/var/lib/dm/deploy-lock/shop";

/// Every writer of the load balancer's configuration holds its deploy lock: while a deploy
/// holds it (planted as a deploy from another machine leaves it), `scale appnode=1`,
/// `maintenance on` and `launch lb1` are refused naming the holder, and change nothing on the
/// load balancer (the upstream keeps appnode2 and a hand edit, no maintenance flag) or
/// anywhere (appnode2 is not destroyed), checked from outside. Once the lock is broken they go
/// on, each giving the lock back.
#[test]
fn a_deploy_lock_on_the_load_balancer_refuses_scale_maintenance_and_its_launch() {
    dm::tasks::link();
    let project =
        LocalProject::new().unwrap_or_else(|e| panic!("cannot create a local project: {e}"));
    let repo = temp_repo(project.dir());
    commit_version(&repo, "v1");
    project
        .write_inventory(&format!(
            "{}\n[servers.lb1]\nroles = [\"loadbalancer\"]\n",
            app_vars(&repo)
        ))
        .expect("write dm.toml");
    let dm = |args: &[&str]| {
        let mut line = vec!["--json"];
        line.extend_from_slice(args);
        project
            .dm(&line)
            .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"))
    };
    let ok = |args: &[&str]| {
        let report = dm(args);
        assert!(report.success, "dm {args:?} failed:\n{}", text(&report));
    };
    ok(&["boot", "lb1", "appnode1", "appnode2"]);
    ok(&["launch"]);
    let machines = || -> Vec<String> {
        project
            .machines()
            .expect("the machines")
            .into_iter()
            .map(|m| format!("{} {}", m.name, m.address))
            .collect()
    };
    let address = |name: &str| -> String {
        machines()
            .iter()
            .find_map(|m| m.strip_prefix(&format!("{name} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} is not booted: {:?}", machines()))
    };
    let (lb, appnode2) = (address("lb1"), address("appnode2"));
    // From outside dm: the project's key as root (the servers are not provisioned).
    let on_lb = |cmd: &str| -> String {
        let out = project.ssh(&lb, cmd).expect("ssh to lb1");
        assert!(
            out.status.success(),
            "{cmd} on lb1: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let upstream_file = "/etc/nginx/conf.d/shop-upstream.conf";
    let flag = "/var/lib/dm/maintenance/shop";
    // A hand edit that `launch lb1` would undo.
    on_lb(&format!("echo '# edited by hand' >> {upstream_file}"));
    let upstream = on_lb(&format!("cat {upstream_file}"));
    assert!(upstream.contains(&format!("{appnode2}:8000")), "{upstream}");
    on_lb(&format!(
        "mkdir -p {LB_LOCK} && printf 'owner=ci@build\\ntask=deploy\\npid=4242\\nsince=1700000000\\n' > {LB_LOCK}/info"
    ));
    let holder = "ci@build (deploy, pid 4242)";
    for args in [
        &["scale", "appnode=1"][..],
        &["maintenance", "on"],
        &["launch", "lb1"],
    ] {
        let run = dm(args);
        let said = text(&run);
        assert!(
            !run.success,
            "dm {args:?} went on while a deploy holds lb1's lock:\n{said}"
        );
        assert!(
            said.contains(holder) && said.contains(LB_LOCK),
            "dm {args:?} does not name the lock and its holder:\n{said}"
        );
    }
    assert_eq!(
        on_lb(&format!("cat {upstream_file}")),
        upstream,
        "lb1's upstream changed under the deploy's lock"
    );
    assert_eq!(
        on_lb(&format!("test -e {flag} && echo on || echo off")).trim(),
        "off",
        "maintenance went on under the deploy's lock"
    );
    assert!(
        machines().iter().any(|m| m.starts_with("appnode2 ")),
        "scale destroyed appnode2 under the deploy's lock: {:?}",
        machines()
    );
    assert!(
        on_lb(&format!("cat {LB_LOCK}/info")).contains("owner=ci@build"),
        "a refused run broke the deploy's lock"
    );

    // Without the lock the same runs go on, and each gives the lock back.
    ok(&["-H", "lb1", "deploy-unlock"]);
    let lock_left = || on_lb(&format!("test -e {LB_LOCK} && echo held || echo free"));
    ok(&["maintenance", "on"]);
    assert_eq!(on_lb(&format!("cat {flag}")).trim(), "on");
    assert_eq!(lock_left().trim(), "free", "maintenance on kept the lock");
    ok(&["maintenance", "off"]);
    ok(&["scale", "appnode=1"]);
    let upstream = on_lb(&format!("cat {upstream_file}"));
    assert!(!upstream.contains(&format!("{appnode2}:")), "{upstream}");
    assert_eq!(lock_left().trim(), "free", "scale kept the lock");
    assert!(
        !machines().iter().any(|m| m.starts_with("appnode2 ")),
        "{:?}",
        machines()
    );
}
