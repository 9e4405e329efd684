//! Real Debian machines on this Linux host: systemd-nspawn containers, each in its own network
//! namespace on a private bridge, booted in seconds from a Debian bookworm tree built once with
//! debootstrap and cached under [`CACHE_DIR`].
//!
//! Two users share this machinery, so there is one way to build, boot, record and tear down a
//! machine:
//! - the test harness ([`crate::testing`], feature `testing`): a fleet of machines that lives as
//!   long as the test that booted it;
//! - the local provider (`dm_providers::local`, tasks `boot`/`destroy`/`scale`): [`local`]
//!   machines that outlive the dm run that booted them, until they are destroyed.
//!
//! Everything a machine is made of (namespace, veth link, overlay mount, cgroup, nspawn process,
//! directories, NAT rules) is written to a record *before* it is created (the `record` module), so a crash
//! at any point leaves nothing that a later run cannot find and remove.
//!
//! Needs root and the packages `systemd-container debootstrap iproute2 iptables openssh-client`;
//! without them the first step fails with [`Error::NotRoot`] or [`Error::MissingPrograms`].

pub(crate) mod base;
pub(crate) mod boot;
pub(crate) mod cgroup;
pub(crate) mod command;
pub(crate) mod error;
pub(crate) mod keys;
pub mod known_hosts;
pub mod local;
pub(crate) mod mirror;
pub(crate) mod mounts;
pub(crate) mod network;
pub(crate) mod prerequisites;
pub(crate) mod record;
pub(crate) mod rootfs;
#[cfg(feature = "testing")]
pub(crate) mod slot;
#[cfg(feature = "testing")]
pub(crate) mod ssh;
#[cfg(feature = "testing")]
pub(crate) mod sweep;

pub use base::{CACHE_DIR, DEPLOY_PASSWORD, DEPLOY_USER};
pub use error::Error;
