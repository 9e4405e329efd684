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

/// The message for two registered tasks with one name, if there are any: each names the module
/// (and so the crate) it comes from, so a fabfile that links a plugin or the standard library
/// learns which of its tasks to rename, instead of clap refusing to build the command line.
pub fn name_clash(tasks: &[&'static TaskDef]) -> Option<String> {
    let mut sorted: Vec<&TaskDef> = tasks.to_vec();
    sorted.sort_by_key(|t| (t.name, t.module_path));
    let pair = sorted.windows(2).find(|w| w[0].name == w[1].name)?;
    let (first, second) = (pair[0], pair[1]);
    Some(format!(
        "two tasks are named `{name}`: one in {a} (crate {ca}), one in {b} (crate {cb}); \
         rename one of them, e.g. #[task(name = \"{name}-2\")]",
        name = first.name,
        a = first.module_path,
        b = second.module_path,
        ca = crate_of(first.module_path),
        cb = crate_of(second.module_path),
    ))
}

/// The crate a `module_path!()` belongs to: its first segment.
fn crate_of(module_path: &str) -> &str {
    module_path.split("::").next().unwrap_or(module_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_args() -> Vec<clap::Arg> {
        Vec::new()
    }

    fn never_run<'a>(_: &'a Ctx, _: &'a clap::ArgMatches) -> TaskFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn task(name: &'static str, module_path: &'static str) -> &'static TaskDef {
        Box::leak(Box::new(TaskDef {
            name,
            doc: "",
            roles: &[],
            serial: None,
            parallel: None,
            once: false,
            local: false,
            hosts_arg: None,
            args: no_args,
            run: never_run,
            module_path,
        }))
    }

    #[test]
    fn two_tasks_of_one_name_are_refused_naming_both_crates() {
        let tasks = [
            task("deploy", "dm_tasks::deploy"),
            task("stamp", "shop"),
            task("deploy", "shop::release"),
        ];
        let message = name_clash(&tasks).expect("a clash");
        assert!(
            message.contains("two tasks are named `deploy`"),
            "{message}"
        );
        assert!(
            message.contains("dm_tasks::deploy (crate dm_tasks)"),
            "{message}"
        );
        assert!(message.contains("shop::release (crate shop)"), "{message}");
        assert!(
            message.contains("#[task(name = \"deploy-2\")]"),
            "{message}"
        );
    }

    #[test]
    fn tasks_of_different_names_do_not_clash() {
        let tasks = [task("deploy", "dm_tasks::deploy"), task("stamp", "shop")];
        assert_eq!(name_clash(&tasks), None);
    }
}
