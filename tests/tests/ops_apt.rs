//! apt packages: installed in one apt call, then nothing to do; a removed package is noticed,
//! reported by check mode without installing it, and installed again. The package lists
//! refreshed on their own when stale; pinned versions (exact and globs) installed once.

use std::time::Duration;

use crate::ops_support;

use dm::ops::{Apt, OpStatus};
use dm::prelude::*;
use dm::testing::Fleet;
use dm_tests::dm_run;
use ops_support::*;

#[test]
fn packages_install_once_are_checked_and_repaired() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let m = fleet.machine("app1");

    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-apt"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "apt tree"), "changed", "{json:#}");
    assert_eq!(status(&json, "app1", "apt jq"), "changed", "{json:#}");
    // Both adjacent apt operations shared one apply command: gather + apply.
    assert_eq!(round_trips(&json, "app1"), 2, "{json:#}");
    m.exec_ok("dpkg -s tree jq >/dev/null");

    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-apt"]);
    run.assert_success();
    assert_eq!(count(&json, "app1", "changed"), 0, "{json:#}");
    assert_eq!(round_trips(&json, "app1"), 1);

    m.exec_ok("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tree >/dev/null");
    let (run, json) = run_json(&fleet, &["--check", "-H", "app1", "ops-apt"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "apt tree"), "would_change");
    assert_eq!(status(&json, "app1", "apt jq"), "ok");
    assert_eq!(
        m.exec_ok("dpkg -s tree >/dev/null 2>&1 || echo missing")
            .trim(),
        "missing",
        "check mode installed the package"
    );

    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-apt"]);
    run.assert_success();
    assert_eq!(status(&json, "app1", "apt tree"), "changed");
    assert_eq!(status(&json, "app1", "apt jq"), "ok");
    m.exec_ok("dpkg -s tree >/dev/null");
}

/// The package lists refreshed when older than an hour.
#[task]
async fn apt_refresh(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::update().cache_valid(Duration::from_secs(3600)));
    step.apply().await?;
    Ok(())
}

/// A version the lists do not have.
#[task]
async fn apt_bad_pin(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::present(["tree=9.9-9"]));
    step.apply().await?;
    Ok(())
}

/// An exact version and a version glob.
#[task]
async fn apt_pins(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::present(["tree=2.1.0-1", "jq=1.6*"]));
    step.apply().await?;
    Ok(())
}

const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";

#[test]
fn lists_refresh_on_their_own_and_pinned_versions_install_once() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    // Lists three days old, never refreshed on this machine.
    m.exec_ok(&format!(
        "rm -f {STAMP}; find /var/lib/apt/lists -name '*_Packages*' -exec touch -d '3 days ago' {{}} +"
    ));
    let lists =
        "ls -l --time-style=+%s /var/lib/apt/lists; ls /var/lib/apt/periodic 2>/dev/null; true";
    let before = m.exec_ok(lists);

    // Check mode: the refresh would happen, nothing is fetched.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "apt-refresh"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(statuses(&check), [OpStatus::WouldChange], "{check:#?}");
    assert_eq!(m.exec_ok(lists), before, "check mode refreshed the lists");

    // First run refreshes; the second finds them fresh, in one round trip.
    let first = dm_run(&fleet, &["-H", "app1", "apt-refresh"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(statuses(&first), [OpStatus::Changed], "{first:#?}");
    assert_eq!(
        m.exec_ok(&format!(
            "[ $(( $(date +%s) - $(stat -c %Y {STAMP}) )) -lt 600 ] && echo fresh"
        )),
        "fresh\n"
    );
    let second = dm_run(&fleet, &["-H", "app1", "apt-refresh"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(statuses(&second), [OpStatus::Ok], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // With fresh lists, a version they do not have is an error before anything is installed.
    let bad = dm_run(&fleet, &["-H", "app1", "apt-bad-pin"]);
    assert!(!bad.success, "{bad:#?}");
    let error = bad.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("no version of tree matching `9.9-9`"),
        "{error}"
    );
    let installed = "dpkg-query -W -f='${Package} ${Version}\\n' tree jq 2>/dev/null; true";
    assert_eq!(m.exec_ok(installed), "");

    // Pins: check mode installs nothing, the first run installs those versions, the second
    // finds them, in one round trip.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "apt-pins"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(statuses(&check), [OpStatus::WouldChange], "{check:#?}");
    assert_eq!(m.exec_ok(installed), "");
    let first = dm_run(&fleet, &["-H", "app1", "apt-pins"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(statuses(&first), [OpStatus::Changed], "{first:#?}");
    let versions = m.exec_ok(installed);
    assert!(
        versions.starts_with("jq 1.6") && versions.ends_with("\ntree 2.1.0-1\n"),
        "{versions}"
    );
    let second = dm_run(&fleet, &["-H", "app1", "apt-pins"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(statuses(&second), [OpStatus::Ok], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
}
