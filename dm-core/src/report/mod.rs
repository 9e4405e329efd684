//! Reporting: live output while a run goes on, and the end-of-run summary or JSON report.
//!
//! The [`reporter`] is the only writer of the terminal during a run: every line reaches it as an
//! event and is printed whole, so output of different hosts interleaves by line, never mid-line.
//! It owns the events: the run's report is built from them alone ([`record`]).

pub mod record;
pub mod reporter;
pub mod summary;

use std::time::Duration;

use serde::Serialize;

use crate::events::{Outcome, Refusal};
use crate::operation::{OpReport, OpStatus};

pub use record::{JSON_LINES_PER_HOST, RunRecord};
pub use reporter::{Reporter, ReporterOptions};

/// The outcome of a whole run, as printed in the summary and the `--json` report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The task that ran.
    pub task: String,
    /// The environment of the run (`-E`, else the inventory's `default_environment`).
    pub environment: Option<String>,
    /// Whether every host succeeded.
    pub success: bool,
    /// Whether the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Wall time of the whole run, in seconds.
    pub elapsed_secs: f64,
    /// Counts by status (a `local` task's step on this machine included: the exit code
    /// follows it too).
    pub counts: Counts,
    /// Counts by status of the hosts only, without a `local` task's step on this machine: what
    /// the summary's header counts.
    #[serde(skip)]
    pub host_counts: Counts,
    /// Operations of every host, by status (see [`crate::operation`]).
    pub operations: OpCounts,
    /// Commands, uploads and downloads that `--check` kept from running, on every host.
    pub skipped_commands: usize,
    /// One entry per host, in host order.
    pub hosts: Vec<HostReport>,
    /// The exit status a task asked the run to end with, without a summary (see
    /// [`crate::Ctx::exit_as`]).
    #[serde(skip)]
    pub exit_as: Option<u8>,
    /// Servers the selection covers that the inventory declares but that are not booted (for
    /// this environment): the run could not reach them (`boot NAME` boots one).
    pub not_booted: Vec<String>,
}

/// How many hosts ended in each status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Hosts where the task succeeded.
    pub ok: usize,
    /// Hosts where the task failed.
    pub failed: usize,
    /// Hosts that could not be reached or vanished.
    pub unreachable: usize,
    /// Hosts never started (interrupt, fail-fast).
    pub skipped: usize,
    /// Hosts whose task refused a bad argument before acting (exit code 2).
    pub refused_usage: usize,
    /// Hosts whose task refused a name the inventory does not know (exit code 3).
    pub refused_config: usize,
    /// Hosts whose key did not match known_hosts (exit code 5).
    pub untrusted: usize,
}

impl Counts {
    /// The count an outcome adds to.
    fn of(&mut self, outcome: &Outcome) -> &mut usize {
        match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Failed(_) => &mut self.failed,
            Outcome::Refused(Refusal::Usage, _) => &mut self.refused_usage,
            Outcome::Refused(Refusal::Config, _) => &mut self.refused_config,
            Outcome::Unreachable(_) => &mut self.unreachable,
            Outcome::Untrusted(_) => &mut self.untrusted,
            Outcome::Skipped(_) => &mut self.skipped,
        }
    }
}

/// One host's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// Host name.
    pub host: String,
    /// Whether this is the part of a `local` task that ran on the controlling machine (named
    /// `local`) rather than a host: [`RunReport::host_counts`] leaves it out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
    /// `ok`, `failed`, `refused`, `unreachable`, `untrusted` or `skipped`.
    pub status: &'static str,
    /// The error, when not ok.
    pub error: Option<String>,
    /// Wall time on this host, in seconds.
    pub elapsed_secs: f64,
    /// SSH channels opened on this host (round trips).
    pub round_trips: u64,
    /// The host's output lines, in order (`--json` only; empty otherwise).
    pub output: Vec<OutputLine>,
    /// The host's operations by status.
    pub op_counts: OpCounts,
    /// Every operation planned or applied on the host, with what it changed (or would).
    pub operations: Vec<OpReport>,
    /// Commands, uploads and downloads on this host that `--check` kept from running, in order
    /// (see [`crate::ctx::Run::check_safe`]).
    pub skipped_commands: Vec<String>,
}

/// How many operations ended in each status.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct OpCounts {
    /// Nothing to do.
    pub ok: usize,
    /// Changed the host.
    pub changed: usize,
    /// Would change the host (`--check`).
    pub would_change: usize,
    /// Failed.
    pub failed: usize,
    /// Not run after a failure.
    pub skipped: usize,
}

impl OpCounts {
    /// Counts `ops` by status.
    pub fn of(ops: &[OpReport]) -> OpCounts {
        let mut c = OpCounts::default();
        for op in ops {
            c.add(op.status, 1);
        }
        c
    }

    fn add(&mut self, status: OpStatus, n: usize) {
        match status {
            OpStatus::Ok => self.ok += n,
            OpStatus::Changed => self.changed += n,
            OpStatus::WouldChange => self.would_change += n,
            OpStatus::Failed => self.failed += n,
            OpStatus::Skipped => self.skipped += n,
        }
    }

    fn sum(&mut self, other: &OpCounts) {
        self.ok += other.ok;
        self.changed += other.changed;
        self.would_change += other.would_change;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// How many operations there were.
    pub fn total(&self) -> usize {
        self.ok + self.changed + self.would_change + self.failed + self.skipped
    }
}

/// One line of a host's output in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct OutputLine {
    /// `stdout` or `stderr` (`dm` for dm's own note that earlier lines were left out).
    pub stream: &'static str,
    /// The line.
    pub line: String,
}

impl RunReport {
    /// Builds the report from what the events said of each host, in report order (see
    /// [`RunRecord`]).
    fn new(
        task: &str,
        hosts: Vec<record::HostEntry>,
        elapsed: Duration,
        interrupted: bool,
    ) -> RunReport {
        let redact = |text: &str| crate::redact::redact(text).into_owned();
        let mut skipped_total = 0;
        let mut counts = Counts::default();
        let mut op_totals = OpCounts::default();
        let host_count = hosts.len();
        let hosts = hosts
            .into_iter()
            .map(|entry| {
                *counts.of(&entry.outcome) += 1;
                let op_counts = OpCounts::of(&entry.operations);
                op_totals.sum(&op_counts);
                skipped_total += entry.skipped_commands.len();
                HostReport {
                    local: false,
                    status: entry.outcome.label(),
                    error: entry.outcome.message().map(redact),
                    elapsed_secs: entry.elapsed.as_secs_f64(),
                    round_trips: entry.round_trips,
                    output: entry.output,
                    op_counts,
                    operations: entry
                        .operations
                        .into_iter()
                        .map(|mut op| {
                            op.description = op.description.as_deref().map(redact);
                            op.diff = op.diff.as_deref().map(redact);
                            op.error = op.error.as_deref().map(redact);
                            op
                        })
                        .collect(),
                    skipped_commands: entry.skipped_commands.iter().map(|c| redact(c)).collect(),
                    host: entry.host,
                }
            })
            .collect();
        RunReport {
            task: task.to_string(),
            environment: None,
            success: !interrupted && counts.ok == host_count,
            interrupted,
            elapsed_secs: elapsed.as_secs_f64(),
            host_counts: counts.clone(),
            counts,
            operations: op_totals,
            skipped_commands: skipped_total,
            hosts,
            exit_as: None,
            not_booted: Vec::new(),
        }
    }

    /// Marks the first entry as the local step of a `local` task (which ended with `outcome`):
    /// it stays in the list and in [`RunReport::counts`] but is not a host, so the header's
    /// counts leave it out ("provision: 4 hosts" for 4 servers, not 5).
    fn mark_local_step(&mut self, outcome: &Outcome) {
        if let Some(first) = self.hosts.first_mut() {
            first.local = true;
            let count = self.host_counts.of(outcome);
            *count = count.saturating_sub(1);
        }
    }

    /// The local step of a `local` task, if this run had one.
    pub fn local_step(&self) -> Option<&HostReport> {
        self.hosts.first().filter(|h| h.local)
    }

    /// How many hosts the run covered (the local step of a `local` task is not one).
    pub fn host_count(&self) -> usize {
        self.hosts.iter().filter(|h| !h.local).count()
    }
}
