//! Reporting: live output while a run goes on, and the end-of-run summary or JSON report.
//!
//! The [`reporter`] is the only writer of the terminal during a run: every line reaches it as an
//! event and is printed whole, so output of different hosts interleaves by line, never mid-line.

pub mod reporter;
pub mod summary;

use std::time::Duration;

use serde::Serialize;

use crate::executor::HostResult;
use crate::executor::events::Outcome;

pub use reporter::{Reporter, ReporterOptions};

/// The outcome of a whole run, as printed in the summary and the `--json` report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The task that ran.
    pub task: String,
    /// Whether every host succeeded.
    pub success: bool,
    /// Whether the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Wall time of the whole run, in seconds.
    pub elapsed_secs: f64,
    /// Counts by status.
    pub counts: Counts,
    /// One entry per host, in host order.
    pub hosts: Vec<HostReport>,
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
}

/// One host's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// Host name.
    pub host: String,
    /// `ok`, `failed`, `unreachable` or `skipped`.
    pub status: &'static str,
    /// The error, when not ok.
    pub error: Option<String>,
    /// Wall time on this host, in seconds.
    pub elapsed_secs: f64,
    /// SSH channels opened on this host (round trips).
    pub round_trips: u64,
    /// The host's output lines, in order (`--json` only; empty otherwise).
    pub output: Vec<OutputLine>,
}

/// One line of a host's output in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct OutputLine {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The line.
    pub line: String,
}

impl RunReport {
    /// Builds the report from the executor's results and the output the reporter collected.
    pub fn new(
        task: &str,
        results: &[HostResult],
        mut outputs: std::collections::HashMap<String, Vec<OutputLine>>,
        elapsed: Duration,
        interrupted: bool,
    ) -> RunReport {
        let mut counts = Counts::default();
        let hosts = results
            .iter()
            .map(|r| {
                match r.outcome {
                    Outcome::Ok => counts.ok += 1,
                    Outcome::Failed(_) => counts.failed += 1,
                    Outcome::Unreachable(_) => counts.unreachable += 1,
                    Outcome::Skipped(_) => counts.skipped += 1,
                }
                HostReport {
                    host: r.host.clone(),
                    status: r.outcome.label(),
                    error: r
                        .outcome
                        .message()
                        .map(|m| crate::redact::redact(m).into_owned()),
                    elapsed_secs: r.elapsed.as_secs_f64(),
                    round_trips: r.round_trips,
                    output: outputs.remove(&r.host).unwrap_or_default(),
                }
            })
            .collect();
        RunReport {
            task: task.to_string(),
            success: !interrupted && counts.ok == results.len(),
            interrupted,
            elapsed_secs: elapsed.as_secs_f64(),
            counts,
            hosts,
        }
    }
}
