//! What a step did: one report per operation and reaction.

use serde::Serialize;

pub use crate::events::OpStatus;

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
