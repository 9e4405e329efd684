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
        .run_in_terminal(b"", std::time::Duration::ZERO);
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
