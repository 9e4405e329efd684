//! git checkouts: a missing git is an error naming the fix; a checkout follows its branch,
//! is repaired when moved by hand, reported by check mode without moving, and refuses to
//! discard local modifications unless forced.

use crate::ops_support;

use dm::ops::{Apt, Command, Git, OpStatus};
use dm::prelude::*;
use dm::testing::RunReport;
use dm_tests::dm_run;
use ops_support::*;

#[test]
fn a_checkout_follows_its_branch_and_is_repaired() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let head = || {
        m.exec_ok("git -C /srv/checkout rev-parse HEAD")
            .trim()
            .to_string()
    };
    let origin = || {
        m.exec_ok("git --git-dir=/srv/origin.git rev-parse main")
            .trim()
            .to_string()
    };

    // No git on the host: the operation says how to get it, and does not install it.
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git"]);
    run.assert_code(1);
    let error = host(&json, "app1")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("git is not installed") && error.contains("ops::Apt::present([\"git\"])"),
        "{error}"
    );

    // One step installs git, makes the origin and checks it out: the checkout's facts are read
    // again after git is installed.
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git-setup"]);
    run.assert_success();
    assert_eq!(
        status(&json, "app1", "git /srv/origin.git"),
        "changed",
        "{json:#}"
    );
    assert_eq!(head(), origin());
    assert_eq!(
        m.exec_ok("git -C /srv/checkout symbolic-ref --short HEAD")
            .trim(),
        "main"
    );

    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git"]);
    run.assert_success();
    assert_eq!(count(&json, "app1", "changed"), 0, "{json:#}");

    // A new commit upstream: check mode reports it and leaves the checkout alone.
    let old = head();
    m.exec_ok(
        "cd /srv/work && echo two >> README && \
         git -c user.name=dm -c user.email=dm@example.invalid commit -q -am two && \
         git push -q /srv/origin.git main",
    );
    let (run, json) = run_json(&fleet, &["--check", "-H", "app1", "ops-git"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "would_change");
    assert_eq!(head(), old);
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "changed");
    assert_eq!(head(), origin());

    // Moved back by hand: repaired.
    m.exec_ok("git -C /srv/checkout reset -q --hard HEAD~1");
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "changed");
    assert_eq!(head(), origin());

    // Local modifications stop it unless forced.
    m.exec_ok("echo local >> /srv/checkout/README");
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git"]);
    run.assert_code(1);
    let error = host(&json, "app1")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("local modifications") && error.contains(".force()"),
        "{error}"
    );
    assert!(m.exec_ok("cat /srv/checkout/README").contains("local"));
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git", "--force"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "changed");
    assert_eq!(m.exec_ok("cat /srv/checkout/README"), "one\ntwo\n");
}

/// The checkout's user owns `.git`: what it writes there (a remote URL with a newline, a hook)
/// never runs as root.
#[test]
fn a_checkout_owned_by_its_user_cannot_run_code_as_root() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let (run, _) = run_json(&fleet, &["-H", "app1", "ops-git-setup"]);
    run.assert_success();
    let origin = m
        .exec_ok("git --git-dir=/srv/origin.git rev-parse main")
        .trim()
        .to_string();
    // app's own origin for now: git refuses to read a local repository of another user.
    m.exec_ok("useradd -m app && chown -R app: /srv/origin.git");
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git-app", "--as-app"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "changed", "{json:#}");
    assert_eq!(m.exec_ok("stat -c %U /srv/app-checkout/.git").trim(), "app");

    // As app: a second remote URL (git fetches from the first, `config --get` shows the last)
    // whose second line reads as a fact of the remote's commit, a command.
    m.exec_ok(
        "runuser -u app -- env HOME=/home/app git -C /srv/app-checkout config --add remote.origin.url \
         \"$(printf '/srv/origin.git\\nremote=$(id${IFS}-u>/tmp/dm-forged) HEAD')\"",
    );
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git-app", "--as-app"]);
    assert_eq!(
        m.exec_ok("cat /tmp/dm-forged 2>/dev/null || echo none")
            .trim(),
        "none",
        "the forged fact ran a command:\n{}",
        run.describe()
    );
    run.assert_success();
    assert_eq!(status(&json, "app1", "git"), "changed", "{json:#}");
    assert_eq!(
        m.exec_ok("git config -f /srv/app-checkout/.git/config remote.origin.url")
            .trim(),
        "/srv/origin.git",
        "the URL is repaired"
    );
    assert_eq!(
        m.exec_ok("runuser -u app -- env HOME=/home/app git -C /srv/app-checkout rev-parse HEAD")
            .trim(),
        origin
    );

    // As app: a hook, then the checkout moved back so the next run checks out. Managed without
    // `.user("app")`, root must not run git in app's checkout at all.
    m.exec_ok(
        "chown -R root: /srv/origin.git && \
         printf '#!/bin/sh\\nid -u > /tmp/dm-hook\\n' > /tmp/hook && \
         runuser -u app -- install -m 755 /tmp/hook /srv/app-checkout/.git/hooks/post-checkout",
    );
    m.exec_ok(
        "cd /srv/work && echo three >> README && \
         git -c user.name=dm -c user.email=dm@example.invalid commit -q -am three && \
         git push -q /srv/origin.git main",
    );
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-git-app"]);
    assert_eq!(
        m.exec_ok("cat /tmp/dm-hook 2>/dev/null || echo none")
            .trim(),
        "none",
        "app's hook ran as root:\n{}",
        run.describe()
    );
    run.assert_code(1);
    let error = host(&json, "app1")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("owned by app") && error.contains(".user(\"app\")"),
        "{error}"
    );
}

/// Installs git and makes `/srv/origin.git`: three commits on `main`, the first tagged `v1`,
/// and a branch `other` that shallow checkouts of `main` must not fetch.
#[task]
async fn git_origin_setup(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::present(["git"]).no_recommends());
    step.add(
        Command::new(
            "set -e; git init -q -b main /srv/work; cd /srv/work; \
             for i in 1 2 3; do echo $i > f; git add f; \
             git -c user.name=dm -c user.email=dm@example.invalid commit -q -m c$i; \
             [ $i -gt 1 ] || git tag v1; done; git branch other HEAD~1; \
             git clone -q --bare /srv/work /srv/origin.git",
        )
        .creates("/srv/origin.git"),
    );
    step.apply().await?;
    Ok(())
}

/// Shallow checkouts (depth 1) of `main` and of the tag `v1`.
#[task]
async fn git_shallow(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(
        Git::new("file:///srv/origin.git", "/srv/shallow")
            .branch("main")
            .depth(1),
    );
    step.add(
        Git::new("file:///srv/origin.git", "/srv/shallow-tag")
            .tag("v1")
            .depth(1),
    );
    step.apply().await?;
    Ok(())
}

/// A checkout of `commit` in `dest`.
#[task]
async fn git_commit(
    ctx: &Ctx,
    #[arg(help = "destination")] dest: String,
    #[arg(help = "commit")] commit: String,
) -> Result<()> {
    let mut step = ctx.step();
    step.add(Git::new("/srv/origin.git", &dest).commit(&commit));
    step.apply().await?;
    Ok(())
}

/// A checkout of the branch `nope`, which the origin does not have.
#[task]
async fn git_missing_branch(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Git::new("/srv/origin.git", "/srv/nope").branch("nope"));
    step.apply().await?;
    Ok(())
}

/// The statuses of the run's only host's operations.
fn git_statuses(report: &RunReport) -> Vec<OpStatus> {
    report.hosts[0]
        .operations
        .iter()
        .map(|o| o.status)
        .collect()
}

#[test]
fn a_shallow_checkout_fetches_one_commit_of_the_wanted_revision_only() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let setup = dm_run(&fleet, &["-H", "app1", "git-origin-setup"]);
    assert!(setup.success, "{setup:#?}");
    let rev = |args: &str| m.exec_ok(&format!("git {args}")).trim().to_string();
    let state = |dir: &str| {
        m.exec_ok(&format!(
            "cd {dir} && git rev-parse HEAD && git rev-list --count HEAD && test -s .git/shallow && \
             git for-each-ref --format='%(refname)'"
        ))
    };

    let check = dm_run(&fleet, &["--check", "-H", "app1", "git-shallow"]);
    assert!(check.success, "{check:#?}");
    use OpStatus::*;
    assert_eq!(
        git_statuses(&check),
        [WouldChange, WouldChange],
        "{check:#?}"
    );
    assert_eq!(
        m.exec_ok("ls -d /srv/shallow /srv/shallow-tag 2>/dev/null || true"),
        "",
        "check mode cloned"
    );

    let first = dm_run(&fleet, &["-H", "app1", "git-shallow"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(git_statuses(&first), [Changed, Changed], "{first:#?}");
    let main = rev("--git-dir=/srv/origin.git rev-parse main");
    assert_eq!(
        state("/srv/shallow"),
        format!("{main}\n1\nrefs/heads/main\nrefs/remotes/origin/main\n"),
        "one commit of main, and no other branch or tag"
    );
    assert_eq!(rev("-C /srv/shallow symbolic-ref --short HEAD"), "main");
    let v1 = rev("--git-dir=/srv/origin.git rev-parse v1^{commit}");
    assert_eq!(
        state("/srv/shallow-tag"),
        format!("{v1}\n1\nrefs/tags/v1\n")
    );

    let second = dm_run(&fleet, &["-H", "app1", "git-shallow"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(git_statuses(&second), [Ok, Ok], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // A new commit upstream: check mode sees it, the run fetches it, still one commit deep.
    m.exec_ok(
        "cd /srv/work && echo 4 > f && \
         git -c user.name=dm -c user.email=dm@example.invalid commit -q -am c4 && \
         git push -q /srv/origin.git main",
    );
    let check = dm_run(&fleet, &["--check", "-H", "app1", "git-shallow"]);
    assert_eq!(git_statuses(&check), [WouldChange, Ok], "{check:#?}");
    assert_eq!(rev("-C /srv/shallow rev-parse HEAD"), main);
    let third = dm_run(&fleet, &["-H", "app1", "git-shallow"]);
    assert_eq!(git_statuses(&third), [Changed, Ok], "{third:#?}");
    let main = rev("--git-dir=/srv/origin.git rev-parse main");
    assert_eq!(
        m.exec_ok("cd /srv/shallow && git rev-parse HEAD && git rev-list --count HEAD"),
        format!("{main}\n1\n")
    );
}

#[test]
fn a_revision_that_does_not_exist_is_said_so_before_anything_changes() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");
    let setup = dm_run(&fleet, &["-H", "app1", "git-origin-setup"]);
    assert!(setup.success, "{setup:#?}");
    let first = m
        .exec_ok("git --git-dir=/srv/origin.git rev-parse main~2")
        .trim()
        .to_string();
    let error = |report: &RunReport| report.hosts[0].error.clone().unwrap_or_default();

    // No checkout yet: neither check mode nor a run creates anything, and both say why.
    let missing = "1234567890abcdef1234567890abcdef12345678";
    for args in [
        vec![
            "--check",
            "-H",
            "app1",
            "git-commit",
            "/srv/missing",
            missing,
        ],
        vec!["-H", "app1", "git-commit", "/srv/missing", missing],
        vec!["-H", "app1", "git-commit", "/srv/missing", "abcdef1"],
    ] {
        let run = dm_run(&fleet, &args);
        assert!(!run.success, "{run:#?}");
        assert_eq!(git_statuses(&run), [OpStatus::Failed], "{run:#?}");
        assert!(
            error(&run).contains("does not exist in /srv/origin.git")
                && error(&run).contains("nothing was changed"),
            "{args:?}: {}",
            error(&run)
        );
        assert_eq!(m.exec_ok("test -e /srv/missing || echo none"), "none\n");
    }
    let run = dm_run(&fleet, &["-H", "app1", "git-missing-branch"]);
    assert!(
        error(&run).contains("branch `nope` does not exist in /srv/origin.git"),
        "{}",
        error(&run)
    );
    assert_eq!(m.exec_ok("test -e /srv/nope || echo none"), "none\n");

    // A commit no branch tip points at, by its abbreviation: found on the remote, checked out.
    let short = &first[..8];
    let run = dm_run(&fleet, &["-H", "app1", "git-commit", "/srv/pinned", short]);
    assert!(run.success, "{run:#?}");
    assert_eq!(git_statuses(&run), [OpStatus::Changed]);
    let head = || {
        m.exec_ok("git -C /srv/pinned rev-parse HEAD")
            .trim()
            .to_string()
    };
    assert_eq!(head(), first);
    let run = dm_run(&fleet, &["-H", "app1", "git-commit", "/srv/pinned", short]);
    assert_eq!(git_statuses(&run), [OpStatus::Ok], "{run:#?}");
    assert_eq!(run.hosts[0].round_trips, 1, "{run:#?}");

    // An existing checkout asked for a commit that does not exist stays where it is.
    let run = dm_run(
        &fleet,
        &["-H", "app1", "git-commit", "/srv/pinned", missing],
    );
    assert!(error(&run).contains("does not exist"), "{}", error(&run));
    assert_eq!(head(), first);
}
