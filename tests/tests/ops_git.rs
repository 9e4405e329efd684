//! git checkouts: a missing git is an error naming the fix; a checkout follows its branch,
//! is repaired when moved by hand, reported by check mode without moving, and refuses to
//! discard local modifications unless forced.

use crate::ops_support;

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
