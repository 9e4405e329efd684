//! Components (batou's idea): a named group of operations with its own parameters, which can
//! depend on other components. A step orders its components so that dependencies come first.

use serde_json::{Map, Value};

use super::reaction::Reaction;
use super::{OpError, Operation};

/// A named group of operations with parameters, ordered after the components it depends on.
///
/// Parameters are template variables for the component's templates (they win over inventory
/// vars and the step's vars, and lose to an operation's own `.var()`).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::{Apt, Component, File, Service};
/// let base = Component::new("base").with(Apt::present(["curl"]));
/// let web = Component::new("nginx")
///     .depends_on("base")
///     .param("port", 8080)
///     .with(Apt::present(["nginx"]))
///     .with(File::template("/etc/nginx/sites-enabled/app", "templates/site.conf.j2").notify("reload"))
///     .reaction("reload", Service::new("nginx").reloaded());
/// let mut step = ctx.step();
/// step.component(web); // added first, runs second: it depends on base
/// step.component(base);
/// step.apply().await?;
/// # Ok(()) }
/// ```
pub struct Component {
    name: String,
    depends: Vec<String>,
    params: Map<String, Value>,
    ops: Vec<Box<dyn Operation>>,
    reactions: Vec<Reaction>,
}

impl Component {
    /// A component called `name` (unique within a step).
    pub fn new(name: &str) -> Component {
        Component {
            name: name.to_string(),
            depends: Vec::new(),
            params: Map::new(),
            ops: Vec::new(),
            reactions: Vec::new(),
        }
    }

    /// Runs after the component `other` (which must be in the same step).
    pub fn depends_on(mut self, other: &str) -> Component {
        self.depends.push(other.to_string());
        self
    }

    /// A parameter: a template variable for this component's templates.
    pub fn param(mut self, name: &str, value: impl serde::Serialize) -> Component {
        self.params.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// A parameter's value, for building the component's operations.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// Adds an operation; a component's operations apply in the order added.
    pub fn with(mut self, op: impl Operation + 'static) -> Component {
        self.ops.push(Box::new(op));
        self
    }

    /// Adds a reaction its operations (or any of the step's) can notify.
    pub fn reaction(mut self, name: &str, op: impl Operation + 'static) -> Component {
        self.reactions.push(Reaction {
            name: name.to_string(),
            op: Box::new(op),
        });
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a step holds, in the order it was added.
pub(crate) enum Item {
    Op(Box<dyn Operation>),
    Component(Component),
}

/// One operation of the flattened step, with the parameters of its component.
pub(crate) struct Entry {
    pub op: Box<dyn Operation>,
    pub params: Map<String, Value>,
}

/// Flattens the step: components after their dependencies, otherwise in the order added.
/// Returns the operations and the components' reactions.
pub(crate) fn flatten(items: Vec<Item>) -> Result<(Vec<Entry>, Vec<Reaction>), OpError> {
    let names: Vec<Option<&str>> = items
        .iter()
        .map(|i| match i {
            Item::Component(c) => Some(c.name.as_str()),
            Item::Op(_) => None,
        })
        .collect();
    let index_of = |name: &str| names.iter().position(|n| *n == Some(name));
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Item::Component(c) = item else {
            deps.push(Vec::new());
            continue;
        };
        if names[..i].contains(&Some(c.name.as_str())) {
            return Err(OpError::structure(format!(
                "two components are named `{}`; give each its own name",
                c.name
            )));
        }
        let mut mine = Vec::new();
        for d in &c.depends {
            match index_of(d) {
                Some(j) => mine.push(j),
                None => {
                    return Err(OpError::structure(format!(
                        "component `{}` depends on `{d}`, which is not in this step; add it with step.component(..)",
                        c.name
                    )));
                }
            }
        }
        deps.push(mine);
    }
    // Stable topological order: always the earliest-added item whose dependencies are placed.
    let mut placed = vec![false; items.len()];
    let mut order = Vec::with_capacity(items.len());
    while order.len() < items.len() {
        let next = (0..items.len()).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                let stuck: Vec<usize> = (0..items.len()).filter(|&i| !placed[i]).collect();
                return Err(OpError::structure(cycle_message(&stuck, &deps, &names)));
            }
        }
    }
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    let mut entries = Vec::new();
    let mut reactions = Vec::new();
    for i in order {
        match slots[i].take() {
            Some(Item::Op(op)) => entries.push(Entry {
                op,
                params: Map::new(),
            }),
            Some(Item::Component(c)) => {
                for op in c.ops {
                    entries.push(Entry {
                        op,
                        params: c.params.clone(),
                    });
                }
                reactions.extend(c.reactions);
            }
            None => {}
        }
    }
    Ok((entries, reactions))
}

/// `dependency cycle: a -> b -> a`, found by walking dependencies from a stuck component.
fn cycle_message(stuck: &[usize], deps: &[Vec<usize>], names: &[Option<&str>]) -> String {
    let name = |i: usize| names[i].unwrap_or("?").to_string();
    let Some(&start) = stuck.first() else {
        return "components depend on each other in a cycle".to_string();
    };
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = deps[current].iter().find(|d| stuck.contains(d)) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let cycle: Vec<String> = path[pos..]
                .iter()
                .chain(std::iter::once(&next))
                .map(|&i| name(i))
                .collect();
            return format!(
                "components depend on each other in a cycle: {}; remove one of these dependencies",
                cycle.join(" -> ")
            );
        }
        path.push(next);
        current = next;
    }
    format!(
        "components depend on each other in a cycle: {}",
        stuck
            .iter()
            .map(|&i| name(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::File;

    fn names(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| e.op.name()).collect()
    }

    fn comp(name: &str, deps: &[&str]) -> Item {
        let mut c = Component::new(name).with(File::bytes(&format!("/{name}"), "x"));
        for d in deps {
            c = c.depends_on(d);
        }
        Item::Component(c)
    }

    #[test]
    fn dependencies_come_first_otherwise_order_is_kept() {
        let items = vec![
            comp("web", &["db", "base"]),
            Item::Op(Box::new(File::bytes("/direct", "x"))),
            comp("db", &["base"]),
            comp("base", &[]),
        ];
        let (entries, _) = flatten(items).expect("orders");
        assert_eq!(
            names(&entries),
            ["file /direct", "file /base", "file /db", "file /web"]
        );
    }

    #[test]
    fn a_cycle_names_its_components() {
        let items = vec![
            comp("a", &["b"]),
            comp("b", &["c"]),
            comp("c", &["a"]),
            comp("d", &[]),
        ];
        let err = flatten(items).err().expect("cycle");
        assert!(
            err.to_string().contains("a cycle: a -> b -> c -> a"),
            "{err}"
        );
        let err = flatten(vec![comp("self", &["self"])]).err().expect("cycle");
        assert!(err.to_string().contains("self -> self"), "{err}");
    }

    #[test]
    fn unknown_dependencies_and_duplicates_are_errors() {
        let err = flatten(vec![comp("web", &["db"])]).err().expect("unknown");
        assert!(
            err.to_string()
                .contains("depends on `db`, which is not in this step"),
            "{err}"
        );
        assert!(flatten(vec![comp("a", &[]), comp("a", &[])]).is_err());
    }

    #[test]
    fn parameters_travel_with_the_component_operations() {
        let c = Component::new("app")
            .param("port", 8080)
            .with(File::bytes("/a", "x"));
        assert_eq!(c.get("port"), Some(&serde_json::json!(8080)));
        let (entries, _) = flatten(vec![Item::Component(c)]).expect("orders");
        assert_eq!(
            entries[0].params.get("port"),
            Some(&serde_json::json!(8080))
        );
    }
}
