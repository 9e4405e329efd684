//! The end-of-run summary: one line per host and the totals.

use std::fmt::Write;

use super::RunReport;

/// Renders the summary printed after a run.
pub fn render(report: &RunReport, show_round_trips: bool) -> String {
    let mut out = String::new();
    let width = report
        .hosts
        .iter()
        .map(|h| h.host.as_str())
        .chain(report.not_booted.iter().map(String::as_str))
        .map(str::len)
        .max()
        .unwrap_or(4);
    let environment = match &report.environment {
        Some(env) => format!(" ({env})"),
        None => String::new(),
    };
    let interrupted = if report.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    match report.local_step() {
        // A `local` task that reached no host: there is nothing to count.
        Some(step) if report.host_count() == 0 && report.not_booted.is_empty() => {
            let _ = writeln!(
                out,
                "\n{}{environment}: {} on this machine in {:.2}s{interrupted}",
                report.task, step.status, report.elapsed_secs
            );
        }
        _ => header(&mut out, report),
    }
    if report.operations.total() > 0 {
        let _ = writeln!(out, "operations: {}", op_counts(&report.operations));
    }
    if report.skipped_commands > 0 {
        let _ = writeln!(
            out,
            "--check: {} not run (commands, uploads, downloads that would act)",
            commands(report.skipped_commands)
        );
    }
    for h in &report.hosts {
        let _ = write!(
            out,
            "  {:<width$}  {:<11}  {:>7.2}s",
            h.host, h.status, h.elapsed_secs
        );
        if show_round_trips {
            let _ = write!(out, "  {:>3} round trips", h.round_trips);
        }
        if h.op_counts.total() > 0 {
            let _ = write!(out, "  {}", op_counts(&h.op_counts));
        }
        if !h.skipped_commands.is_empty() {
            let _ = write!(
                out,
                "  {} not run (--check)",
                commands(h.skipped_commands.len())
            );
        }
        if let Some(err) = &h.error {
            let mut lines = err.lines();
            if let Some(first) = lines.next() {
                let _ = write!(out, "  {first}");
            }
            for more in lines {
                let _ = write!(out, "\n  {:width$}  {more}", "");
            }
        }
        out.push('\n');
    }
    for name in &report.not_booted {
        let _ = writeln!(
            out,
            "  {name:<width$}  {:<11}  declared, not booted (run `boot {name}`)",
            "not booted"
        );
    }
    out
}

/// `deploy (production): 2 hosts: 1 ok, 0 failed, 1 unreachable in 3.00s`.
fn header(out: &mut String, report: &RunReport) {
    let c = &report.host_counts;
    let _ = writeln!(
        out,
        "\n{}{}: {} host{}: {} ok, {} failed, {} unreachable{}{}{} in {:.2}s{}",
        report.task,
        match &report.environment {
            Some(env) => format!(" ({env})"),
            None => String::new(),
        },
        report.host_count(),
        if report.host_count() == 1 { "" } else { "s" },
        c.ok,
        c.failed,
        c.unreachable,
        extra_counts(c),
        match report.local_step() {
            Some(step) if step.status != "ok" => format!(", local step {}", step.status),
            _ => String::new(),
        },
        if report.not_booted.is_empty() {
            String::new()
        } else {
            format!(", {} declared, not booted", report.not_booted.len())
        },
        report.elapsed_secs,
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    );
}

/// `1 command`, `3 commands`.
fn commands(n: usize) -> String {
    format!("{n} command{}", if n == 1 { "" } else { "s" })
}

/// The counts shown only when not zero: `, 1 refused, 1 untrusted, 2 skipped`.
fn extra_counts(c: &super::Counts) -> String {
    let mut out = String::new();
    for (n, label) in [
        (c.refused_usage + c.refused_config, "refused"),
        (c.untrusted, "untrusted (host key changed)"),
        (c.skipped, "skipped"),
    ] {
        if n > 0 {
            let _ = write!(out, ", {n} {label}");
        }
    }
    out
}

/// `3 ok, 2 changed`: zero counts are left out, except `ok` and `changed` (which check mode
/// replaces with `would change`).
fn op_counts(c: &super::OpCounts) -> String {
    let mut parts = vec![format!("{} ok", c.ok)];
    if c.would_change > 0 {
        parts.push(format!("{} would change", c.would_change));
    }
    if c.changed > 0 || c.would_change == 0 {
        parts.push(format!("{} changed", c.changed));
    }
    if c.failed > 0 {
        parts.push(format!("{} failed", c.failed));
    }
    if c.skipped > 0 {
        parts.push(format!("{} skipped", c.skipped));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, Outcome};
    use crate::report::RunRecord;
    use std::time::Duration;

    /// How the task ended on one host, as its event says.
    struct HostEnding {
        host: String,
        outcome: Outcome,
        elapsed: Duration,
        round_trips: u64,
    }

    /// The report of a run of `task` whose hosts ended as `results` (the first one is a `local`
    /// task's step when `local`), after `more` events; the run took `elapsed`.
    fn report_of(
        task: &str,
        local: bool,
        results: &[HostEnding],
        more: Vec<Event>,
        elapsed: Duration,
    ) -> RunReport {
        let mut record = RunRecord::new(false);
        record.record(&Event::RunStarted {
            task: task.to_string(),
            hosts: results.iter().map(|r| r.host.clone()).collect(),
            local,
        });
        for event in more {
            record.record(&event);
        }
        for r in results {
            record.record(&Event::HostFinished {
                host: r.host.clone(),
                outcome: r.outcome.clone(),
                elapsed: r.elapsed,
                round_trips: r.round_trips,
                fanned_out: false,
            });
        }
        record.into_report(elapsed)
    }

    #[test]
    fn summary_counts_and_marks_each_host() {
        let results = vec![
            HostEnding {
                host: "app1".into(),
                outcome: Outcome::Ok,
                elapsed: Duration::from_millis(500),
                round_trips: 2,
            },
            HostEnding {
                host: "app2".into(),
                outcome: Outcome::Unreachable("app2: connection lost".into()),
                elapsed: Duration::from_secs(3),
                round_trips: 1,
            },
        ];
        let report = report_of(
            "deploy",
            false,
            &results,
            Vec::new(),
            Duration::from_secs(3),
        );
        assert!(!report.success);
        let text = render(&report, true);
        assert!(
            text.contains("deploy: 2 hosts: 1 ok, 0 failed, 1 unreachable"),
            "{text}"
        );
        assert!(text.contains("app1  ok"), "{text}");
        assert!(text.contains("app2  unreachable"), "{text}");
        assert!(text.contains("2 round trips"), "{text}");
    }

    fn result(host: &str, outcome: Outcome) -> HostEnding {
        HostEnding {
            host: host.into(),
            outcome,
            elapsed: Duration::from_millis(500),
            round_trips: 1,
        }
    }

    #[test]
    fn the_local_step_of_a_local_task_is_not_counted_as_a_host() {
        let mut results = vec![result("local", Outcome::Ok)];
        results.extend(["lb1", "app1", "app2", "db1"].map(|h| result(h, Outcome::Ok)));
        let report = report_of(
            "provision",
            true,
            &results,
            Vec::new(),
            Duration::from_secs(1),
        );
        assert!(report.success);
        assert_eq!(report.host_counts.ok, 4);
        assert_eq!(
            report.counts.ok, 5,
            "the exit code still sees the local step"
        );
        let text = render(&report, false);
        assert!(
            text.contains("provision: 4 hosts: 4 ok, 0 failed"),
            "{text}"
        );
        assert!(
            text.contains("  local "),
            "the local step is still listed: {text}"
        );

        // A local step that failed after its hosts were fine is said in the header.
        results[0] = result("local", Outcome::Failed("the nodes disagree".into()));
        let report = report_of("scale", true, &results, Vec::new(), Duration::from_secs(1));
        assert!(!report.success);
        let text = render(&report, false);
        assert!(
            text.contains("scale: 4 hosts: 4 ok, 0 failed, 0 unreachable, local step failed"),
            "{text}"
        );

        // A local task that reached no host counts nothing.
        let results = vec![result("local", Outcome::Ok)];
        let report = report_of(
            "servers",
            true,
            &results,
            Vec::new(),
            Duration::from_secs(1),
        );
        let text = render(&report, false);
        assert!(
            text.contains("servers: ok on this machine in 1.00s"),
            "{text}"
        );
    }

    #[test]
    fn the_header_names_the_environment() {
        let results = vec![HostEnding {
            host: "app1".into(),
            outcome: Outcome::Ok,
            elapsed: Duration::from_millis(500),
            round_trips: 2,
        }];
        let mut report = report_of(
            "deploy",
            false,
            &results,
            Vec::new(),
            Duration::from_secs(1),
        );
        report.environment = Some("production".into());
        let text = render(&report, false);
        assert!(text.contains("deploy (production): 1 host: 1 ok"), "{text}");
    }

    #[test]
    fn operations_are_counted_per_host_and_in_total() {
        use crate::operation::{OpReport, OpStatus};
        let op = |status| OpReport {
            name: "file /x".into(),
            status,
            description: None,
            diff: None,
            error: None,
        };
        let results = vec![HostEnding {
            host: "app1".into(),
            outcome: Outcome::Ok,
            elapsed: Duration::from_millis(500),
            round_trips: 2,
        }];
        let operations = [OpStatus::Ok, OpStatus::Changed, OpStatus::Changed]
            .map(|status| {
                let op = op(status);
                Event::Operation {
                    host: "app1".into(),
                    name: op.name,
                    status: op.status,
                    description: op.description,
                    diff: op.diff,
                    error: op.error,
                }
            })
            .into();
        let report = report_of("web", false, &results, operations, Duration::from_secs(1));
        assert_eq!(report.operations.changed, 2);
        assert_eq!(report.hosts[0].op_counts.ok, 1);
        let text = render(&report, false);
        assert!(text.contains("operations: 1 ok, 2 changed"), "{text}");
        assert!(
            text.contains("app1  ok") && text.contains("1 ok, 2 changed"),
            "{text}"
        );
    }

    #[test]
    fn commands_check_mode_kept_from_running_are_listed_and_counted() {
        let results = vec![HostEnding {
            host: "app1".into(),
            outcome: Outcome::Ok,
            elapsed: Duration::from_millis(500),
            round_trips: 1,
        }];
        let skipped = ["touch /root/x", "upload /etc/motd"]
            .map(|what| Event::CommandSkipped {
                host: "app1".into(),
                what: what.into(),
            })
            .into();
        let report = report_of("run", false, &results, skipped, Duration::from_secs(1));
        assert_eq!(report.skipped_commands, 2);
        assert_eq!(
            report.hosts[0].skipped_commands,
            ["touch /root/x", "upload /etc/motd"]
        );
        let text = render(&report, false);
        assert!(text.contains("--check: 2 commands not run"), "{text}");
        assert!(text.contains("2 commands not run (--check)"), "{text}");
    }

    #[test]
    fn declared_servers_that_are_not_booted_are_counted_and_named() {
        let results = vec![HostEnding {
            host: "app1".into(),
            outcome: Outcome::Ok,
            elapsed: Duration::from_millis(500),
            round_trips: 1,
        }];
        let mut report = report_of(
            "set-motd",
            false,
            &results,
            Vec::new(),
            Duration::from_secs(1),
        );
        report.not_booted = vec!["lb1".into()];
        assert!(
            report.success,
            "a server that is not booted does not fail the run"
        );
        let text = render(&report, false);
        assert!(
            text.contains("1 host: 1 ok, 0 failed, 0 unreachable, 1 declared, not booted"),
            "{text}"
        );
        assert!(
            text.contains("  lb1   not booted   declared, not booted (run `boot lb1`)"),
            "{text}"
        );
    }
}
