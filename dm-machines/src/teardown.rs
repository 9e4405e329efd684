//! Teardown: undoing what a [`Record`] says was created, when a fleet is dropped, a local machine
//! is destroyed or stopped, or a sweep finds the record of a process that died. Each kind of
//! resource is removed by the module that creates it (cgroups, network, mounts); this module only
//! orders the work, so records stay below everything that writes to them.

use std::fs;

use super::cgroup;
use super::error::Error;
use super::mounts;
use super::network;
use super::paths::{CACHE_DIR, LOCAL_DIR, NSPAWN_STATE, RUN_DIR};
use super::process::{kill_and_wait, kill_namespace_processes};
use super::record::{Record, Resource};

// An inherent method defined beside the undo it needs, so that the record module, which every
// creating module imports, does not import them back.
impl Record {
    /// Undoes everything recorded, then removes the record. Returns what could not be undone.
    pub fn teardown(&self) -> Vec<Error> {
        let mut errors = undo_all(&self.resources());
        if errors.is_empty()
            && let Err(e) = fs::remove_dir_all(self.dir())
        {
            errors.push(Error::io("cannot remove", self.dir(), e));
        }
        errors
    }
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
            if [CACHE_DIR, RUN_DIR, NSPAWN_STATE, LOCAL_DIR]
                .iter()
                .any(|dir| path.starts_with(dir))
            {
                mounts::remove_tree(path)
            } else {
                Ok(())
            }
        }
        Resource::Mount(path) => mounts::unmount(path),
        Resource::Cgroup(path) => cgroup::remove(path),
        Resource::Netns(name) => network::delete_netns(name),
        Resource::Link(name) => network::delete_link(name),
        Resource::Nat { subnet, bridge } => network::delete_nat(subnet, bridge),
        Resource::Forward { bridge } => network::delete_forward_rules(bridge),
    }
}
