//! The tasks the API offers, described from the same registry and `clap::Arg`s the command line
//! is generated from: one source of truth for names, parameters, defaults and help.

use clap::Arg;
use dm_core::TaskDef;
use serde::Serialize;

use crate::job_args::{is_flag, is_multiple, is_positional, parses};

/// One parameter of a task.
#[derive(Debug, Clone, Serialize)]
pub struct ParamModel {
    /// The argument's name in a job's `args`.
    pub name: String,
    /// The JSON type of its values: `string`, `integer`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether it takes a list of values.
    pub multiple: bool,
    /// Whether the command line takes it positionally (`deploy main` rather than `--branch`).
    pub positional: bool,
    /// Whether a job must give it.
    pub required: bool,
    /// Its default, as the command line would read it.
    pub default: Option<String>,
    /// Its help text.
    pub help: Option<String>,
}

/// One task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskModel {
    /// Its name.
    pub name: &'static str,
    /// The first line of its doc comment.
    pub summary: &'static str,
    /// Its whole doc comment.
    pub doc: &'static str,
    /// The roles it runs on when a job selects no hosts or roles.
    pub roles: &'static [&'static str],
    /// Whether it runs once on the server's machine rather than on hosts.
    pub local: bool,
    /// Whether it runs on the first selected host only.
    pub once: bool,
    /// Hosts run in batches of this size.
    pub serial: Option<usize>,
    /// At most this many hosts at once.
    pub parallel: Option<usize>,
    /// Its parameters, in order.
    pub params: Vec<ParamModel>,
}

/// The tasks a job may run: every registered one but `serve` itself.
pub fn offered() -> Vec<&'static TaskDef> {
    dm_core::task::registered()
        .into_iter()
        .filter(|t| t.name != crate::TASK_NAME)
        .collect()
}

/// An offered task by name.
pub fn find(name: &str) -> Option<&'static TaskDef> {
    offered().into_iter().find(|t| t.name == name)
}

/// The JSON type of an argument's values, found by asking its own parser: what takes any text
/// is a string, what takes `1` but not `1.5` an integer, what takes both a number.
fn kind(arg: &Arg) -> &'static str {
    if is_flag(arg) {
        "boolean"
    } else if parses(arg, "x").is_ok() || parses(arg, "1").is_err() {
        "string"
    } else if parses(arg, "1.5").is_ok() {
        "number"
    } else {
        "integer"
    }
}

/// A task's description.
pub fn model(task: &'static TaskDef) -> TaskModel {
    let params = (task.args)()
        .iter()
        .map(|arg| ParamModel {
            name: arg.get_id().to_string(),
            kind: kind(arg),
            multiple: is_multiple(arg),
            positional: is_positional(arg),
            required: arg.is_required_set(),
            default: arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned()),
            help: arg.get_help().map(ToString::to_string),
        })
        .collect();
    TaskModel {
        name: task.name,
        summary: task.summary(),
        doc: task.doc,
        roles: task.roles,
        local: task.local,
        once: task.once,
        serial: task.serial,
        parallel: task.parallel,
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{ArgAction, value_parser};

    #[test]
    fn parameter_types_come_from_the_arguments_parsers() {
        let arg = |parser: clap::builder::ValueParser| {
            Arg::new("a")
                .long("a")
                .value_parser(parser)
                .action(ArgAction::Set)
        };
        assert_eq!(kind(&arg(value_parser!(String))), "string");
        assert_eq!(kind(&arg(value_parser!(u16).into())), "integer");
        assert_eq!(kind(&arg(value_parser!(f64).into())), "number");
        assert_eq!(
            kind(&Arg::new("f").long("f").action(ArgAction::SetTrue)),
            "boolean"
        );
    }
}
