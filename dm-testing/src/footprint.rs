//! A fleet's footprint: what it has on this machine (network namespaces, links on its bridge,
//! mounts, processes, cgroups, NAT and forwarding rules, directories), captured while it runs, so
//! that a test can check afterwards that none of it is left — also after a test process that
//! failed, or was killed, dropped the fleet.
//!
//! The check is independent of the fleet's own record where it can be: it looks at the system
//! (`/run/netns`, `/sys/class/net`, `/proc/self/mounts`, `/proc`, iptables) rather than trusting
//! teardown's account of itself.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use dm_machines::command::program;
use dm_machines::process::{namespace_pids, process_start, wait_until};
use dm_machines::record::Resource;
use dm_machines::slot::Slot;

/// How long [`Footprint::leftovers`] waits for the fleet's network slot to become free (a fleet
/// still being torn down on another thread) before checking without holding it.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// What a [`Fleet`](crate::Fleet) has on this machine, captured by
/// [`Fleet::footprint`](crate::Fleet::footprint) while it runs. After the fleet is gone,
/// [`Footprint::leftovers`] lists whatever of it still exists.
///
/// It travels between processes as one line of text (`to_string()` / `parse()`), so a test that
/// runs a failing test in a child process can check what the child left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// The fleet's network slot N (10.231.N.0/24, bridge `dmbrN`).
    slot: u8,
    /// The fleet's directory (machine trees, keys, inventory).
    dir: PathBuf,
    /// The fleet's record under `/run/dm-testing/fleets/`.
    record: PathBuf,
    /// Network namespaces, with the inode that identifies each.
    namespaces: BTreeMap<String, u64>,
    /// Host links (bridge, veths), with their interface index.
    links: BTreeMap<String, u64>,
    /// Cgroup directories, with their inode.
    cgroups: BTreeMap<PathBuf, u64>,
    /// Processes (systemd-nspawn and everything inside the machines): pid and start time.
    processes: Vec<(u32, u64)>,
}

impl Footprint {
    /// Captures the footprint of a fleet from what its record lists and what runs in its
    /// namespaces now.
    pub(crate) fn capture(slot: u8, dir: &Path, record: &Path, resources: &[Resource]) -> Self {
        let mut footprint = Footprint {
            slot,
            dir: dir.to_path_buf(),
            record: record.to_path_buf(),
            namespaces: BTreeMap::new(),
            links: BTreeMap::new(),
            cgroups: BTreeMap::new(),
            processes: Vec::new(),
        };
        for resource in resources {
            match resource {
                Resource::Netns(name) => {
                    if let Some(inode) = inode(&netns_path(name)) {
                        footprint.namespaces.insert(name.clone(), inode);
                    }
                    for pid in namespace_pids(name) {
                        if let Some(start) = process_start(pid) {
                            footprint.processes.push((pid, start));
                        }
                    }
                }
                Resource::Link(name) => {
                    if let Some(index) = ifindex(name) {
                        footprint.links.insert(name.clone(), index);
                    }
                }
                Resource::Cgroup(path) => {
                    if let Some(inode) = inode(path) {
                        footprint.cgroups.insert(path.clone(), inode);
                    }
                }
                Resource::Process { pid, start } => footprint.processes.push((*pid, *start)),
                Resource::Dir(_)
                | Resource::Mount(_)
                | Resource::Nat { .. }
                | Resource::Forward { .. } => {}
            }
        }
        footprint.processes.sort_unstable();
        footprint.processes.dedup();
        footprint
    }

    /// How many processes the footprint holds (systemd-nspawn and the machines' processes).
    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// Everything of the footprint that still exists, one description each; empty when the fleet
    /// left nothing behind.
    ///
    /// While it checks, it holds the fleet's network slot (waiting up to 2 s for it), so no new
    /// fleet can move into the slot meanwhile: then every namespace, link and rule named after the
    /// slot counts, recorded or not. When the slot stays taken (the fleet is still up, or, after
    /// hundreds of later fleets, another one took it), only what is provably the fleet's own counts:
    /// the same link index, namespace inode, process start time.
    pub fn leftovers(&self) -> Vec<String> {
        let mut slot = None;
        wait_until(SLOT_WAIT, || {
            slot = Slot::try_acquire(self.slot).ok().flatten();
            slot.is_some()
        });
        let exclusive = slot.is_some();
        let mut left = Vec::new();
        self.processes_left(&mut left);
        self.mounts_left(&mut left);
        self.namespaces_left(exclusive, &mut left);
        self.links_left(exclusive, &mut left);
        self.rules_left(exclusive, &mut left);
        for (path, inode_then) in &self.cgroups {
            if inode(path).is_some_and(|now| exclusive || now == *inode_then) {
                left.push(format!("cgroup {}", path.display()));
            }
        }
        for dir in [&self.dir, &self.record] {
            if dir.exists() {
                left.push(format!("directory {}", dir.display()));
            }
        }
        drop(slot);
        left
    }

    /// Processes that still run (same pid and start time, not a zombie).
    fn processes_left(&self, left: &mut Vec<String>) {
        for &(pid, start) in &self.processes {
            if process_start(pid) == Some(start) {
                let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                left.push(format!("process {pid} ({})", name.trim()));
            }
        }
    }

    /// Mounts anywhere under the fleet's directory (unique to the fleet, so every one counts).
    fn mounts_left(&self, left: &mut Vec<String>) {
        let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for line in table.lines() {
            let Some(point) = line.split_whitespace().nth(1) else {
                continue;
            };
            // /proc/self/mounts writes a space in a path as \040.
            let point = PathBuf::from(point.replace("\\040", " "));
            if point.starts_with(&self.dir) {
                left.push(format!("mount {}", point.display()));
            }
        }
    }

    /// Network namespaces: with the slot held, any named after the slot; else the fleet's own.
    fn namespaces_left(&self, exclusive: bool, left: &mut Vec<String>) {
        let prefix = format!("dm{}-", self.slot);
        let mut names: Vec<String> = self.namespaces.keys().cloned().collect();
        if exclusive && let Ok(entries) = std::fs::read_dir("/run/netns") {
            names.extend(
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(&prefix)),
            );
        }
        names.sort();
        names.dedup();
        for name in names {
            let now = inode(&netns_path(&name));
            let ours = self.namespaces.get(&name);
            if now.is_some_and(|now| exclusive || ours == Some(&now)) {
                left.push(format!("network namespace {name}"));
            }
        }
    }

    /// Host links: with the slot held, the slot's bridge and any veth named after the slot; else
    /// links with the fleet's own interface index.
    fn links_left(&self, exclusive: bool, left: &mut Vec<String>) {
        let mut names: Vec<String> = self.links.keys().cloned().collect();
        if exclusive && let Ok(entries) = std::fs::read_dir("/sys/class/net") {
            let bridge = format!("dmbr{}", self.slot);
            let veth = [format!("dm{}v", self.slot), format!("dm{}p", self.slot)];
            names.extend(
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| {
                        *name == bridge
                            || veth.iter().any(|prefix| {
                                name.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                                })
                            })
                    }),
            );
        }
        names.sort();
        names.dedup();
        for name in names {
            let now = ifindex(&name);
            let ours = self.links.get(&name);
            if now.is_some_and(|now| exclusive || ours == Some(&now)) {
                left.push(format!("link {name}"));
            }
        }
    }

    /// The NAT and forwarding rules of the slot: none may be left with the slot held; without it,
    /// one copy may belong to the fleet holding the slot now, a second one is a leftover.
    fn rules_left(&self, exclusive: bool, left: &mut Vec<String>) {
        let allowed = usize::from(!exclusive);
        let subnet = format!("10.231.{}.0/24", self.slot);
        let bridge = format!("dmbr{}", self.slot);
        let mut checks = vec![("nat", "POSTROUTING", format!("-s {subnet} ! -o {bridge} "))];
        for rule in dm_machines::network::forward_rules(&bridge) {
            checks.push(("filter", "FORWARD", rule.join(" ")));
        }
        for (table, chain, rule) in checks {
            let listing = program("iptables")
                .args(["-w", "-t", table, "-S", chain])
                .output();
            match listing {
                Ok(out) if out.status.success() => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    let copies = text.lines().filter(|l| l.contains(&rule)).count();
                    if copies > allowed {
                        left.push(format!("iptables rule `-t {table} {chain} {rule}`"));
                    }
                }
                Ok(out) => left.push(format!(
                    "cannot check iptables ({table} {chain}): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => left.push(format!("cannot check iptables ({table} {chain}): {e}")),
            }
        }
    }
}

impl std::fmt::Display for Footprint {
    /// One line of JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl FromStr for Footprint {
    type Err = serde_json::Error;

    /// Parses what `to_string()` wrote.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(text.trim())
    }
}

/// Where `ip netns` keeps namespace `name`.
fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// The inode of `path`, if it exists.
fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The interface index of host link `name`, if it exists.
fn ifindex(name: &str) -> Option<u64> {
    let path = Path::new("/sys/class/net").join(name).join("ifindex");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footprint_survives_the_trip_through_text() {
        let footprint = Footprint::capture(
            7,
            Path::new("/var/cache/dm-testing/fleets/7-1-0"),
            Path::new("/run/dm-testing/fleets/7-1-0"),
            &[Resource::Process {
                pid: std::process::id(),
                start: 12,
            }],
        );
        let text = footprint.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(text.parse::<Footprint>().ok(), Some(footprint));
    }
}
