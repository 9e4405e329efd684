//! The run's record: the report built from the events alone.
//!
//! The reporter hands every event of a run to a [`RunRecord`]; at the end the record becomes the
//! [`RunReport`]. Nothing else feeds the report: what a host did (its ending, output, operations,
//! commands `--check` kept from running) is what its events said.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::{OutputLine, RunReport};
use crate::events::{Event, Outcome, Stream};
use crate::operation::OpReport;

/// The most output lines of one host the `--json` report keeps: a `logs --follow` or a chatty
/// build must not grow dm's memory without bound. The last ones are kept (they hold the end,
/// and the error); a first line says how many earlier ones were left out.
pub const JSON_LINES_PER_HOST: usize = 10_000;

/// What the events of a run said so far, host by host.
#[derive(Debug, Default)]
pub struct RunRecord {
    /// Whether output lines are kept (`--json`).
    keep_output: bool,
    /// The task, from [`Event::RunStarted`].
    task: String,
    /// Whether the run is a `local` task's (its first entry is its step on this machine).
    local: bool,
    /// Whether the run was interrupted.
    interrupted: bool,
    /// Host names in report order: the run's hosts as it started them, then hosts tasks fanned
    /// out to, in the order they first finished.
    order: Vec<String>,
    /// How each host ended so far.
    endings: HashMap<String, Ending>,
    /// Output lines by host (`--json` only).
    outputs: HashMap<String, KeptLines>,
    /// Operations by host, in the order they were reported.
    operations: HashMap<String, Vec<OpReport>>,
    /// Commands `--check` kept from running, by host, in order.
    skipped_commands: HashMap<String, Vec<String>>,
}

/// How one piece of work on a host ended.
#[derive(Debug, Clone)]
struct Finished {
    outcome: Outcome,
    elapsed: Duration,
    round_trips: u64,
}

/// How a host ended: the run's task there, the fan-outs that reached it, and the work it left
/// for after every host finished. A host is one entry of the report whatever reached it.
#[derive(Debug, Default)]
struct Ending {
    /// The run's own task on the host.
    task: Option<Finished>,
    /// Every fan-out to the host, merged: one after the other, so their times add up.
    fanned_out: Option<Finished>,
    /// The work the host left for after every host finished ([`Event::AfterAllHostsDone`]),
    /// merged: it runs after the rest, so its time adds up.
    after_all_hosts: Option<Finished>,
}

impl Finished {
    /// Merges `later` into this: the first ending that is not ok wins, round trips add up, and
    /// `elapsed` says how the two times combine.
    fn merge(&mut self, later: Finished, elapsed: fn(Duration, Duration) -> Duration) {
        self.elapsed = elapsed(self.elapsed, later.elapsed);
        self.round_trips += later.round_trips;
        if self.outcome == Outcome::Ok {
            self.outcome = later.outcome;
        }
    }
}

impl Ending {
    /// The host's one entry: the task's ending unless it was ok, round trips added up; the
    /// task's time and the fan-outs' overlap, so the longer of the two; the work after every
    /// host finished comes last, and a failure of it is the host's if nothing failed before.
    /// Also that work's error when the host had failed already (shown in its output instead).
    fn merged(self) -> Option<(Finished, Option<String>)> {
        let before = match (self.task, self.fanned_out) {
            (Some(mut task), Some(fanned)) => {
                task.merge(fanned, Duration::max);
                Some(task)
            }
            (task, fanned) => task.or(fanned),
        };
        match (before, self.after_all_hosts) {
            (Some(mut before), Some(after)) => {
                let hidden = (before.outcome != Outcome::Ok)
                    .then(|| after.outcome.message().map(str::to_string))
                    .flatten();
                before.merge(after, |a, b| a + b);
                Some((before, hidden))
            }
            (before, after) => before.or(after).map(|ending| (ending, None)),
        }
    }
}

impl RunRecord {
    /// An empty record; `keep_output` keeps each host's output lines (for `--json`).
    pub fn new(keep_output: bool) -> RunRecord {
        RunRecord {
            keep_output,
            ..RunRecord::default()
        }
    }

    /// Adds one ending of `host` to the slot of its [`Ending`] that `slot` picks (a second one
    /// in the same slot came after the first: times add up), and puts the host in report order
    /// if it is new.
    fn add_ending(
        &mut self,
        host: &str,
        finished: Finished,
        slot: impl FnOnce(&mut Ending) -> &mut Option<Finished>,
    ) {
        if !self.order.iter().any(|known| known == host) {
            self.order.push(host.to_string());
        }
        let slot = slot(self.endings.entry(host.to_string()).or_default());
        match slot {
            Some(earlier) => earlier.merge(finished, |a, b| a + b),
            None => *slot = Some(finished),
        }
    }

    /// Takes `event` into the record.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::RunStarted { task, hosts, local } => {
                self.task.clone_from(task);
                self.local = *local;
                for host in hosts {
                    if !self.order.contains(host) {
                        self.order.push(host.clone());
                    }
                }
            }
            Event::HostFinished {
                host,
                outcome,
                elapsed,
                round_trips,
                fanned_out,
            } => {
                let finished = Finished {
                    outcome: outcome.clone(),
                    elapsed: *elapsed,
                    round_trips: *round_trips,
                };
                // A task may fan out to a host twice, one after the other: times add up.
                self.add_ending(host, finished, |ending| {
                    if *fanned_out {
                        &mut ending.fanned_out
                    } else {
                        &mut ending.task
                    }
                });
            }
            Event::Output { host, stream, line } if self.keep_output => {
                self.outputs
                    .entry(host.clone())
                    .or_default()
                    .push(OutputLine {
                        stream: match stream {
                            Stream::Stdout => "stdout",
                            Stream::Stderr => "stderr",
                        },
                        line: crate::redact::redact(line).into_owned(),
                    });
            }
            Event::CommandSkipped { host, what } => {
                self.skipped_commands
                    .entry(host.clone())
                    .or_default()
                    .push(what.clone());
            }
            Event::Operation {
                host,
                name,
                status,
                description,
                diff,
                error,
            } => {
                self.operations
                    .entry(host.clone())
                    .or_default()
                    .push(OpReport {
                        name: name.clone(),
                        status: *status,
                        description: description.clone(),
                        diff: diff.clone(),
                        error: error.clone(),
                    });
            }
            Event::AfterAllHostsDone {
                host,
                outcome,
                elapsed,
                ..
            } => {
                let finished = Finished {
                    outcome: outcome.clone(),
                    elapsed: *elapsed,
                    round_trips: 0,
                };
                self.add_ending(host, finished, |ending| &mut ending.after_all_hosts);
            }
            Event::Interrupted => self.interrupted = true,
            Event::HostsAdded { .. }
            | Event::HostStarted { .. }
            | Event::Output { .. }
            | Event::Command { .. } => {}
        }
    }

    /// The report of the run recorded, which took `elapsed`.
    pub fn into_report(mut self, elapsed: Duration) -> RunReport {
        let mut hosts = Vec::new();
        for host in std::mem::take(&mut self.order) {
            let Some((ending, hidden)) = self.endings.remove(&host).and_then(Ending::merged) else {
                continue;
            };
            let mut output = self.outputs.remove(&host).unwrap_or_default();
            if let Some(error) = hidden.filter(|_| self.keep_output) {
                // The host's entry keeps its first error: a later one is said in its output.
                for line in error.lines() {
                    output.push(OutputLine {
                        stream: "stdout",
                        line: crate::redact::redact(line).into_owned(),
                    });
                }
            }
            hosts.push(HostEntry {
                output: output.into_lines(),
                operations: self.operations.remove(&host).unwrap_or_default(),
                skipped_commands: self.skipped_commands.remove(&host).unwrap_or_default(),
                outcome: ending.outcome,
                elapsed: ending.elapsed,
                round_trips: ending.round_trips,
                host,
            });
        }
        let local_step = self
            .local
            .then(|| hosts.first().map(|h| h.outcome.clone()))
            .flatten();
        let mut report = RunReport::new(&self.task, hosts, elapsed, self.interrupted);
        if let Some(outcome) = local_step {
            report.mark_local_step(&outcome);
        }
        report
    }
}

/// What the record knows of one host, for [`RunReport::new`].
#[derive(Debug)]
pub(super) struct HostEntry {
    pub(super) host: String,
    pub(super) outcome: Outcome,
    pub(super) elapsed: Duration,
    pub(super) round_trips: u64,
    pub(super) output: Vec<OutputLine>,
    pub(super) operations: Vec<OpReport>,
    pub(super) skipped_commands: Vec<String>,
}

/// One host's output lines for the JSON report: the last [`JSON_LINES_PER_HOST`] of them.
#[derive(Debug, Default)]
struct KeptLines {
    lines: VecDeque<OutputLine>,
    dropped: usize,
}

impl KeptLines {
    fn push(&mut self, line: OutputLine) {
        if self.lines.len() == JSON_LINES_PER_HOST {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    fn into_lines(self) -> Vec<OutputLine> {
        let mut out = Vec::with_capacity(self.lines.len() + 1);
        if self.dropped > 0 {
            out.push(OutputLine {
                stream: "dm",
                line: format!(
                    "[{} earlier lines were not kept: the report keeps the last {JSON_LINES_PER_HOST} of each host]",
                    self.dropped
                ),
            });
        }
        out.extend(self.lines);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(host: &str, outcome: Outcome, secs: u64, round_trips: u64, fanned: bool) -> Event {
        Event::HostFinished {
            host: host.to_string(),
            outcome,
            elapsed: Duration::from_secs(secs),
            round_trips,
            fanned_out: fanned,
        }
    }

    #[test]
    fn a_host_that_ran_the_task_and_was_fanned_out_to_is_one_entry() {
        let mut record = RunRecord::new(false);
        record.record(&Event::RunStarted {
            task: "launch".into(),
            hosts: vec!["app1".into(), "lb1".into()],
            local: false,
        });
        // app1's task fans out to app1 itself (twice, one after the other) and to db1.
        record.record(&finished("app1", Outcome::Failed("x".into()), 1, 2, true));
        record.record(&finished("db1", Outcome::Ok, 2, 1, true));
        record.record(&finished("app1", Outcome::Ok, 1, 0, true));
        record.record(&finished("lb1", Outcome::Ok, 4, 3, false));
        record.record(&finished("app1", Outcome::Ok, 10, 6, false));
        let report = record.into_report(Duration::from_secs(10));
        let hosts: Vec<&str> = report.hosts.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["app1", "lb1", "db1"]);
        assert_eq!(report.hosts[0].status, "failed");
        assert_eq!(report.hosts[0].error.as_deref(), Some("x"));
        assert_eq!(report.hosts[0].round_trips, 8);
        assert_eq!(report.hosts[0].elapsed_secs, 10.0);
        assert_eq!(report.counts.ok, 2);
    }

    #[test]
    fn work_after_all_hosts_counts_as_the_asking_hosts() {
        let after = |host: &str, outcome: Outcome| Event::AfterAllHostsDone {
            host: host.to_string(),
            name: "dns".to_string(),
            outcome,
            elapsed: Duration::from_secs(1),
        };
        let mut record = RunRecord::new(true);
        record.record(&Event::RunStarted {
            task: "launch".into(),
            hosts: vec!["lb1".into(), "app1".into()],
            local: false,
        });
        record.record(&finished("lb1", Outcome::Ok, 4, 3, false));
        record.record(&finished(
            "app1",
            Outcome::Failed("build".into()),
            2,
            1,
            false,
        ));
        record.record(&after("lb1", Outcome::Failed("dns: refused".into())));
        record.record(&after("app1", Outcome::Failed("dns: refused".into())));
        let report = record.into_report(Duration::from_secs(5));
        let (lb1, app1) = (&report.hosts[0], &report.hosts[1]);
        assert_eq!((lb1.status, lb1.elapsed_secs), ("failed", 5.0));
        assert_eq!(lb1.error.as_deref(), Some("dns: refused"));
        // A host that had failed already keeps its error; the later one is in its output.
        assert_eq!(app1.error.as_deref(), Some("build"));
        let output: Vec<&str> = app1.output.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(output, ["dns: refused"]);
        assert!(!report.success);
    }

    #[test]
    fn fan_outs_to_a_host_one_after_the_other_add_up() {
        let mut record = RunRecord::new(false);
        record.record(&Event::RunStarted {
            task: "scale".into(),
            hosts: vec!["local".into()],
            local: true,
        });
        record.record(&finished("app2", Outcome::Ok, 3, 4, true));
        record.record(&finished(
            "app2",
            Outcome::Unreachable("gone".into()),
            2,
            1,
            true,
        ));
        record.record(&finished("local", Outcome::Ok, 6, 0, false));
        let report = record.into_report(Duration::from_secs(6));
        let app2 = &report.hosts[1];
        assert_eq!(report.hosts[0].host, "local");
        assert!(report.hosts[0].local);
        assert_eq!(
            (app2.status, app2.elapsed_secs, app2.round_trips),
            ("unreachable", 5.0, 5)
        );
        assert_eq!(report.host_count(), 1);
    }
}
