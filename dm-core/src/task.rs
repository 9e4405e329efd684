//! Tasks: what `#[task]` registers and the CLI offers as subcommands.

use std::future::Future;
use std::pin::Pin;

use crate::Ctx;

/// The future a registered task returns when run on one host.
pub type TaskFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// One task, as registered by `#[task]` (or by hand through [`inventory::submit!`]).
///
/// The executor runs [`TaskDef::run`] once per selected host, each with its own [`Ctx`].
#[derive(Debug)]
pub struct TaskDef {
    /// The subcommand name: the function name with `_` turned into `-`.
    pub name: &'static str,
    /// The full doc comment of the task function; its first line is the summary in `--list`.
    pub doc: &'static str,
    /// Roles the task runs on when the user selects no hosts or roles (`roles = ["appnode"]`).
    pub roles: &'static [&'static str],
    /// Run hosts in batches of this size, one batch after another (`serial = 2`).
    pub serial: Option<usize>,
    /// At most this many hosts at once (`parallel = 5`); the CLI's `--parallel` is the default.
    pub parallel: Option<usize>,
    /// Run on the first selected host only (`once`).
    pub once: bool,
    /// Run once on the controlling machine instead of on hosts (`local`); `ctx.run` runs locally.
    pub local: bool,
    /// The id of the task's `#[arg(hosts)]` argument: its `SERVER|ROLE` values select hosts,
    /// added to `-H` and `-R` (`provision appnode2` is `-H appnode2 provision`).
    pub hosts_arg: Option<&'static str>,
    /// The task's own command-line arguments, built from its parameters.
    pub args: fn() -> Vec<clap::Arg>,
    /// Runs the task on one host with the parsed arguments.
    pub run: for<'a> fn(&'a Ctx, &'a clap::ArgMatches) -> TaskFuture<'a>,
    /// `module_path!()` of the task function, to tell the user's tasks from the standard ones.
    pub module_path: &'static str,
}

inventory::collect!(TaskDef);

impl TaskDef {
    /// The first line of the doc comment: the one-line summary shown by `--list`.
    pub fn summary(&self) -> &'static str {
        self.doc
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }
}

/// Every task linked into this binary, sorted by name.
pub fn registered() -> Vec<&'static TaskDef> {
    let mut tasks: Vec<&'static TaskDef> = inventory::iter::<TaskDef>.into_iter().collect();
    tasks.sort_by_key(|t| t.name);
    tasks
}

/// Looks a task up by its subcommand name.
pub fn find(name: &str) -> Option<&'static TaskDef> {
    inventory::iter::<TaskDef>
        .into_iter()
        .find(|t| t.name == name)
}
