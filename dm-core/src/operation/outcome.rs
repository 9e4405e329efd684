//! What a step did: one report per operation and reaction.

use serde::Serialize;

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

/// One operation's part of a step.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// The operation, e.g. `file /etc/motd` (reactions: `reaction NAME: ...`).
    pub name: String,
    /// How it ended.
    pub status: OpStatus,
    /// What it changed or would change.
    pub description: Option<String>,
    /// The unified diff of a file's content (with `--diff`).
    pub diff: Option<String>,
    /// Why it failed: its standard error, or why it could not be planned.
    pub error: Option<String>,
}

/// What [`Step::apply`](super::Step::apply) did on one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    /// Operations then triggered reactions, in the order they ran.
    pub operations: Vec<OpReport>,
    /// Whether this was a check (`--check`): nothing was changed.
    pub check: bool,
}

impl StepReport {
    /// How many operations (and reactions) changed something, or would in check mode.
    pub fn changed(&self) -> usize {
        self.count(OpStatus::Changed) + self.count(OpStatus::WouldChange)
    }

    /// How many operations found nothing to do.
    pub fn ok(&self) -> usize {
        self.count(OpStatus::Ok)
    }

    /// Whether the operation named `name` changed something (or would).
    pub fn did_change(&self, name: &str) -> bool {
        self.operations.iter().any(|o| {
            o.name == name && matches!(o.status, OpStatus::Changed | OpStatus::WouldChange)
        })
    }

    fn count(&self, status: OpStatus) -> usize {
        self.operations
            .iter()
            .filter(|o| o.status == status)
            .count()
    }
}
