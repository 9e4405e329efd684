//! Tables of inventory variables that a library reads (`[vars.app]`, `[vars.postgres]`), checked
//! when the inventory loads, so that `kind = "wgsi"` is an error naming `dm.toml:LINE:COLUMN` and
//! the key path instead of a failure deep inside `launch`.
//!
//! A library registers each table it reads with [`inventory::submit!`], e.g. dm's standard
//! library for `app`:
//!
//! ```
//! use dm_core::inventory::{VarsProblem, VarsTable};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Greeting {
//!     text: String,
//! }
//!
//! dm_core::__private::inventory::submit! {
//!     VarsTable {
//!         name: "greeting",
//!         read_by: "my fabfile's `greet` task",
//!         check: |value| VarsProblem::deserialize::<Greeting>(value).map(drop),
//!     }
//! }
//! ```

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use super::source::Source;
use crate::error::Error;
use crate::host::Host;

/// A table of inventory variables that some task reads, checked on every server whose merged
/// vars have it, each time the inventory loads.
#[derive(Debug)]
pub struct VarsTable {
    /// The variable's name: `app` checks `[vars.app]` (and the same table in role, environment
    /// and server vars).
    pub name: &'static str,
    /// Who reads it, for the error message: `dm's deploy and appnode tasks`.
    pub read_by: &'static str,
    /// Checks the table's merged value.
    pub check: fn(&serde_json::Value) -> Result<(), VarsProblem>,
}

inventory::collect!(VarsTable);

/// What is wrong with a table of variables, and where inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarsProblem {
    /// The keys from the table down to the wrong value (`["processes", "web", "kind"]`); empty
    /// when the problem is about the table as a whole.
    pub path: Vec<String>,
    /// What is wrong and what to write.
    pub message: String,
}

impl VarsProblem {
    /// A problem with the value at `path` inside the table.
    pub fn at(path: &[&str], message: impl Into<String>) -> VarsProblem {
        VarsProblem {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }

    /// Converts `value` to `T`, or says which key inside it has the wrong type or value.
    pub fn deserialize<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, VarsProblem> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            VarsProblem {
                path,
                message: e.into_inner().to_string(),
            }
        })
    }
}

/// Checks the registered tables of every host's vars; the first problem becomes an error at
/// the place in the file that gave the wrong value.
pub(crate) fn check_hosts(
    src: &Source<'_>,
    environment: Option<&str>,
    hosts: &[Host],
) -> Result<(), Error> {
    let tables: Vec<&VarsTable> = inventory::iter::<VarsTable>.into_iter().collect();
    if tables.is_empty() {
        return Ok(());
    }
    for host in hosts {
        for table in &tables {
            // A variable of that name that is not a table (`app = "shop"`) is the fabfile's
            // own, not the library's: it is left alone (the library's tasks would say, when they
            // run, that it has the wrong type).
            let Some(value) = host.vars.get(table.name).filter(|v| v.is_object()) else {
                continue;
            };
            if let Err(problem) = (table.check)(value) {
                return Err(locate(src, environment, host, table, &problem));
            }
        }
    }
    Ok(())
}

/// The error for `problem` in `host`'s table: at the layer that gave the value (override,
/// server, environment, roles, global: the highest that has the deepest part of the path).
fn locate(
    src: &Source<'_>,
    environment: Option<&str>,
    host: &Host,
    table: &VarsTable,
    problem: &VarsProblem,
) -> Error {
    let mut wanted: Vec<&str> = vec![table.name];
    wanted.extend(problem.path.iter().map(String::as_str));
    let dotted = wanted.join(".");
    let message = format!(
        "variable `{dotted}` (of server {}): {}; {} read it",
        host.name, problem.message, table.read_by
    );
    let mut layers: Vec<Vec<&str>> = Vec::new();
    if let Some(env) = environment {
        layers.push(vec!["environments", env, "overrides", &host.name, "vars"]);
    }
    layers.push(vec!["servers", &host.name, "vars"]);
    if let Some(env) = environment {
        layers.push(vec!["environments", env, "vars"]);
    }
    for role in host.roles.iter().rev() {
        layers.push(vec!["roles", role, "vars"]);
    }
    layers.push(vec!["vars"]);

    let Ok(doc) = DeTable::parse(src.text) else {
        return src.error_with_key(0..0, None, message);
    };
    let mut best: Option<(usize, Range<usize>, String)> = None;
    for layer in &layers {
        let mut full = layer.clone();
        full.extend(&wanted);
        if let Some((depth, span)) = deepest(doc.get_ref(), &full, layer.len())
            && best.as_ref().is_none_or(|(d, ..)| depth > *d)
        {
            best = Some((depth, span, full[..layer.len() + depth].join(".")));
        }
    }
    match best {
        Some((_, span, key)) => src.error_with_key(span, Some(key), message),
        None => src.error_with_key(0..0, None, message),
    }
}

/// How many keys of `path` past its first `skip` exist in `doc`, with the span of the deepest;
/// `None` when not even the first `skip` keys (the layer's table) are there.
fn deepest(doc: &DeTable<'_>, path: &[&str], skip: usize) -> Option<(usize, Range<usize>)> {
    let mut table = doc;
    let mut items: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    let mut found: Option<(usize, Range<usize>)> = None;
    for (i, key) in path.iter().enumerate() {
        let value = match items.take() {
            Some(array) => key.parse::<usize>().ok().and_then(|n| array.get(n)),
            None => table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == *key)
                .map(|(_, v)| v),
        };
        let Some(value) = value else {
            break;
        };
        if i + 1 >= skip {
            found = Some((i + 1 - skip, value.span()));
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            DeValue::Array(a) => items = Some(&a[..]),
            _ => {
                if i + 1 < path.len() {
                    break;
                }
            }
        }
    }
    found
}
