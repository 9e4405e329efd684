//! Failures stay with their host: a host that dies mid-run or a failing task never loses another
//! host's work, and the summary and exit code tell what happened.

use std::time::Duration;

use dm_tests::*;

#[test]
fn host_powered_off_mid_run_is_unreachable_and_the_others_finish() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let child = Dm::new(&fleet)
        .args([
            "--keepalive",
            "1",
            "-H",
            "app1,app2,app3",
            "stamp",
            "--seconds",
            "4",
        ])
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    fleet.machine("app2").power_off();
    let output = child.wait_with_output().expect("dm ends");
    let run = Run::from_output(vec!["stamp".into()], output);
    run.assert_code(4);
    for host in ["app1", "app3"] {
        let (start, end) = stamps(&run, host);
        assert!(end - start >= 3.9, "{host} did not complete its work");
    }
    assert!(
        run.stderr()
            .contains("stamp: 3 hosts: 2 ok, 0 failed, 1 unreachable"),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr()
            .lines()
            .any(|l| l.trim_start().starts_with("app2") && l.contains("unreachable")),
        "{}",
        run.describe()
    );
}

#[test]
fn failing_host_does_not_stop_the_others_but_fail_fast_does() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let run = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "fail-on", "app1"])
        .run();
    run.assert_code(1);
    run.assert_output_contains("about to fail");
    assert_eq!(run.host_lines("app2"), ["fine"]);
    assert_eq!(run.host_lines("app3"), ["fine"]);
    run.assert_output_contains("3 hosts: 2 ok, 1 failed");

    let run = Dm::new(&fleet)
        .args([
            "--fail-fast",
            "--serial",
            "1",
            "-H",
            "app1,app2,app3",
            "fail-on",
            "app1",
        ])
        .run();
    run.assert_code(1);
    assert!(run.host_lines("app2").is_empty(), "{}", run.describe());
    run.assert_output_contains("2 skipped");
}

#[test]
fn ctrl_c_stops_new_hosts_lets_running_ones_finish_and_exits_130() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let child = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "stamp-serial", "--seconds", "3"])
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("dm ends");
    let run = Run::from_output(vec!["stamp-serial".into()], output);
    run.assert_code(130);
    stamps(&run, "app1");
    stamps(&run, "app2");
    assert!(run.host_lines("app3").is_empty(), "{}", run.describe());
    run.assert_output_contains("(interrupted)");
    run.assert_output_contains("1 skipped");
}
