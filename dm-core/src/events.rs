//! Events: what happens during a run, told to the reporter as it happens.
//!
//! Everything that acts during a run (the executor, a task's context, operations, the output of
//! commands) sends events; the reporter alone reads them, shows them live and builds the run's
//! report from them. This module imports nothing else of dm: the words events are made of (how a
//! host ended, an operation's status, an output stream) live here, so that every part that sends
//! events can use them without importing the others.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

/// One thing that happened during a run, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run starts: the task and the hosts it will run on.
    RunStarted {
        /// Task name.
        task: String,
        /// Host names, in order (`local` alone for a `local` task).
        hosts: Vec<String>,
        /// Whether the task is `local`: its one "host" is its step on the controlling machine,
        /// which the report lists but does not count as a host.
        local: bool,
    },
    /// A task fans out to more hosts than the run started with ([`crate::Ctx::on_hosts`]).
    HostsAdded {
        /// Host names.
        hosts: Vec<String>,
    },
    /// Work on a host starts (connecting, then the task).
    HostStarted {
        /// Host name.
        host: String,
    },
    /// A whole line of a command's output.
    Output {
        /// Host name (`local` for commands on the controlling machine).
        host: String,
        /// Which stream.
        stream: Stream,
        /// The line, without its line ending.
        line: String,
    },
    /// A command is about to run (shown with `-v`).
    Command {
        /// Host name.
        host: String,
        /// The command as the task gave it (never with secrets such as sudo passwords).
        command: String,
    },
    /// `--check` kept a command, an upload or a download from running because the task did not
    /// mark it read-only (see [`crate::ctx::Run::check_safe`]).
    CommandSkipped {
        /// Host name (`local` for commands on the controlling machine).
        host: String,
        /// What did not run: the command (or what `-v` would show for it), `upload PATH`,
        /// `download PATH`.
        what: String,
    },
    /// A host is done.
    HostFinished {
        /// Host name.
        host: String,
        /// How it ended.
        outcome: Outcome,
        /// Wall time on this host.
        elapsed: Duration,
        /// SSH channels opened on this host (each one a round trip).
        round_trips: u64,
        /// Whether a task fanned out to the host ([`crate::Ctx::on_hosts`]) rather than the run
        /// starting its task there: the report has one entry per host, whatever reached it.
        fanned_out: bool,
    },
    /// An operation was planned or applied on a host (see [`crate::operation`]).
    Operation {
        /// Host name.
        host: String,
        /// The operation, e.g. `file /etc/motd`.
        name: String,
        /// Ok, changed, would change, failed or skipped.
        status: OpStatus,
        /// What it changed or would change.
        description: Option<String>,
        /// A unified diff of a file's content (with `--diff`).
        diff: Option<String>,
        /// Why it failed.
        error: Option<String>,
    },
    /// Work a task left for after every host finished ([`crate::Ctx::after_all_hosts`]) is
    /// done. It counts as the asking host's: its failure is that host's.
    AfterAllHostsDone {
        /// The host that asked for it.
        host: String,
        /// What the work is called.
        name: String,
        /// How it ended.
        outcome: Outcome,
        /// How long it took.
        elapsed: Duration,
    },
    /// The run was interrupted: no new host starts.
    Interrupted,
}

/// How the task ended on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task succeeded.
    Ok,
    /// The task returned an error.
    Failed(String),
    /// The task refused its input before acting: a bad argument (exit code 2) or a name the
    /// inventory does not know (exit code 3).
    Refused(Refusal, String),
    /// The host could not be reached or vanished mid-run.
    Unreachable(String),
    /// The host offered a key that differs from the one recorded in known_hosts: possibly an
    /// interception, never a network fault. Nothing ran there.
    Untrusted(String),
    /// The host never started: the run was interrupted or stopped by `--fail-fast`.
    Skipped(String),
}

/// What kind of input a task refused (see [`Outcome::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A bad value on the command line (`boot 'app;id'`).
    Usage,
    /// A name the inventory does not know, or an inventory that is wrong (`ssh nosuchserver`).
    Config,
}

impl Outcome {
    /// The one-word status shown in the summary and the JSON report.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Refused(..) => "refused",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::Untrusted(_) => "untrusted",
            Outcome::Skipped(_) => "skipped",
        }
    }

    /// The error message, if the host did not succeed.
    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Failed(m)
            | Outcome::Refused(_, m)
            | Outcome::Unreachable(m)
            | Outcome::Untrusted(m)
            | Outcome::Skipped(m) => Some(m),
        }
    }
}

/// Sends events to the reporter. Cheap to clone; sending never blocks and never fails the run
/// (a reporter that has gone away just stops listening).
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<Event>,
}

impl EventSender {
    /// A sender and the receiver the reporter reads from.
    pub fn channel() -> (EventSender, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EventSender { tx }, rx)
    }

    /// Sends an event.
    pub fn send(&self, event: Event) {
        // The reporter lives until the run ends; if it is gone, there is nobody left to tell.
        let _ = self.tx.send(event);
    }
}

/// Which output stream of a command a chunk of bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Nothing to do: the host was already as wanted.
    Ok,
    /// Changed the host.
    Changed,
    /// Check mode: would change the host.
    WouldChange,
    /// Failed; the host's remaining operations did not run.
    Failed,
    /// Did not run because an earlier operation failed (or, for a reaction, nothing notified it).
    Skipped,
}

impl OpStatus {
    /// The word shown in output and reports.
    pub fn label(self) -> &'static str {
        match self {
            OpStatus::Ok => "ok",
            OpStatus::Changed => "changed",
            OpStatus::WouldChange => "would change",
            OpStatus::Failed => "failed",
            OpStatus::Skipped => "skipped",
        }
    }
}
