//! apt packages: installed in one apt call, then nothing to do; a removed package is noticed,
//! reported by check mode without installing it, and installed again.

use crate::ops_support;

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
