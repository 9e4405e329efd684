//! A task runs on every selected host in parallel, or in serial batches, and the summary says so.

use dm_tests::*;

#[test]
fn task_runs_on_all_hosts_at_once_and_the_summary_counts_them() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let run = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "stamp", "--seconds", "2"])
        .run();
    run.assert_success();
    let spans: Vec<(f64, f64)> = ["app1", "app2", "app3"]
        .iter()
        .map(|h| stamps(&run, h))
        .collect();
    let last_start = spans.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    let first_end = spans.iter().map(|s| s.1).fold(f64::MAX, f64::min);
    assert!(
        last_start < first_end,
        "hosts did not overlap (ran one after another?): {spans:?}\n{}",
        run.describe()
    );
    assert!(
        run.stderr()
            .contains("stamp: 3 hosts: 3 ok, 0 failed, 0 unreachable"),
        "{}",
        run.describe()
    );
    for host in ["app1", "app2", "app3"] {
        assert!(
            run.stderr()
                .lines()
                .any(|l| l.trim_start().starts_with(host) && l.contains(" ok ")),
            "no ok line for {host}:\n{}",
            run.describe()
        );
    }
}

#[test]
fn serial_batches_start_only_after_the_previous_batch_ended() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let run = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "stamp-serial", "--seconds", "1"])
        .run();
    run.assert_success();
    let (s1, e1) = stamps(&run, "app1");
    let (s2, e2) = stamps(&run, "app2");
    let (s3, _) = stamps(&run, "app3");
    assert!(s1 < e2 && s2 < e1, "first batch did not run together");
    assert!(
        s3 >= e1.max(e2),
        "app3 started at {s3} before the first batch ended at {}",
        e1.max(e2)
    );
}

#[test]
fn json_report_lists_every_host_with_status_output_and_round_trips() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let run = Dm::new(&fleet)
        .args(["--json", "-H", "app1,app2", "fail-on", "app2"])
        .run();
    run.assert_code(1);
    let report = run.json();
    assert_eq!(report["task"], "fail-on");
    assert_eq!(report["success"], false);
    assert_eq!(report["counts"]["ok"], 1);
    assert_eq!(report["counts"]["failed"], 1);
    let hosts = report["hosts"].as_array().expect("hosts array");
    assert_eq!(hosts[0]["host"], "app1");
    assert_eq!(hosts[0]["status"], "ok");
    assert_eq!(hosts[0]["output"][0]["line"], "fine");
    assert!(hosts[0]["round_trips"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(hosts[1]["status"], "failed");
    let error = hosts[1]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("exit status 3") && error.contains("about to fail"),
        "{error}"
    );
}

#[test]
fn live_progress_shows_on_a_terminal_and_lines_stay_whole() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    // On a terminal the progress bar is drawn.
    let run = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "stamp", "--seconds", "1.5"])
        .run_in_terminal(b"");
    let text = run.stdout();
    assert!(text.contains("hosts done"), "no progress display:\n{text}");
    assert!(text.contains("running: app1, app2, app3"), "{text}");
    for host in ["app1", "app2", "app3"] {
        let whole = text
            .lines()
            .filter(|l| l.contains(&format!("[{host}] end ")))
            .count();
        assert_eq!(whole, 1, "{host}'s last line is missing or torn:\n{text}");
    }
}

/// The most hosts whose `(start, end)` spans (the hosts' own clocks) overlap at one moment.
fn most_at_once(spans: &[(f64, f64)]) -> usize {
    // A sweep over the starts and ends; at equal times an end comes first, so a host that
    // started the moment another ended is not counted as running beside it.
    let mut events: Vec<(f64, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn at_most_n_hosts_run_at_once_with_dash_p_or_a_parallel_task() {
    let names = ["app1", "app2", "app3", "app4", "app5"];
    let fleet = fleet(&names.map(|n| (n, &[] as &[&str])));
    let hosts = names.join(",");
    // `-p 2` on a plain task, and a task declared `parallel = 2` with the default `-p`: each
    // host's commands stamp their start and end with its own clock (the machines share this
    // kernel's clock), and the sweep over the spans counts how many ran at once.
    for args in [
        vec!["-p", "2", "-H", &hosts, "stamp", "--seconds", "1"],
        vec!["-H", &hosts, "stamp-parallel", "--seconds", "1"],
    ] {
        let run = Dm::new(&fleet).args(&args).run();
        run.assert_success();
        let spans: Vec<(f64, f64)> = names.iter().map(|h| stamps(&run, h)).collect();
        assert_eq!(
            most_at_once(&spans),
            2,
            "{args:?}: not at most two at once (and two did start together): {spans:?}\n{}",
            run.describe()
        );
    }
    // `-p` lowers a task's own limit: `-p 1` runs `parallel = 2` one host at a time.
    let run = Dm::new(&fleet)
        .args([
            "-p",
            "1",
            "-H",
            "app1,app2,app3",
            "stamp-parallel",
            "--seconds",
            "0.5",
        ])
        .run();
    run.assert_success();
    let spans: Vec<(f64, f64)> = names[..3].iter().map(|h| stamps(&run, h)).collect();
    assert_eq!(most_at_once(&spans), 1, "{spans:?}\n{}", run.describe());
}

#[test]
fn the_overlap_count_sees_hosts_running_together() {
    assert_eq!(most_at_once(&[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]), 1);
    assert_eq!(most_at_once(&[(0.0, 2.0), (1.0, 3.0), (2.5, 4.0)]), 2);
    assert_eq!(most_at_once(&[(0.0, 3.0), (1.0, 3.0), (2.0, 3.0)]), 3);
}
