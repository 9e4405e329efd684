//! dm's standard library of tasks.
//!
//! Every task here is both a CLI task (`cargo run -- facts`) and a plain async function your own
//! tasks can call (`dm::tasks::facts(ctx).await?`).

// `#[task]` expands to paths under `::dm`; inside this crate that is dm-core.
extern crate dm_core as dm;

mod address;
mod adhoc;
pub mod app;
pub mod appnode;
pub mod deploy;
mod facts;
pub mod launch;
pub mod loadbalancer;
pub mod logs;
pub mod maintenance;
pub mod nginx;
mod operator_keys;
pub mod postgres;
pub mod provision;
pub mod python;
pub mod redis;
pub mod roles;
pub mod scale;
pub mod servers;
mod shell;
pub mod supervisor;
mod table_var;

pub use address::private_address;
pub use adhoc::run;
pub use facts::facts;
pub use launch::{launch, launch_host};
pub use logs::logs;
pub use maintenance::maintenance;
pub use provision::{provision, provision_host};
pub use scale::scale;
pub use servers::servers;
pub use shell::ssh;

/// Called by `dm::main!()` so that the linker keeps this crate and its task registrations.
#[inline(never)]
pub fn link() {}
