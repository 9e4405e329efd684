//! Network slots: each live fleet holds one number N, which names its subnet (10.231.N.0/24), its
//! bridge and its namespaces, so fleets of parallel tests and parallel test processes never
//! collide. A slot is a file lock, held for the fleet's life and released by the kernel when the
//! process dies, so a crash never leaks a slot.
//!
//! Slots are handed out in turn (the first free one after the slot handed out last), not lowest
//! first: a slot just given back is then not reused for a long while, so a check that a dropped
//! fleet left nothing behind (`dm_testing::Footprint`) sees that fleet's names, not a successor's,
//! and a new fleet's clean-up of its slot never hides what a previous one leaked.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use super::error::Error;
use super::paths::RUN_DIR;

/// Slot numbers in use: 10.231.0.0/24 is left out so that a stray hand-made test network (the
/// address plan in TESTHOSTS.md uses it) never collides with a fleet.
const SLOTS: std::ops::RangeInclusive<u8> = 1..=254;

/// A held slot. Dropping it releases the slot.
#[derive(Debug)]
pub struct Slot {
    number: u8,
    /// Holds the lock; closing the file releases it.
    _lock: File,
}

impl Slot {
    /// Takes the first free slot after the one handed out last (see the module docs).
    pub fn acquire() -> Result<Slot, Error> {
        let dir = slots_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        // The cursor is shared by every test process: read and advance it under a lock of its own.
        let cursor_lock_path = dir.join("next.lock");
        let cursor_lock = File::create(&cursor_lock_path)
            .map_err(|e| Error::io("cannot create", &cursor_lock_path, e))?;
        cursor_lock
            .lock()
            .map_err(|e| Error::io("cannot lock", &cursor_lock_path, e))?;
        let cursor_path = dir.join("next");
        let start = fs::read_to_string(&cursor_path)
            .ok()
            .and_then(|text| text.trim().parse::<u8>().ok())
            .filter(|number| SLOTS.contains(number))
            .unwrap_or(*SLOTS.start());
        let in_turn = SLOTS
            .cycle()
            .skip_while(|number| *number != start)
            .take(SLOTS.count());
        for number in in_turn {
            let Some(lock) = try_take(&dir, number)? else {
                continue;
            };
            let next = if number == *SLOTS.end() {
                *SLOTS.start()
            } else {
                number + 1
            };
            fs::write(&cursor_path, format!("{next}\n"))
                .map_err(|e| Error::io("cannot write", &cursor_path, e))?;
            return Ok(Slot {
                number,
                _lock: lock,
            });
        }
        Err(Error::NoFreeSlot {
            count: SLOTS.count() as u32,
            dir,
        })
    }

    /// Takes slot `number` if it is free: for checking what a fleet that held it left behind
    /// while no new fleet can move in.
    pub fn try_acquire(number: u8) -> Result<Option<Slot>, Error> {
        let dir = slots_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(try_take(&dir, number)?.map(|lock| Slot {
            number,
            _lock: lock,
        }))
    }

    /// The slot number N.
    pub fn number(&self) -> u8 {
        self.number
    }
}

/// Locks slot `number`'s file in `dir`; `None` when another fleet holds it.
fn try_take(dir: &Path, number: u8) -> Result<Option<File>, Error> {
    let path = dir.join(format!("{number}.lock"));
    let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
    }
}

/// The directory of slot lock files.
fn slots_dir() -> PathBuf {
    Path::new(RUN_DIR).join("slots")
}
