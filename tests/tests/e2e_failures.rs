//! Failures stay with their host: a host that dies mid-run or a failing task never loses another
//! host's work, and the summary and exit code tell what happened.

use std::time::Duration;

use dm_tests::*;

#[test]
fn host_powered_off_mid_run_is_unreachable_and_the_others_finish() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let mut child = Dm::new(&fleet)
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
    // Off while its command runs (its `sleep` is under way), so only keepalives can tell that
    // the silent connection is dead.
    wait_for_process(fleet.machine("app2"), "sleep", &mut child);
    fleet.machine("app2").power_off();
    let run = Run::from_output(
        vec!["stamp".into()],
        wait_with_deadline(child, RUN_DEADLINE, &["stamp".into()]),
    );
    run.assert_code(4);
    assert!(
        run.host_lines("app2")
            .iter()
            .any(|l| l.starts_with("start ")),
        "app2 went away before its command started:\n{}",
        run.describe()
    );
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
    let mut child = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "stamp-serial", "--seconds", "3"])
        .spawn();
    // Interrupted while the first batch's commands run.
    wait_for_process(fleet.machine("app1"), "sleep", &mut child);
    wait_for_process(fleet.machine("app2"), "sleep", &mut child);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = wait_with_deadline(child, RUN_DEADLINE, &["stamp-serial".into()]);
    let run = Run::from_output(vec!["stamp-serial".into()], output);
    run.assert_code(130);
    stamps(&run, "app1");
    stamps(&run, "app2");
    assert!(run.host_lines("app3").is_empty(), "{}", run.describe());
    run.assert_output_contains("(interrupted)");
    run.assert_output_contains("1 skipped");
}

/// Whether the process whose pid `machine` wrote to `pidfile` still runs there.
fn remote_process_alive(machine: &dm::testing::Machine, pidfile: &str) -> bool {
    let out = machine
        .exec(&format!("kill -0 \"$(cat {pidfile})\""))
        .expect("ssh to the test machine");
    out.status.success()
}

#[test]
fn a_second_ctrl_c_ends_the_commands_dm_started_on_the_hosts() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let pidfile = "/tmp/dm-abandoned-sleep.pid";
    let mut child = Dm::new(&fleet)
        .args([
            "-H",
            "app1,app2",
            "run",
            &format!("echo $$ > {pidfile}.new && mv {pidfile}.new {pidfile} && exec sleep 300"),
        ])
        .spawn();
    // Ready when both hosts run the sleep (its pid written, atomically).
    let ready = std::time::Instant::now();
    while !fleet
        .machines()
        .iter()
        .all(|m| remote_process_alive(m, pidfile))
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dm ended before it could be interrupted: {status}");
        }
        assert!(
            ready.elapsed() < Duration::from_secs(30),
            "the sleep did not start on both hosts"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // dm prints a line when it saw the first Ctrl-C: the second one must come after it.
    let stderr = child.stderr.take().expect("dm's stderr is piped");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let interrupt = || {
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    interrupt();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("dm did not acknowledge the first Ctrl-C");
        if line.contains("interrupted: no new hosts start") {
            break;
        }
    }
    interrupt();
    let output = wait_with_deadline(child, Duration::from_secs(30), &["run".to_string()]);
    let stderr = reader.join().expect("stderr reader");
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    // Checked from outside: the sleeps are gone from both machines' process lists.
    let gone = std::time::Instant::now();
    for machine in fleet.machines() {
        while remote_process_alive(machine, pidfile) {
            assert!(
                gone.elapsed() < Duration::from_secs(10),
                "the command dm started on {} still runs after dm abandoned it:\n{}\n{}",
                machine.name(),
                machine.exec_ok("ps -eo pid,pgid,args"),
                stderr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
