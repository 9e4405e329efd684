//! A failing operation stops its host's step (not other hosts'), names the operation and shows
//! its stderr; a template with an undefined variable fails before anything is written.

use crate::ops_support;

use dm_tests::*;
use ops_support::*;

#[test]
fn a_failing_operation_stops_only_its_hosts_remaining_operations() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let (run, json) = run_json(&fleet, &["-H", "app1,app2", "ops-fail-on", "app1"]);
    run.assert_code(1);

    // app1: the first change is applied and reported, the failing one named with its stderr,
    // the third never ran.
    assert_eq!(status(&json, "app1", "file /root/ops-first"), "changed");
    assert_eq!(status(&json, "app1", "command `if"), "failed");
    assert_eq!(status(&json, "app1", "file /root/ops-third"), "skipped");
    let error = host(&json, "app1")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("operation `command `if") && error.contains("failed with exit status 3"),
        "the error names the operation: {error}"
    );
    assert!(
        error.contains("disk on fire"),
        "the error shows stderr: {error}"
    );
    assert!(
        error.contains("1 earlier change of this step were applied"),
        "{error}"
    );
    let app1 = fleet.machine("app1");
    assert_eq!(app1.exec_ok("cat /root/ops-first").trim(), "first");
    assert_eq!(
        app1.exec_ok("test -e /root/ops-third || echo absent")
            .trim(),
        "absent"
    );

    // app2 ran its whole step.
    assert_eq!(host(&json, "app2")["status"], "ok");
    assert_eq!(count(&json, "app2", "changed"), 3);
    assert_eq!(
        fleet.machine("app2").exec_ok("cat /root/ops-third").trim(),
        "third"
    );

    // Without --json the failure is printed with the operation's name and stderr.
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "ops-fail-on", "app1"])
        .run();
    run.assert_code(1);
    run.assert_output_contains("[app1] failed: command `if");
    run.assert_output_contains("disk on fire");
}

#[test]
fn an_undefined_template_variable_fails_before_anything_is_written() {
    let fleet = fleet(&[("app1", &[])]);
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-undefined-var"]);
    run.assert_code(1);
    let error = host(&json, "app1")["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("template site.conf.j2:3: undefined variable `server_nmae`"),
        "the error names file, line and variable: {error}"
    );
    // Not even the facts were read: the template failed on the controller.
    assert_eq!(round_trips(&json, "app1"), 0, "{json:#}");
    assert_eq!(
        fleet
            .machine("app1")
            .exec_ok("test -e /root/ops-before || echo absent")
            .trim(),
        "absent"
    );
}
