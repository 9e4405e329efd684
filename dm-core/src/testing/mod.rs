//! Real Debian test machines on the machine running the tests (feature `testing`).
//!
//! dm's end-to-end tests, and tests of your own fabfiles, need real servers: systemd, apt, sshd,
//! their own file system and address. This module boots them on one Linux machine with
//! `systemd-nspawn`, each in its own network namespace, from a Debian bookworm tree built once with
//! debootstrap and cached under `/var/cache/dm-testing/`. A machine answers SSH about 1–2 s after
//! it starts and uses about 17 MB of memory.
//!
//! ```no_run
//! use dm_core::testing::Fleet;
//!
//! let fleet = Fleet::builder()
//!     .machine("lb1", &["loadbalancer"])
//!     .machine("appnode1", &["appnode"])
//!     .boot()?;
//! let app = fleet.machine("appnode1");
//! assert_eq!(app.exec_ok("hostname").trim(), "appnode1");
//! // Point dm at the fleet:
//! std::fs::write(fleet.dir().join("dm.toml"), fleet.inventory_toml()).unwrap();
//! # Ok::<(), dm_core::testing::Error>(())
//! ```
//!
//! # What every machine has
//! - hostname = its name, its own freshly generated ed25519 host key;
//! - users `root` and `deploy`, both accepting [`Fleet::private_key`]; `deploy` is in group `sudo`
//!   with password [`DEPLOY_PASSWORD`], so `sudo` asks for it;
//! - an address 10.231.N.x on a bridge private to the fleet, `/etc/hosts` naming every machine of
//!   the fleet, and a way out to this machine's Debian mirror (NAT) so `apt-get` works.
//!
//! # Requirements
//! Root, and the packages `systemd-container debootstrap iproute2 iptables openssh-client`:
//! `scripts/test` installs them and runs the tests. Without them [`FleetBuilder::boot`] fails with
//! one error that names what is missing.
//!
//! # Cleanup
//! Dropping a [`Fleet`] (also while a test panics) stops its machines and removes every
//! namespace, link, mount, firewall rule and file it created. Each fleet records what it creates
//! under `/run/dm-testing/fleets/`; when a test process dies without dropping its fleets, the next
//! fleet to boot removes what they left.

mod base;
mod boot;
mod cgroup;
mod command;
mod error;
mod fleet;
mod keys;
mod machine;
mod mirror;
mod mounts;
mod network;
mod prerequisites;
mod record;
mod rootfs;
mod slot;
mod ssh;
mod sweep;

pub use base::{CACHE_DIR, DEPLOY_PASSWORD, DEPLOY_USER};
pub use error::Error;
pub use fleet::{Fleet, FleetBuilder};
pub use machine::Machine;
