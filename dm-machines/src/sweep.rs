//! Cleaning up after test processes that died without dropping their fleets (killed by a timeout,
//! Ctrl-C, `abort`): every new fleet first tears down the records of fleets whose owner process is
//! gone, so one crashed run never poisons the next.

use std::fs::{self, File};
use std::path::Path;

use super::error::Error;
use super::mounts;
use super::paths::{CACHE_DIR, RUN_DIR};
use super::process::Owner;
use super::record::{Record, read_resources};
use super::teardown::undo_all;

/// Sweeps dead fleets, then creates the record of fleet `id`, all under the sweep lock so that two
/// new fleets never sweep each other's half-written records.
pub fn sweep_and_register(id: &str) -> Result<Record, Error> {
    let run = Path::new(RUN_DIR);
    fs::create_dir_all(run).map_err(|e| Error::io("cannot create", run, e))?;
    let lock_path = run.join("sweep.lock");
    let lock = File::create(&lock_path).map_err(|e| Error::io("cannot create", &lock_path, e))?;
    lock.lock()
        .map_err(|e| Error::io("cannot lock", &lock_path, e))?;
    sweep_dead_fleets();
    // Local machines of test projects whose test process died (their directory went with the
    // dead record just swept).
    let _ = super::local::sweep_abandoned_projects(Path::new(CACHE_DIR));
    Record::create(id)
}

/// Tears down every fleet whose owner process is dead, then removes fleet directories under the
/// cache that no record accounts for (their record was lost, e.g. by a reboot). Failures are
/// left for the next sweep: a stuck leftover must not stop new fleets from booting.
fn sweep_dead_fleets() {
    let records = Record::fleets_dir();
    if let Ok(entries) = fs::read_dir(&records) {
        for entry in entries.flatten() {
            let dir = entry.path();
            let alive = Owner::read(&dir.join("owner")).is_some_and(|owner| owner.is_alive());
            if !alive && undo_all(&read_resources(&dir)).is_empty() {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
    let states = Path::new(CACHE_DIR).join("fleets");
    if let Ok(entries) = fs::read_dir(&states) {
        for entry in entries.flatten() {
            if !records.join(entry.file_name()).exists() {
                let _ = mounts::remove_tree(&entry.path());
            }
        }
    }
}
