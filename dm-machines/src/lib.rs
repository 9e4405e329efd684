//! dm-machines: real Debian machines on this Linux host: systemd-nspawn containers, each in its
//! own network namespace on a private bridge, booted in seconds from a Debian bookworm tree built
//! once with debootstrap and cached under [`CACHE_DIR`].
//!
//! Two users share this machinery, so there is one way to build, boot, record and tear down a
//! machine:
//! - the test harness (crate `dm-testing`, `dm::testing` with feature `testing`): a fleet of
//!   machines that lives as long as the test that booted it;
//! - the local provider (`dm_providers::local`, tasks `boot`/`destroy`/`scale`): [`local`]
//!   machines that outlive the dm run that booted them, until they are destroyed.
//!
//! Everything a machine is made of (namespace, veth link, overlay mount, cgroup, nspawn process,
//! directories, NAT rules) is written to a [`record`] *before* it is created, so a crash at any
//! point leaves nothing that a later run cannot find and remove ([`teardown`], [`sweep`]).
//!
//! Needs root and the packages `systemd-container debootstrap iproute2 iptables openssh-client`;
//! without them the first step fails with [`Error::NotRoot`] or [`Error::MissingPrograms`].
//!
//! [`local`] is the API of the local provider's machines; the other modules are the building
//! blocks the test harness assembles its fleets from, public for that crate only.

pub mod base;
pub mod boot;
pub mod cgroup;
pub mod command;
pub mod error;
pub mod keys;
pub mod known_hosts;
pub mod local;
pub mod mirror;
pub mod mounts;
pub mod network;
pub mod paths;
pub mod prerequisites;
pub mod process;
pub mod record;
pub mod rootfs;
pub mod slot;
pub mod ssh;
pub mod sweep;
pub mod teardown;

pub use base::{DEPLOY_PASSWORD, DEPLOY_USER};
pub use error::Error;
pub use paths::CACHE_DIR;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The modules each module of `src` names (`super::x`, `crate::x`, `use super::{x, y}`),
    /// outside comments and its own tests.
    fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let files: Vec<_> = std::fs::read_dir(src)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        let modules: BTreeSet<String> = files
            .iter()
            .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut graph = BTreeMap::new();
        for path in &files {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let mut named = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for prefix in ["super::", "crate::"] {
                    for (at, _) in line.match_indices(prefix) {
                        let rest = &line[at + prefix.len()..];
                        let group = rest.strip_prefix('{').map(|g| g.split('}').next());
                        let words: Vec<&str> = match group {
                            Some(Some(inner)) => inner.split(',').collect(),
                            _ => vec![rest],
                        };
                        for word in words {
                            let word = word.trim();
                            let end = word
                                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                                .unwrap_or(word.len());
                            named.insert(word[..end].to_string());
                        }
                    }
                }
            }
            named.retain(|m| modules.contains(m) && *m != name && m != "lib");
            graph.insert(name, named);
        }
        graph
    }

    /// A loop of modules importing each other, if there is one.
    fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            graph: &BTreeMap<String, BTreeSet<String>>,
            module: &str,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|m| m == module) {
                return Some(path[start..].to_vec());
            }
            if !done.insert(module.to_string()) {
                return None;
            }
            path.push(module.to_string());
            for next in graph.get(module).into_iter().flatten() {
                if let Some(found) = visit(graph, next, path, done) {
                    return Some(found);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        graph
            .keys()
            .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
    }

    /// The modules form a tree: records below what writes them, paths and processes below
    /// records, teardown above what it removes. A circle would make every module of it depend on
    /// all the others. `DM_MACHINES_SRC` checks another tree of the same layout.
    #[test]
    fn modules_import_each_other_in_no_circle() {
        let src = std::env::var_os("DM_MACHINES_SRC")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        let graph = imports(&src);
        assert!(
            graph.len() > 10,
            "read {} modules in {}",
            graph.len(),
            src.display()
        );
        assert_eq!(circle(&graph), None, "{graph:#?}");
    }
}
