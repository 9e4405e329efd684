//! The directories on this host that machines live in. Teardown deletes directories only inside
//! these, whatever a record says, so they sit apart from the modules that create or remove
//! machines: every one of them can name them.

/// Where the harness keeps its base trees and its machines' writable layers.
pub const CACHE_DIR: &str = "/var/cache/dm-testing";

/// Where fleets record what they created (on most machines a tmpfs, emptied by a reboot, which
/// also ends every namespace, mount and process recorded there).
pub const RUN_DIR: &str = "/run/dm-testing";

/// Where systemd-nspawn keeps per-machine state on the host (a lock file per root directory, a
/// propagation directory per machine). It removes them when it exits normally, not when killed.
pub const NSPAWN_STATE: &str = "/run/systemd/nspawn";

/// Where local machines live: one directory per machine under `machines/`, the shared network's
/// record under `network/`. Persistent, unlike test fleets' `/run` records, because the machines
/// are meant to stay.
pub const LOCAL_DIR: &str = "/var/lib/dm-local";
