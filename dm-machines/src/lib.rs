//! dm-machines: real Debian machines on this Linux host: systemd-nspawn containers, each in its
//! own network namespace on a private bridge, booted in seconds from a Debian bookworm tree built
//! once with debootstrap and cached under [`CACHE_DIR`].
//!
//! Two users share this machinery, so there is one way to build, boot, record and tear down a
//! machine:
//! - the test harness (crate `dm-testing`, `dm::testing` with feature `testing`): a fleet of
//!   machines that lives as long as the test that booted it;
//! - the local provider (`dm_providers::local`, tasks `boot`/`destroy`/`scale`): [`local`]
//!   machines that outlive the dm run that booted them, until they are destroyed.
//!
//! Everything a machine is made of (namespace, veth link, overlay mount, cgroup, nspawn process,
//! directories, NAT rules) is written to a [`record`] *before* it is created, so a crash at any
//! point leaves nothing that a later run cannot find and remove ([`teardown`], [`sweep`]).
//!
//! Needs root and the packages `systemd-container debootstrap iproute2 iptables openssh-client`;
//! without them the first step fails with [`Error::NotRoot`] or [`Error::MissingPrograms`].
//!
//! [`local`] is the API of the local provider's machines; the other modules are the building
//! blocks the test harness assembles its fleets from, public for that crate only.

pub mod base;
pub mod boot;
pub mod cgroup;
pub mod command;
pub mod error;
pub mod keys;
pub mod known_hosts;
pub mod local;
pub mod mirror;
pub mod mounts;
pub mod network;
pub mod paths;
pub mod prerequisites;
pub mod process;
pub mod record;
pub mod rootfs;
pub mod slot;
pub mod ssh;
pub mod sweep;
pub mod teardown;

pub use base::{DEPLOY_PASSWORD, DEPLOY_USER};
pub use error::Error;
pub use paths::CACHE_DIR;
