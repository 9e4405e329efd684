//! Network slots: each live fleet holds one number N, which names its subnet (10.231.N.0/24), its
//! bridge and its namespaces, so fleets of parallel tests and parallel test processes never
//! collide. A slot is a file lock, held for the fleet's life and released by the kernel when the
//! process dies, so a crash never leaks a slot.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use super::error::Error;
use super::record::RUN_DIR;

/// Slot numbers in use: 10.231.0.0/24 is left out so that a stray hand-made test network (the
/// address plan in TESTHOSTS.md uses it) never collides with a fleet.
const SLOTS: std::ops::RangeInclusive<u8> = 1..=254;

/// A held slot. Dropping it releases the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    number: u8,
    /// Holds the lock; closing the file releases it.
    _lock: File,
}

impl Slot {
    /// Takes the lowest free slot.
    pub(crate) fn acquire() -> Result<Slot, Error> {
        let dir = slots_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        for number in SLOTS {
            let path = dir.join(format!("{number}.lock"));
            let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Slot {
                        number,
                        _lock: file,
                    });
                }
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
            }
        }
        Err(Error::NoFreeSlot {
            count: SLOTS.count() as u32,
            dir,
        })
    }

    /// The slot number N.
    pub(crate) fn number(&self) -> u8 {
        self.number
    }
}

/// The directory of slot lock files.
fn slots_dir() -> PathBuf {
    Path::new(RUN_DIR).join("slots")
}
