//! dm-testing: real Debian test machines on the machine running the tests, and running a fabfile's
//! tasks against them. Fabfiles use it as `dm::testing` (feature `testing`).
//!
//! dm's end-to-end tests, and tests of your own fabfiles, need real servers: systemd, apt, sshd,
//! their own file system and address. This module boots them on one Linux machine with
//! `systemd-nspawn`, each in its own network namespace, from a Debian bookworm tree built once with
//! debootstrap and cached under `/var/cache/dm-testing/`. A machine answers SSH about 1–2 s after
//! it starts and uses about 17 MB of memory.
//!
//! # Testing your fabfile
//! Put the fabfile's tasks in its library (`src/lib.rs`) and keep `src/main.rs` to
//! `use my_fabfile as _; dm::main!();`: an integration test (`tests/*.rs`) cannot link a binary's
//! `main.rs`, but it links the library, and with it the tasks. Add the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! dm = { version = "...", features = ["testing"] }
//! ```
//!
//! Then, in `tests/fleet.rs` (run as root: `sudo -E cargo test`):
//!
//! ```no_run
//! use dm_testing::Fleet; // `dm::testing::Fleet` in a fabfile crate
//! // use my_fabfile as _;      // links the fabfile's tasks into this test binary
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two machines with names, roles and vars; or the servers of your own inventory:
//! // `Fleet::from_inventory("dm.toml", Some("staging"))?.boot()?`.
//! let fleet = Fleet::builder()
//!     .machine("lb1", &["loadbalancer"])
//!     .machine("appnode1", &["appnode"])
//!     .var("appnode1", "port", 8000)
//!     .boot()?;
//! let footprint = fleet.footprint();
//!
//! // Run tasks in-process, exactly as `cargo run -- -R appnode restart ssh` would.
//! let report = fleet.dm_ok(["-R", "appnode", "restart", "ssh"]);
//! assert_eq!(report.counts.ok, 1);
//! let report = fleet.dm(["--json", "-H", "lb1", "health"])?;
//! assert!(report.success, "{:?}", report.hosts[0].error);
//!
//! // Check the machines from outside.
//! let app = fleet.machine("appnode1");
//! assert!(app.is_active("ssh"));
//! assert_eq!(app.read_file("/etc/hostname").trim(), "appnode1");
//! assert_eq!(app.exec_ok("id -un").trim(), "root");
//! let page = fleet.machine("lb1").http_get(80, "/")?;
//! assert_eq!(page.status, 200, "{}", page.body);
//!
//! // Dropping the fleet (also when the test panics) removes everything it created.
//! drop(fleet);
//! assert_eq!(footprint.leftovers(), Vec::<String>::new());
//! # Ok(())
//! # }
//! ```
//!
//! Tests run in parallel: each fleet has its own network slot (subnet, bridge, namespaces) and
//! directory. Without root or the needed packages, [`FleetBuilder::boot`] fails with one error
//! saying what is missing; a test never passes without having booted its machines.
//!
//! In-process runs install dm's Ctrl-C handler in the test process (the first Ctrl-C lets running
//! hosts finish, as in a terminal), so after one, interrupting `cargo test` ends cargo while the
//! test binary finishes its tests and tears its fleets down.
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

// A test API: a step that fails panics with its message, which is the failing test's report.
#![allow(clippy::panic)]

mod fleet;
mod footprint;
mod from_inventory;
mod http;
mod inventory;
mod local_project;
mod machine;
mod run;

/// The report of a run, as [`Fleet::dm`] returns it.
pub use dm_core::report::RunReport;
pub use dm_machines::{CACHE_DIR, DEPLOY_PASSWORD, DEPLOY_USER, Error};
pub use fleet::{Fleet, FleetBuilder};
pub use footprint::Footprint;
pub use http::HttpResponse;
pub use local_project::LocalProject;
pub use machine::Machine;
pub use run::RUN_DEADLINE;
