//! A fleet's record: everything it created on this machine, written down BEFORE it is created,
//! under `/run/dm-testing/fleets/<id>/`. Teardown replays the record backwards, both when the
//! fleet is dropped and when a later run sweeps a fleet whose process died without dropping it
//! (see [`super::sweep`]). Writing ahead means a crash at any point leaves nothing unrecorded.
//!
//! A record only writes and reads what was created; undoing it is [`super::teardown`]'s work,
//! which asks the module that created each kind of resource how to remove it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::Error;
use super::paths::RUN_DIR;
use super::process::Owner;

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
}
