//! A control group per machine. systemd-nspawn with `--keep-unit` roots the container's cgroup
//! tree at the cgroup nspawn was started in; machines started from one process would share it,
//! and their systemds would create, kill and remove each other's units' cgroups (a unit of one
//! machine failing with "Failed at step CGROUP", `systemctl stop` on one machine reaching into
//! another). Starting each nspawn in a cgroup of its own keeps machines apart, and gives teardown
//! an exact list of the machine's processes.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::Error;
use super::process::{kill_and_wait, process_start, wait_until};
use super::record::{Record, Resource};

/// The directory, in each cgroup hierarchy, that holds test machines' cgroups.
pub const TESTING_PARENT: &str = "dm-testing";

/// The directory, in each cgroup hierarchy, that holds local-provider machines' cgroups.
pub const LOCAL_PARENT: &str = "dm-local";

/// The cgroup hierarchies systemd uses, which nspawn hands to the container: the unified (v2)
/// hierarchy wherever it is mounted, and the legacy `name=systemd` one on hybrid hosts.
fn hierarchies() -> Vec<PathBuf> {
    let table = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (point, fstype, options) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            let systemd_v1 = *fstype == "cgroup" && options.split(',').any(|o| o == "name=systemd");
            (*fstype == "cgroup2" || systemd_v1).then(|| PathBuf::from(point))
        })
        .collect()
}

/// Creates machine `name`'s cgroup in every hierarchy; returns the `cgroup.procs` files that
/// systemd-nspawn must write its pid to before it starts (see [`super::boot`]).
/// `parent` is [`TESTING_PARENT`] or [`LOCAL_PARENT`].
pub fn create(record: &Record, parent: &'static str, name: &str) -> Result<Vec<PathBuf>, Error> {
    let mut procs = Vec::new();
    for hierarchy in hierarchies() {
        let dir = hierarchy.join(parent).join(name);
        record.add(Resource::Cgroup(dir.clone()))?;
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create cgroup", &dir, e))?;
        procs.push(dir.join("cgroup.procs"));
    }
    Ok(procs)
}

/// Whether `path` is a machine cgroup made by [`create`]: undo never touches any other cgroup,
/// whatever a record says.
fn is_machine_cgroup(path: &Path) -> bool {
    path.starts_with("/sys/fs/cgroup")
        && path
            .parent()
            .is_some_and(|p| p.ends_with(TESTING_PARENT) || p.ends_with(LOCAL_PARENT))
}

/// Kills every process left in the cgroup `dir` and its children, then removes them, deepest
/// first (a cgroup directory can only be removed once it has no processes and no children).
pub fn remove(dir: &Path) -> Result<(), Error> {
    if !is_machine_cgroup(dir) || !dir.exists() {
        return Ok(());
    }
    let mut dirs = Vec::new();
    collect_dirs(dir, &mut dirs);
    let pids = || -> Vec<u32> {
        dirs.iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    };
    for pid in pids() {
        if let Some(start) = process_start(pid) {
            kill_and_wait(pid, start);
        }
    }
    // Zombies stay listed until reaped: wait for the list to empty, not for the kills.
    wait_until(Duration::from_secs(10), || pids().is_empty());
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in &dirs {
        if let Err(e) = fs::remove_dir(d)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::io("cannot remove cgroup", d, e));
        }
    }
    Ok(())
}

/// `dir` and every directory below it.
fn collect_dirs(dir: &Path, into: &mut Vec<PathBuf>) {
    into.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), into);
            }
        }
    }
}
