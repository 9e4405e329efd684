//! A job's arguments, given as JSON, checked and parsed by the task's own command-line model
//! (the `clap::Arg`s `#[task]` generates): the API accepts exactly what the command line
//! accepts, with the same parsers, and a refusal names every argument that is wrong.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, ArgMatches, Command};
use dm_core::TaskDef;
use serde_json::Value;

/// Whether an argument is a positional one (no `--name`).
pub fn is_positional(arg: &Arg) -> bool {
    arg.get_long().is_none() && arg.get_short().is_none()
}

/// Whether an argument is a `--name` switch (a `bool` parameter).
pub fn is_flag(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::SetTrue)
}

/// Whether an argument takes several values (a `Vec<T>` parameter).
pub fn is_multiple(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
}

/// `arg` alone in a command, optional and without relations to other arguments: to run its
/// value parser on one value.
fn alone(arg: &Arg) -> Command {
    Command::new("value")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(
            arg.clone()
                .required(false)
                .conflicts_with(clap::builder::Resettable::<clap::Id>::Reset),
        )
}

/// The words that give `values` to `arg` on a command line.
fn words(arg: &Arg, values: &[String]) -> Vec<String> {
    if is_positional(arg) {
        let mut words = vec!["--".to_string()];
        words.extend(values.iter().cloned());
        words
    } else {
        let long = arg.get_long().map(str::to_string).unwrap_or_else(|| {
            // `#[task]` gives every named argument a long name; a short-only one is spelled so.
            arg.get_short().map(|s| s.to_string()).unwrap_or_default()
        });
        values.iter().map(|v| format!("--{long}={v}")).collect()
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").to_string()
}

/// Whether `value` parses as a value of `arg` (with the argument's own parser).
pub fn parses(arg: &Arg, value: &str) -> Result<(), String> {
    let mut line = words(arg, &[value.to_string()]);
    if is_flag(arg) {
        line.truncate(0);
    }
    alone(arg)
        .try_get_matches_from(line)
        .map(drop)
        .map_err(|e| clap_message(&e))
}

/// How one JSON value reads as command-line text, or why it cannot.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The JSON type a problem message expects for `arg`.
fn expected(arg: &Arg) -> &'static str {
    if is_flag(arg) {
        "true or false"
    } else if is_multiple(arg) {
        "a list of values"
    } else {
        "a string or number"
    }
}

/// Checks `args` (a JSON object of argument name to value) against `task`'s arguments and
/// parses them into the matches its function reads. Every problem is named: unknown names,
/// missing required arguments, values of the wrong JSON type, values the argument's parser
/// refuses.
pub fn parse(task: &TaskDef, args: &Value) -> Result<ArgMatches, Vec<String>> {
    let empty = serde_json::Map::new();
    let given = match args {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            return Err(vec![
                "`args` must be an object of argument names to values".into(),
            ]);
        }
    };
    let declared = (task.args)();
    let mut problems = Vec::new();
    for name in given.keys() {
        if !declared.iter().any(|a| a.get_id().as_str() == name) {
            let known: Vec<&str> = declared.iter().map(|a| a.get_id().as_str()).collect();
            let takes = if known.is_empty() {
                "takes no arguments".to_string()
            } else {
                format!("takes {}", known.join(", "))
            };
            problems.push(format!(
                "unknown argument `{name}`: task `{}` {takes}",
                task.name
            ));
        }
    }
    let (mut named, mut positional) = (Vec::new(), Vec::new());
    let mut values_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for arg in &declared {
        let id = arg.get_id().as_str();
        let value = given.get(id).filter(|v| !v.is_null());
        let Some(value) = value else {
            if arg.is_required_set() {
                problems.push(format!("missing argument `{id}` ({})", expected(arg)));
            }
            continue;
        };
        if is_flag(arg) {
            match value {
                Value::Bool(true) => named.push(format!(
                    "--{}",
                    arg.get_long().unwrap_or(arg.get_id().as_str())
                )),
                Value::Bool(false) => {}
                _ => problems.push(format!("argument `{id}`: expected true or false")),
            }
            continue;
        }
        let texts: Option<Vec<String>> = match value {
            Value::Array(items) if is_multiple(arg) => items.iter().map(text_of).collect(),
            Value::Array(_) => None,
            single => text_of(single).map(|t| vec![t]),
        };
        let Some(texts) = texts else {
            problems.push(format!("argument `{id}`: expected {}", expected(arg)));
            continue;
        };
        let mut ok = true;
        for text in &texts {
            if let Err(message) = parses(arg, text) {
                problems.push(format!("argument `{id}`: {message}"));
                ok = false;
            }
        }
        if ok {
            values_of.insert(id.to_string(), texts.clone());
            if is_positional(arg) {
                positional.extend(texts);
            } else {
                named.extend(words(arg, &texts));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut line = named;
    if !positional.is_empty() {
        line.push("--".to_string());
        line.extend(positional);
    }
    Command::new(task.name)
        .no_binary_name(true)
        .disable_help_flag(true)
        .args(declared)
        .try_get_matches_from(line)
        .map_err(|e| vec![clap_message(&e)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::value_parser;
    use serde_json::json;

    fn args() -> Vec<Arg> {
        vec![
            Arg::new("name")
                .value_name("NAME")
                .value_parser(value_parser!(String))
                .action(ArgAction::Set)
                .required(true),
            Arg::new("count")
                .long("count")
                .value_name("COUNT")
                .value_parser(value_parser!(u32))
                .action(ArgAction::Set),
            Arg::new("seconds")
                .long("seconds")
                .value_parser(value_parser!(f64))
                .action(ArgAction::Set)
                .default_value("1"),
            Arg::new("force").long("force").action(ArgAction::SetTrue),
            Arg::new("tag")
                .long("tag")
                .value_parser(value_parser!(String))
                .action(ArgAction::Append),
        ]
    }

    fn task() -> &'static TaskDef {
        Box::leak(Box::new(TaskDef {
            name: "mark",
            doc: "",
            roles: &[],
            serial: None,
            parallel: None,
            once: false,
            local: false,
            hosts_arg: None,
            args,
            run: |_, _| Box::pin(async { Ok(()) }),
            module_path: "",
        }))
    }

    #[test]
    fn values_of_every_json_type_reach_the_tasks_parsers() {
        let m = parse(
            task(),
            &json!({"name": "-dash-first", "count": 3, "force": true, "tag": ["a", "b"]}),
        )
        .unwrap();
        assert_eq!(m.get_one::<String>("name").unwrap(), "-dash-first");
        assert_eq!(*m.get_one::<u32>("count").unwrap(), 3);
        assert_eq!(*m.get_one::<f64>("seconds").unwrap(), 1.0);
        assert!(m.get_flag("force"));
        let tags: Vec<&String> = m.get_many::<String>("tag").unwrap().collect();
        assert_eq!(tags, ["a", "b"]);
    }

    #[test]
    fn every_wrong_argument_is_named_at_once() {
        let problems = parse(
            task(),
            &json!({"count": "many", "seconds": [1], "force": "yes", "colour": 1}),
        )
        .unwrap_err();
        let all = problems.join("\n");
        assert_eq!(problems.len(), 5, "{all}");
        assert!(all.contains("unknown argument `colour`"), "{all}");
        assert!(all.contains("missing argument `name`"), "{all}");
        assert!(
            all.contains("argument `count`: invalid value 'many'"),
            "{all}"
        );
        assert!(all.contains("argument `seconds`: expected"), "{all}");
        assert!(
            all.contains("argument `force`: expected true or false"),
            "{all}"
        );
    }

    #[test]
    fn a_value_cannot_smuggle_in_a_flag() {
        let m = parse(task(), &json!({"name": "x", "count": "1 --force"}));
        assert!(m.is_err());
        let m = parse(task(), &json!({"name": "--force"})).unwrap();
        assert!(!m.get_flag("force"));
    }
}
