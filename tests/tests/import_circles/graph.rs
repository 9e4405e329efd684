//! Who imports whom: every `use` binding and inline path of a crate resolved to the file that
//! defines the name (through re-exports), and the circles of that graph.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::modules::{Crate, Module};

/// Imports between nodes (files, or a crate's top-level modules): `from -> to -> names used`.
#[derive(Debug, Default)]
pub struct Graph {
    pub edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, name: &str) {
        if from != to {
            self.edges
                .entry(from.to_string())
                .or_default()
                .entry(to.to_string())
                .or_default()
                .insert(name.to_string());
        }
    }

    /// The strongly connected parts of more than one node: each is a circle of imports.
    pub fn circles(&self) -> Vec<BTreeSet<String>> {
        let nodes: BTreeSet<&String> = self
            .edges
            .iter()
            .flat_map(|(from, to)| std::iter::once(from).chain(to.keys()))
            .collect();
        let mut circles = Vec::new();
        let mut placed: BTreeSet<&String> = BTreeSet::new();
        for node in &nodes {
            if placed.contains(node) {
                continue;
            }
            let forward = self.reachable(node, false);
            let backward = self.reachable(node, true);
            let part: BTreeSet<String> = forward.intersection(&backward).cloned().collect();
            for member in &part {
                if let Some(n) = nodes.get(member) {
                    placed.insert(n);
                }
            }
            if part.len() > 1 {
                circles.push(part);
            }
        }
        circles
    }

    fn reachable(&self, start: &str, reversed: bool) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([start.to_string()]);
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(node) = queue.pop_front() {
            for next in self.neighbours(&node, reversed) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        seen
    }

    fn neighbours(&self, node: &str, reversed: bool) -> Vec<String> {
        if reversed {
            self.edges
                .iter()
                .filter(|(_, to)| to.contains_key(node))
                .map(|(from, _)| from.clone())
                .collect()
        } else {
            self.edges
                .get(node)
                .map(|to| to.keys().cloned().collect())
                .unwrap_or_default()
        }
    }

    /// The shortest chain of imports from the first member of `circle` back to itself.
    pub fn chain(&self, circle: &BTreeSet<String>) -> Vec<String> {
        let start = circle.first().expect("a circle has members").clone();
        let mut came_from: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(node) = queue.pop_front() {
            for next in self.neighbours(&node, false) {
                if !circle.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut chain = vec![start.clone(), node.clone()];
                    let mut at = node;
                    while let Some(before) = came_from.get(&at) {
                        chain.push(before.clone());
                        at = before.clone();
                    }
                    chain.reverse();
                    return chain;
                }
                if !came_from.contains_key(&next) && next != start {
                    came_from.insert(next.clone(), node.clone());
                    queue.push_back(next);
                }
            }
        }
        vec![start]
    }

    /// `a.rs -(X, y)-> b.rs -(z)-> a.rs`: a chain with the names each step uses.
    pub fn describe_chain(&self, chain: &[String]) -> String {
        let mut text = chain[0].clone();
        for pair in chain.windows(2) {
            let names = &self.edges[&pair[0]][&pair[1]];
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            text += &format!("\n    -({})-> {}", names.join("; "), pair[1]);
        }
        text
    }

    /// Every import between members of `circle`, one line each.
    pub fn describe_ties(&self, circle: &BTreeSet<String>) -> Vec<String> {
        let mut lines = Vec::new();
        for from in circle {
            for (to, names) in self.edges.get(from).into_iter().flatten() {
                if circle.contains(to) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    lines.push(format!("{from} -> {to}: {}", names.join("; ")));
                }
            }
        }
        lines
    }
}

/// What a path names: a module, or an item written in some file.
enum Target {
    Module(usize),
    Item { file: String, name: String },
}

impl Target {
    fn file<'k>(&'k self, krate: &'k Crate) -> &'k str {
        match self {
            Target::Module(m) => &krate.modules[*m].file,
            Target::Item { file, .. } => file,
        }
    }
}

/// A resolved path: what it names, and the files it passed through on the way (modules that
/// re-export a name from elsewhere, `(file, name)`), which the importer depends on too.
struct Resolved {
    target: Target,
    via: Vec<(String, String)>,
}

/// The file-level and top-level-module graphs of one crate.
///
/// A module using its own submodules is a module using its parts: those imports are left out, so
/// that `ctx/mod.rs` defining `Ctx` for `ctx/command.rs` and using its `Output` is no circle, and a
/// module's `pub use part::Item` is a face, not an import. A module that re-exports a name from
/// elsewhere (`pub use crate::roles::servers_with_role` in `launch.rs`) is a middleman: who names
/// the item through it imports it too.
pub fn imports(krate: &Crate) -> (Graph, Graph) {
    let mut files = Graph::default();
    for (index, module) in krate.modules.iter().enumerate() {
        let mut add = |resolved: Option<Resolved>| {
            let Some(Resolved { target, via }) = resolved else {
                return;
            };
            let name = match &target {
                Target::Item { name, .. } => name.clone(),
                Target::Module(m) => krate.modules[*m].path.join("::"),
            };
            for (file, name) in via.iter().chain([&(target.file(krate).to_string(), name)]) {
                if !is_part_of(krate, file, &module.path) {
                    files.add(&module.file, file, name);
                }
            }
        };
        for binding in &module.uses {
            match resolve(krate, index, &binding.target, 0) {
                // `use super::record;` then `record::Record`: the inline path is the import.
                Some(Resolved {
                    target: Target::Module(_),
                    ..
                }) if binding.name != "*" => {}
                resolved => add(resolved),
            }
        }
        for path in &module.inline_paths {
            if starts_inside_crate(krate, index, path) {
                add(resolve(krate, index, path, 0));
            }
        }
    }
    let mut top_modules = Graph::default();
    for (from, imported) in &files.edges {
        for (to, names) in imported {
            let (Some(from_top), Some(to_top)) = (top_module(krate, from), top_module(krate, to))
            else {
                continue;
            };
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            top_modules.add(
                &from_top,
                &to_top,
                &format!("{from} -> {to}: {}", names.join(", ")),
            );
        }
    }
    (files, top_modules)
}

/// The module written in `file` (the outer one, where a file holds inline modules too).
fn module_of<'k>(krate: &'k Crate, file: &str) -> Option<&'k Module> {
    krate.modules.iter().find(|m| m.file == file)
}

/// Whether `file` is the module at `path` or one of its submodules.
fn is_part_of(krate: &Crate, file: &str, path: &[String]) -> bool {
    module_of(krate, file).is_some_and(|m| m.path.starts_with(path))
}

/// `dm-core::ctx` for a file below `dm-core/src/ctx`; None for the crate root.
fn top_module(krate: &Crate, file: &str) -> Option<String> {
    let top = module_of(krate, file)?.path.first()?;
    Some(format!("{}::{top}", krate.name))
}

/// Whether an inline path starts at this crate (not at an external crate, a type or a variable).
fn starts_inside_crate(krate: &Crate, module: usize, path: &[String]) -> bool {
    let first = path[0].as_str();
    let module = &krate.modules[module];
    matches!(first, "crate" | "$crate" | "super" | "self")
        || module.children.contains_key(first)
        || module.uses.iter().any(|u| u.name == first)
}

/// Re-exports followed before giving up (a `pub use` loop does not compile, but a misread might).
const MAX_DEPTH: usize = 16;

/// What `path`, written in module `from`, names; None for names outside the crate.
fn resolve(krate: &Crate, from: usize, path: &[String], depth: usize) -> Option<Resolved> {
    if depth > MAX_DEPTH || path.is_empty() {
        return None;
    }
    let (start, rest) = match path[0].as_str() {
        "crate" | "$crate" => (0, &path[1..]),
        "self" | "super" => (from, path),
        first if krate.modules[from].children.contains_key(first) => (from, path),
        first => {
            // A name another `use` of this module brought in (`use super::record;` + `record::X`).
            let binding = krate.modules[from]
                .uses
                .iter()
                .find(|u| u.name == first && u.target != [first])?;
            let resolved = resolve(krate, from, &binding.target, depth + 1)?;
            return match resolved.target {
                Target::Module(m) => {
                    let mut deeper = walk(krate, m, &path[1..], depth)?;
                    deeper.via.extend(resolved.via);
                    Some(deeper)
                }
                _ => Some(resolved),
            };
        }
    };
    walk(krate, start, rest, depth)
}

/// Follows `rest` down from module `at`: modules while they are modules, then the item.
fn walk(krate: &Crate, mut at: usize, rest: &[String], depth: usize) -> Option<Resolved> {
    for segment in rest {
        let module = &krate.modules[at];
        match segment.as_str() {
            "self" => {}
            "super" => at = module.parent?,
            name => {
                if let Some(&child) = module.children.get(name) {
                    at = child;
                    continue;
                }
                // A name the module neither writes nor imports (a macro's, say): its file.
                return Some(item(krate, at, name, depth).unwrap_or(Resolved {
                    target: Target::Item {
                        file: module.file.clone(),
                        name: name.to_string(),
                    },
                    via: Vec::new(),
                }));
            }
        }
    }
    Some(Resolved {
        target: Target::Module(at),
        via: Vec::new(),
    })
}

/// Where the item `name` of module `at` is written: in the module, or where a `use` of it points.
fn item(krate: &Crate, at: usize, name: &str, depth: usize) -> Option<Resolved> {
    let module = &krate.modules[at];
    if module.defines.contains(name) {
        return Some(Resolved {
            target: Target::Item {
                file: module.file.clone(),
                name: name.to_string(),
            },
            via: Vec::new(),
        });
    }
    if depth > MAX_DEPTH {
        return None;
    }
    let mut found = None;
    if let Some(binding) = module.uses.iter().find(|u| u.name == name) {
        found = resolve(krate, at, &binding.target, depth + 1);
    }
    for glob in module.uses.iter().filter(|u| u.name == "*") {
        if found.is_some() {
            break;
        }
        if let Some(Resolved {
            target: Target::Module(m),
            via,
        }) = resolve(krate, at, &glob.target, depth + 1)
        {
            found = item(krate, m, name, depth + 1).map(|mut r| {
                r.via.extend(via);
                r
            });
        }
    }
    let mut found = found?;
    // Passing on a name from elsewhere makes this module a middleman; its own parts' names not.
    if !is_part_of(krate, found.target.file(krate), &module.path) {
        found.via.push((module.file.clone(), name.to_string()));
    }
    Some(found)
}
