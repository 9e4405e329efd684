//! A fleet's record: everything it created on this machine, written down BEFORE it is created,
//! under `/run/dm-testing/fleets/<id>/`. Teardown replays the record backwards, both when the
//! fleet is dropped and when a later run sweeps a fleet whose process died without dropping it
//! (see [`super::sweep`]). Writing ahead means a crash at any point leaves nothing unrecorded.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::base::CACHE_DIR;
use super::command::run_program;
use super::error::Error;
use super::mounts;

/// Where fleets record what they created (on most machines a tmpfs, emptied by a reboot, which
/// also ends every namespace, mount and process recorded there).
pub const RUN_DIR: &str = "/run/dm-testing";

/// Where systemd-nspawn keeps per-machine state on the host (a lock file per root directory, a
/// propagation directory per machine). It removes them when it exits normally, not when killed.
pub const NSPAWN_STATE: &str = "/run/systemd/nspawn";

/// One thing a fleet created on this machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A file, or a directory that holds only the fleet's files.
    Dir(PathBuf),
    /// A network link on the host (bridge or veth).
    Link(String),
    /// A named network namespace (`/run/netns/NAME`).
    Netns(String),
    /// A mount point.
    Mount(PathBuf),
    /// A machine's cgroup (see [`super::cgroup`]).
    Cgroup(PathBuf),
    /// A process the fleet started; the start time tells it apart from a later process that got
    /// the same pid.
    Process {
        /// Its pid.
        pid: u32,
        /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
        start: u64,
    },
    /// The NAT rule that lets the fleet's subnet reach the package mirror.
    Nat {
        /// The subnet, e.g. `10.231.3.0/24`.
        subnet: String,
        /// The fleet's bridge.
        bridge: String,
    },
    /// The FORWARD rules that let the fleet's traffic out and only replies in
    /// (`network::forward_rules`).
    Forward {
        /// The fleet's bridge.
        bridge: String,
    },
}

impl Resource {
    /// The record line for this resource: a keyword, then its fields.
    fn to_line(&self) -> String {
        match self {
            Resource::Dir(path) => format!("dir {}", path.display()),
            Resource::Link(name) => format!("link {name}"),
            Resource::Netns(name) => format!("netns {name}"),
            Resource::Mount(path) => format!("mount {}", path.display()),
            Resource::Cgroup(path) => format!("cgroup {}", path.display()),
            Resource::Process { pid, start } => format!("pid {pid} {start}"),
            Resource::Nat { subnet, bridge } => format!("nat {subnet} {bridge}"),
            Resource::Forward { bridge } => format!("forward {bridge}"),
        }
    }

    /// Parses a line written by [`Resource::to_line`]; other lines are ignored.
    fn from_line(line: &str) -> Option<Resource> {
        let (keyword, rest) = line.split_once(' ')?;
        let mut words = rest.split_whitespace();
        Some(match keyword {
            "dir" => Resource::Dir(PathBuf::from(rest)),
            "link" => Resource::Link(rest.to_string()),
            "netns" => Resource::Netns(rest.to_string()),
            "mount" => Resource::Mount(PathBuf::from(rest)),
            "cgroup" => Resource::Cgroup(PathBuf::from(rest)),
            "pid" => Resource::Process {
                pid: words.next()?.parse().ok()?,
                start: words.next()?.parse().ok()?,
            },
            "nat" => Resource::Nat {
                subnet: words.next()?.to_string(),
                bridge: words.next()?.to_string(),
            },
            "forward" => Resource::Forward {
                bridge: words.next()?.to_string(),
            },
            _ => return None,
        })
    }
}

/// The identity of a process across pid reuse and reboots: pid, start time, boot id.
#[derive(Debug, PartialEq)]
pub struct Owner {
    pid: u32,
    start: u64,
    boot_id: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: process_start(pid).unwrap_or(0),
            boot_id: boot_id(),
        }
    }

    /// Whether the process is still running (in this boot, with this start time).
    pub fn is_alive(&self) -> bool {
        self.boot_id == boot_id() && process_start(self.pid) == Some(self.start)
    }

    /// Reads an owner file.
    pub fn read(path: &Path) -> Option<Owner> {
        Owner::parse(&fs::read_to_string(path).ok()?)
    }

    /// Parses the text written by [`Owner::to_text`].
    pub fn parse(text: &str) -> Option<Owner> {
        let mut words = text.split_whitespace();
        Some(Owner {
            pid: words.next()?.parse().ok()?,
            start: words.next()?.parse().ok()?,
            boot_id: words.next()?.to_string(),
        })
    }

    /// The owner file's text.
    pub fn to_text(&self) -> String {
        format!("{} {} {}\n", self.pid, self.start, self.boot_id)
    }
}

/// This boot's id: a pid and start time only identify a process within one boot.
fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Start time of a live (not zombie) process, from `/proc/PID/stat`.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: fields after it are
    // counted from the last ')'. State is field 3, start time field 22.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// A fleet's record: its directory under [`RUN_DIR`] and the resources written so far.
#[derive(Debug)]
pub struct Record {
    dir: PathBuf,
    file: Mutex<File>,
    resources: Mutex<Vec<Resource>>,
}

impl Record {
    /// The directory holding every fleet record.
    pub fn fleets_dir() -> PathBuf {
        Path::new(RUN_DIR).join("fleets")
    }

    /// Creates the record of fleet `id`, owned by this process. Call under the sweep lock, so a
    /// sweeper never sees a record without its owner.
    pub fn create(id: &str) -> Result<Record, Error> {
        let dir = Self::fleets_dir().join(id);
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let owner = dir.join("owner");
        fs::write(&owner, Owner::current().to_text())
            .map_err(|e| Error::io("cannot write", &owner, e))?;
        Self::open(dir)
    }

    /// Opens the record in `dir` (created if missing) to add to it: a local machine's record,
    /// which has no owner process, or one that another process started. Resources recorded
    /// there before are kept in the file but not loaded: read them with [`read_resources`].
    pub fn open(dir: PathBuf) -> Result<Record, Error> {
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = dir.join("resources");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("cannot create", &path, e))?;
        Ok(Record {
            dir,
            file: Mutex::new(file),
            resources: Mutex::new(Vec::new()),
        })
    }

    /// Writes `resource` down. Call BEFORE creating it: undoing something that was never created
    /// is harmless, leaking something unrecorded is not.
    pub fn add(&self, resource: Resource) -> Result<(), Error> {
        let line = format!("{}\n", resource.to_line());
        let path = self.dir.join("resources");
        {
            let mut file = self
                .file
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            file.write_all(line.as_bytes())
                .map_err(|e| Error::io("cannot write", &path, e))?;
        }
        self.resources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(resource);
        Ok(())
    }

    /// The record's directory under [`RUN_DIR`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What has been recorded so far, in order.
    pub fn resources(&self) -> Vec<Resource> {
        self.resources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Undoes everything recorded, then removes the record. Returns what could not be undone.
    pub fn teardown(&self) -> Vec<Error> {
        let resources = self
            .resources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let mut errors = undo_all(&resources);
        if errors.is_empty()
            && let Err(e) = fs::remove_dir_all(&self.dir)
        {
            errors.push(Error::io("cannot remove", &self.dir, e));
        }
        errors
    }
}

/// Replaces the record in `dir` with `resources` (atomically: a crash leaves the old record or
/// the new one, never half of one). For a local machine that starts again: what its last run
/// created is undone, only its directory stays recorded.
pub fn replace_resources(dir: &Path, resources: &[Resource]) -> Result<(), Error> {
    let path = dir.join("resources");
    let temp = dir.join(".resources.tmp");
    let text: String = resources
        .iter()
        .map(|r| format!("{}\n", r.to_line()))
        .collect();
    fs::write(&temp, text).map_err(|e| Error::io("cannot write", &temp, e))?;
    fs::rename(&temp, &path).map_err(|e| Error::io("cannot replace", &path, e))
}

/// Reads the resources of the record in `dir` (for sweeping a dead fleet's record).
pub fn read_resources(dir: &Path) -> Vec<Resource> {
    fs::read_to_string(dir.join("resources"))
        .map(|text| text.lines().filter_map(Resource::from_line).collect())
        .unwrap_or_default()
}

/// Undoes `resources`: first every process (so nothing holds mounts or namespaces), then the
/// rest in reverse order of creation. Keeps going after a failure, so one stuck item does not
/// leak everything after it.
pub fn undo_all(resources: &[Resource]) -> Vec<Error> {
    let mut errors = Vec::new();
    for resource in resources {
        if let Resource::Process { pid, start } = resource {
            kill_and_wait(*pid, *start);
        }
    }
    for resource in resources {
        if let Resource::Netns(name) = resource {
            kill_namespace_processes(name);
        }
    }
    for resource in resources.iter().rev() {
        if let Err(e) = undo(resource) {
            errors.push(e);
        }
    }
    errors
}

/// Undoes one resource if it still exists.
fn undo(resource: &Resource) -> Result<(), Error> {
    match resource {
        Resource::Process { .. } => Ok(()),
        Resource::Dir(path) => {
            // Only ever delete inside the harness's own directories and systemd-nspawn's
            // per-machine state, whatever a record says.
            if [CACHE_DIR, RUN_DIR, NSPAWN_STATE, super::local::LOCAL_DIR]
                .iter()
                .any(|dir| path.starts_with(dir))
            {
                mounts::remove_tree(path)
            } else {
                Ok(())
            }
        }
        Resource::Mount(path) => mounts::unmount(path),
        Resource::Cgroup(path) => super::cgroup::remove(path),
        Resource::Netns(name) => {
            if Path::new("/run/netns").join(name).exists() {
                run_program(
                    format!("deleting network namespace {name}"),
                    "ip",
                    ["netns", "del", name],
                )?;
            }
            Ok(())
        }
        Resource::Link(name) => {
            if Path::new("/sys/class/net").join(name).exists() {
                run_program(format!("deleting link {name}"), "ip", ["link", "del", name])?;
            }
            Ok(())
        }
        Resource::Nat { subnet, bridge } => {
            let rule = [
                "-t",
                "nat",
                "POSTROUTING",
                "-s",
                subnet,
                "!",
                "-o",
                bridge,
                "-j",
                "MASQUERADE",
            ];
            delete_iptables_rule(&rule)
        }
        Resource::Forward { bridge } => {
            for rule in super::network::forward_rules(bridge) {
                let mut spec = vec!["-t", "filter", "FORWARD"];
                spec.extend(rule.iter().map(String::as_str));
                delete_iptables_rule(&spec)?;
            }
            // What a dm before the rules above added: accept anything to the bridge.
            delete_iptables_rule(&["-t", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT"])
        }
    }
}

/// Deletes every copy of an iptables rule. `rule` is `-t TABLE CHAIN SPEC...`.
fn delete_iptables_rule(rule: &[&str]) -> Result<(), Error> {
    let (table, rest) = rule.split_at(2);
    let (chain, spec) = rest.split_at(1);
    let args = |op: &'static str| -> Vec<&str> {
        ["-w"]
            .iter()
            .chain(table)
            .chain(&[op])
            .chain(chain)
            .chain(spec)
            .copied()
            .collect()
    };
    while super::command::program("iptables")
        .args(args("-C"))
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run_program(
            format!("deleting iptables rule in {}", chain[0]),
            "iptables",
            args("-D"),
        )?;
    }
    Ok(())
}

/// Kills a process by pid if it is still the process that was recorded, and waits until it is
/// gone (or a zombie its parent has not reaped yet).
pub fn kill_and_wait(pid: u32, start: u64) {
    if process_start(pid) != Some(start) {
        return;
    }
    if let Some(raw) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(raw, rustix::process::Signal::KILL);
    }
    wait_until(Duration::from_secs(10), || {
        process_start(pid) != Some(start)
    });
}

/// The pids of the processes inside network namespace `name`.
pub fn namespace_pids(name: &str) -> Vec<u32> {
    if !Path::new("/run/netns").join(name).exists() {
        return Vec::new();
    }
    super::command::program("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every process inside network namespace `name` (a machine's processes, when its
/// systemd-nspawn is already gone) and waits until none is left.
pub fn kill_namespace_processes(name: &str) {
    for pid in namespace_pids(name) {
        if let Some(start) = process_start(pid) {
            kill_and_wait(pid, start);
        }
    }
    wait_until(Duration::from_secs(10), || {
        namespace_pids(name)
            .iter()
            .all(|&p| process_start(p).is_none())
    });
}

/// Polls `done` every 20 ms until it is true or `limit` has passed; returns whether it became true.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_round_trip() {
        let all = [
            Resource::Dir(PathBuf::from("/var/cache/dm-testing/fleets/a b")),
            Resource::Link("dmbr3".into()),
            Resource::Netns("dm3-lb1".into()),
            Resource::Mount(PathBuf::from("/x/merged")),
            Resource::Cgroup(PathBuf::from("/sys/fs/cgroup/unified/dm-testing/dm3-lb1")),
            Resource::Process { pid: 42, start: 7 },
            Resource::Nat {
                subnet: "10.231.3.0/24".into(),
                bridge: "dmbr3".into(),
            },
            Resource::Forward {
                bridge: "dmbr3".into(),
            },
        ];
        for resource in all {
            assert_eq!(Resource::from_line(&resource.to_line()), Some(resource));
        }
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(Owner::current().is_alive());
        let me = Owner::current();
        let other = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!other.is_alive());
    }
}
