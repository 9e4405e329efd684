//! git deploys with releases on a real app node: a tiny WSGI app in a local repository on the
//! controller (the machines reach no git server) is deployed by the appnode recipe and the
//! `deploy` task, served by Debian's gunicorn under supervisor, rolled back, protected by the
//! deploy lock, and never replaced by a release whose build fails.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::{git, report_text};

/// The appnode role recipe, as `launch` applies it.
#[task]
async fn deploy_recipe(ctx: &Ctx) -> Result<()> {
    dm::tasks::appnode::appnode(ctx).await
}

const APP: &str = "/srv/shop";

/// Commits a version of the app answering `version <version>`; `requirement` is the line of
/// requirements.txt (Debian's gunicorn satisfies `gunicorn` without an index).
pub(crate) fn commit_version(repo: &Path, version: &str, requirement: &str) -> String {
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
    std::fs::write(repo.join("requirements.txt"), format!("{requirement}\n"))
        .expect("write requirements");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", version]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The `app` vars of the test, as TOML tables.
fn app_vars(repo: &Path, keep_releases: u32) -> String {
    format!(
        r#"[vars.app]
name = "shop"
repo = "{repo}"
branch = "main"
port = 8000
keep_releases = {keep_releases}
shared_dirs = ["media"]
build = [
  "python3 -m venv --system-site-packages venv",
  "venv/bin/pip install --no-index -r requirements.txt",
]

[vars.app.env]
SHOP_MODE = "test"

[vars.app.processes.web]
kind = "wsgi"
module = "app:application"
python = "venv/bin/python"
workers = 1
"#,
        repo = repo.display()
    )
}

/// Rewrites the fleet's inventory with the app vars on top.
pub(crate) fn write_inventory(fleet: &Fleet, base: &str, repo: &Path, keep_releases: u32) {
    std::fs::write(
        fleet.inventory_path(),
        format!("{}\n{base}", app_vars(repo, keep_releases)),
    )
    .expect("write dm.toml");
}

/// Runs a task in-process (`--json`, so the report holds the output); returns its report
/// whether or not it succeeded.
fn dm(fleet: &Fleet, args: &[&str]) -> RunReport {
    let mut line = vec!["--json"];
    line.extend_from_slice(args);
    fleet
        .dm(&line)
        .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"))
}

/// What the app answers on the machine, waiting for it to come up.
pub(crate) fn answer(m: &Machine) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match m.http_get(8000, "/") {
            Ok(r) if r.status == 200 => return r.body.trim().to_string(),
            other => {
                if Instant::now() > deadline {
                    panic!(
                        "the app does not answer: {other:?}\n{}",
                        m.exec("tail -n 30 /var/log/supervisor/shop-web.log; supervisorctl status")
                            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                            .unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

/// The release directories on the machine.
fn releases(m: &Machine) -> Vec<String> {
    m.exec_ok(&format!("ls {APP}/releases"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

pub(crate) fn live_release(m: &Machine) -> String {
    m.exec_ok(&format!("basename \"$(readlink {APP}/current)\""))
        .trim()
        .to_string()
}

pub(crate) fn temp_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("shop");
    std::fs::create_dir(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    (dir, repo)
}

#[test]
fn deploys_roll_back_and_are_locked() {
    dm::tasks::link();
    let (_tmp, repo) = temp_repo();
    let v1 = commit_version(&repo, "v1", "gunicorn");
    let fleet = Fleet::builder()
        .machine("app1", &["appnode"])
        .boot()
        .expect("boot");
    let m = fleet.machine("app1");
    let base = fleet.inventory_toml();
    write_inventory(&fleet, &base, &repo, 3);

    // The role recipe installs everything and makes the first deploy.
    let first = dm(&fleet, &["-H", "app1", "deploy-recipe"]);
    assert!(first.success, "{}", report_text(&first));
    assert_eq!(answer(m), "version v1");
    assert!(
        report_text(&first).contains(&format!("deployed commit {v1}")),
        "{}",
        report_text(&first)
    );
    assert_eq!(m.exec_ok(&format!("cat {APP}/current/REVISION")).trim(), v1);
    assert_eq!(
        m.exec_ok(&format!("readlink {APP}/current/media")).trim(),
        format!("{APP}/shared/media")
    );
    assert_eq!(
        m.exec_ok(&format!("stat -c %U {APP}/current/app.py"))
            .trim(),
        "shop"
    );
    assert!(
        m.exec_ok("cat /etc/supervisor/conf.d/shop-web.conf")
            .contains("environment=SHOP_MODE=\"test\",USER=\"shop\"")
    );

    // A second run of the recipe changes nothing and does not deploy again.
    let again = dm(&fleet, &["-H", "app1", "deploy-recipe"]);
    assert!(again.success, "{}", report_text(&again));
    assert_eq!(
        again.operations.changed, 0,
        "{:?}",
        again.hosts[0].operations
    );
    assert_eq!(releases(m).len(), 1);

    // A new commit, deployed: only the new objects travel (a bundle of one commit). A `git`
    // first in sudo's PATH notes the uploaded bundle's mode and owner when the mirror fetches
    // it: only the app user, who fetches it, may read the app's source.
    m.exec_ok(
        "printf '%s\\n' '#!/bin/sh' \
           'case \" $* \" in *\" fetch \"*) stat -c \"%a %U\" /srv/shop/.deploy-bundle >> /tmp/bundle-seen 2>&1;; esac' \
           'exec /usr/bin/git \"$@\"' > /usr/local/bin/git && chmod 755 /usr/local/bin/git",
    );
    let v2 = commit_version(&repo, "v2", "gunicorn");
    let second = dm(&fleet, &["-H", "app1", "deploy"]);
    m.exec_ok("rm /usr/local/bin/git");
    assert!(second.success, "{}", report_text(&second));
    assert_eq!(
        m.exec_ok("cat /tmp/bundle-seen").trim(),
        "600 shop",
        "the bundle on the host, as the fetch saw it"
    );
    assert!(
        m.exec(&format!("test -e {APP}/.deploy-bundle"))
            .map(|o| !o.status.success())
            .unwrap_or(false),
        "the bundle is removed after the fetch"
    );
    assert_eq!(answer(m), "version v2");
    assert!(report_text(&second).contains(&format!("deployed commit {v2}")));
    assert_eq!(releases(m).len(), 2);

    // Rollback: back to v1.
    let back = dm(&fleet, &["-H", "app1", "rollback"]);
    assert!(back.success, "{}", report_text(&back));
    assert_eq!(answer(m), "version v1");
    assert_eq!(m.exec_ok(&format!("cat {APP}/current/REVISION")).trim(), v1);
    // Nothing older than v1 is good: a second rollback is refused and changes nothing.
    let none = dm(&fleet, &["-H", "app1", "rollback"]);
    assert!(!none.success);
    assert!(
        report_text(&none).contains("no good release older"),
        "{}",
        report_text(&none)
    );
    assert_eq!(answer(m), "version v1");

    // A build that fails (a requirement no installed package satisfies) leaves v1 serving and
    // no release directory behind.
    let before = releases(m);
    commit_version(&repo, "v3", "no-such-package-dm-test");
    let broken = dm(&fleet, &["-H", "app1", "deploy"]);
    assert!(!broken.success);
    let said = report_text(&broken);
    assert!(
        said.contains("build command") && said.contains("`current` was not switched"),
        "{said}"
    );
    assert_eq!(answer(m), "version v1");
    assert_eq!(releases(m), before);
    assert!(!m.exec_ok(&format!("ls -a {APP}")).contains(".deploy-lock"));

    // Two deploys at once: exactly one gets the lock; the other is refused, naming the holder.
    let v4 = commit_version(&repo, "v4", "gunicorn");
    let barrier = Barrier::new(2);
    let results: Vec<RunReport> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    dm(&fleet, &["-H", "app1", "deploy"])
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("thread"))
            .collect()
    });
    let won: Vec<&RunReport> = results.iter().filter(|r| r.success).collect();
    let lost: Vec<&RunReport> = results.iter().filter(|r| !r.success).collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{results:#?}");
    let refusal = report_text(lost[0]);
    assert!(
        refusal.contains("another deploy is running") && refusal.contains("held by"),
        "{refusal}"
    );
    assert_eq!(answer(m), "version v4");

    // A stale lock (a deploy that died) refuses deploys, saying who and since when, until
    // deploy-unlock breaks it.
    m.exec_ok(&format!(
        "mkdir {APP}/.deploy-lock && printf 'owner=ghost@old-laptop\\ntask=deploy\\npid=77\\nsince=1700000000\\ntoken=t\\n' > {APP}/.deploy-lock/info"
    ));
    let blocked = dm(&fleet, &["-H", "app1", "deploy", "--commit", &v2[..12]]);
    assert!(!blocked.success);
    let said = report_text(&blocked);
    assert!(
        said.contains("ghost@old-laptop")
            && said.contains("2023-11-14 22:13:20 UTC")
            && said.contains("deploy-unlock"),
        "{said}"
    );
    assert_eq!(answer(m), "version v4");
    let unlock = dm(&fleet, &["-H", "app1", "deploy-unlock"]);
    assert!(unlock.success, "{}", report_text(&unlock));
    assert!(report_text(&unlock).contains("broke the deploy lock held by ghost@old-laptop"));

    // Then a deploy of a given commit works, and keep_releases = 3 holds.
    let pinned = dm(&fleet, &["-H", "app1", "deploy", "--commit", &v2[..12]]);
    assert!(pinned.success, "{}", report_text(&pinned));
    assert_eq!(answer(m), "version v2");
    assert_eq!(m.exec_ok(&format!("cat {APP}/current/REVISION")).trim(), v2);
    let kept = releases(m);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.contains(&live_release(m)));
    let log = m.exec_ok(&format!("cat {APP}/revisions.log"));
    assert!(log.contains(&v4) && log.contains("rolled back"), "{log}");

    // A tag and a branch other than app.branch.
    git(&repo, &["tag", "v4.0", &v4]);
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    commit_version(&repo, "v5-feature", "gunicorn");
    let tagged = dm(&fleet, &["-H", "app1", "deploy", "--tag", "v4.0"]);
    assert!(tagged.success, "{}", report_text(&tagged));
    assert_eq!(answer(m), "version v4");
    let branch = dm(&fleet, &["-H", "app1", "deploy", "--branch", "feature"]);
    assert!(branch.success, "{}", report_text(&branch));
    assert_eq!(answer(m), "version v5-feature");
    assert_eq!(releases(m).len(), 3);
}
