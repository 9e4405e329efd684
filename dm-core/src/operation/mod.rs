//! Operations: idempotent descriptions of the state a host should be in.
//!
//! A task says what it wants (this file with this content, these packages installed, this service
//! running) and dm reads what is there, changes only what differs, and says what it changed.
//! Operations are collected in a [`Step`]; [`Step::apply`] then, per host:
//!
//! 1. reads the facts of every operation in **one** command (one round trip),
//! 2. plans each operation against its fact: nothing to do, or a change with a description and,
//!    for files, a unified diff,
//! 3. stops there in check mode (`--check`): nothing is written,
//! 4. applies all changes in one command where it can (large local files are streamed in their
//!    own command; adjacent apt operations become one apt call),
//! 5. runs the reactions that a changed operation notified, once, at the end,
//! 6. reports every operation as ok / changed / failed.
//!
//! ```no_run
//! use dm_core::ops;
//! # async fn web(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
//! let mut step = ctx.step();
//! step.add(ops::Directory::new("/srv/app").mode(0o755).owner("www-data"));
//! step.add(
//!     ops::File::template("/etc/nginx/sites-enabled/app", "templates/site.conf.j2")
//!         .notify("reload-nginx"),
//! );
//! step.add(ops::Apt::present(["nginx", "curl"]));
//! step.add(ops::Service::new("nginx").enabled().running());
//! step.reaction("reload-nginx", ops::Command::new("nginx -t && systemctl reload nginx"));
//! let report = step.apply().await?;
//! println!("{} changed", report.changed());
//! # Ok(()) }
//! ```
//!
//! Operations run as root: through sudo when the login user is not root; a step made with
//! [`Step::as_login_user`] runs as the login user instead, without sudo.
//!
//! Writing your own operation means implementing [`Operation`]: a read-only shell script that
//! prints the fact, and a pure function from that fact to a [`Plan`].

mod apt;
mod authorized_key;
mod batch;
mod command;
mod component;
mod cron;
mod diff;
mod directory;
mod engine;
mod error;
mod fact;
mod file;
mod gather;
mod git;
mod line;
mod mode;
mod outcome;
mod reaction;
mod service;
mod shell;
mod simulation;
mod symlink;
mod sysctl;
mod template;
mod user;

pub use apt::Apt;
pub use authorized_key::AuthorizedKey;
pub use command::Command;
pub use component::Component;
pub use cron::Cron;
pub use diff::unified_diff;
pub use directory::Directory;
pub use engine::Step;
pub use error::OpError;
pub use fact::{Fact, FileKind, FileStat};
pub use file::File;
pub use git::Git;
pub use line::Line;
pub use outcome::{OpReport, OpStatus, StepReport};
pub use service::Service;
pub use simulation::{Resource, Simulation};
pub use symlink::Symlink;
pub use sysctl::Sysctl;
pub use template::{RenderOptions, TemplateVars};
pub use user::{Group, User};

use std::path::PathBuf;
use std::sync::Arc;

/// A piece of desired state on a host: how to read what is there, and how to get from there to
/// what is wanted.
///
/// The engine calls [`Operation::prepare`] once (locally, before touching any host), then
/// [`Operation::fact_script`] for the gathering command, then [`Operation::plan`] with the parsed
/// fact. Implementations must keep the fact script read-only: check mode runs it too.
pub trait Operation: Send + Sync {
    /// What the operation is about, for reports: `file /etc/motd`, `apt nginx, curl`.
    fn name(&self) -> String;

    /// Local work before any host is touched: render templates, hash local files. An error here
    /// stops the step before anything is written.
    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        let _ = vars;
        Ok(())
    }

    /// A read-only POSIX shell script, run as root (or as the login user, see
    /// [`Step::as_login_user`]), that prints the fact as `key=value` lines
    /// (see [`Fact`]; helpers `dm_stat`, `dm_sha` and `dm_b64` are defined).
    fn fact_script(&self, options: &FactOptions) -> String;

    /// What the operation reads and changes, so that an operation whose fact an earlier change
    /// of the same step made stale is planned against fresh facts.
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// Whether the operation can plan on the predicted content of files that earlier operations
    /// of the step change ([`Simulation::content`]), instead of needing fresh facts.
    fn follows_predictions(&self) -> bool {
        false
    }

    /// Compares the fact with the desired state. `sim` holds what earlier operations of the step
    /// are about to change.
    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError>;

    /// The reactions this operation triggers when it changes something.
    fn notifies(&self) -> &[String] {
        &[]
    }
}

/// What the fact script may include.
#[derive(Debug, Clone, Copy, Default)]
pub struct FactOptions {
    /// `--diff`: include old contents of files that are about to change (small text files only).
    pub diff: bool,
}

/// The result of planning one operation.
#[derive(Debug, Clone)]
pub enum Plan {
    /// The host is already as wanted.
    Ok,
    /// Something must change.
    Change(Change),
}

/// A planned change: what it does, in words and as a diff, and the action that does it.
#[derive(Debug, Clone)]
pub struct Change {
    /// One line: `create (312 bytes, mode 0644)`, `install jq, tree`.
    pub description: String,
    /// A unified diff, for file contents.
    pub diff: Option<String>,
    /// What to run on the host.
    pub action: Action,
}

impl Change {
    /// A change without a diff.
    pub fn new(description: impl Into<String>, action: Action) -> Change {
        Change {
            description: description.into(),
            diff: None,
            action,
        }
    }

    /// Adds a unified diff.
    pub fn with_diff(mut self, diff: Option<String>) -> Change {
        self.diff = diff;
        self
    }
}

/// What applying a change runs on the host.
#[derive(Debug, Clone)]
pub struct Action {
    /// A POSIX shell fragment run as root in a `set -e` subshell. It may call `dm_unchanged` to
    /// report that, at apply time, there was nothing to do after all.
    pub script: String,
    /// Bytes the fragment reads from its standard input (exactly `Input::len` of them, e.g. with
    /// `head -c`). Fragments without input get `/dev/null`.
    pub input: Option<Input>,
    /// Package work that adjacent apt operations share in one apt call.
    pub apt: Option<AptWork>,
}

impl Action {
    /// A shell fragment without input.
    pub fn shell(script: impl Into<String>) -> Action {
        Action {
            script: script.into(),
            input: None,
            apt: None,
        }
    }

    /// A shell fragment that reads `input` from its standard input.
    pub fn with_input(script: impl Into<String>, input: Input) -> Action {
        Action {
            script: script.into(),
            input: Some(input),
            apt: None,
        }
    }
}

/// Bytes sent to the host with an action.
#[derive(Debug, Clone)]
pub enum Input {
    /// Held in memory.
    Bytes(Arc<[u8]>),
    /// Streamed from a local file of this size (large files: sent in a command of their own).
    File {
        /// The local file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
}

impl Input {
    /// How many bytes the fragment must read.
    pub fn len(&self) -> u64 {
        match self {
            Input::Bytes(b) => b.len() as u64,
            Input::File { size, .. } => *size,
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// apt work of one operation; adjacent ones are merged into one apt call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptWork {
    /// Packages to install or upgrade.
    pub install: Vec<String>,
    /// Packages to remove.
    pub remove: Vec<String>,
    /// Purge configuration files when removing.
    pub purge: bool,
    /// Refresh the package lists first (they are stale, or a package is unknown).
    pub update: bool,
    /// An `Apt::update()` operation is among the merged ones: the refresh is itself the
    /// change, even when the install finds nothing to do.
    pub refresh: bool,
    /// Install recommended packages too.
    pub recommends: bool,
}

/// Adds `.notify(reaction)` to operation builders that keep their reactions in `self.notify`.
macro_rules! notify_builder {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Triggers the reaction of this name (see [`Step::reaction`](crate::operation::Step::reaction)) when this operation
            /// changes something. Reactions run once, at the end of the step, never in check mode.
            pub fn notify(mut self, reaction: &str) -> Self {
                self.notify.push(reaction.to_string());
                self
            }
        }
    )*};
}
pub(crate) use notify_builder;

/// Checks that a path given to an operation is absolute and printable in facts.
pub(crate) fn check_path(op: &str, path: &str) -> Result<(), OpError> {
    if !path.starts_with('/') {
        return Err(OpError::invalid(
            op,
            format!("`{path}` is not an absolute path; write it from the root, e.g. /etc/{path}"),
        ));
    }
    if path.contains('\n') || path.contains('\0') {
        return Err(OpError::invalid(
            op,
            "the path contains a newline or NUL byte",
        ));
    }
    Ok(())
}
