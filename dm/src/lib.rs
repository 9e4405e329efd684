//! # dm — DeployMachine for Rust
//!
//! A fabfile is a small binary crate that depends on `dm`:
//!
//! ```no_run
//! use dm::prelude::*;
//!
//! /// Show uptime and free disk on every selected host.
//! #[task]
//! async fn health(ctx: &Ctx) -> Result<()> {
//!     ctx.run("uptime").await?;
//!     ctx.run("df -h /").await?;
//!     Ok(())
//! }
//!
//! dm::main!();
//! ```
//!
//! `cargo run -- --list` shows its tasks and dm's standard ones; `cargo run -- -R appnode health`
//! runs one. Everything of [`dm_core`] is re-exported here; the standard library is [`tasks`].
//!
//! ## Testing a fabfile
//!
//! With the `testing` feature (`[dev-dependencies] dm = { ..., features = ["testing"] }`),
//! `dm::testing` boots real local Debian machines for the fabfile's own tests, runs its tasks
//! against them in-process (`fleet.dm_ok(["-R", "appnode", "restart", "ssh"])`) and inspects them
//! from outside (`machine.is_active("ssh")`, `machine.http_get(80, "/")`). Tests link the
//! fabfile's tasks when they live in its library: `src/lib.rs` holds the tasks, `src/main.rs` is
//! `use my_fabfile as _; dm::main!();`. The `dm_core::testing` documentation has a complete
//! example; `examples/quickstart/tests/` is one.

pub use dm_core::*;
pub use dm_macros::task;
/// dm's standard library of tasks, callable from your own tasks as plain functions.
pub use dm_tasks as tasks;

/// What a fabfile needs in scope: `use dm::prelude::*;`.
pub mod prelude {
    pub use crate::{Ctx, shell_quote, task};
    pub use anyhow::{Context as _, Result, anyhow, bail, ensure};
}

/// Defines `main` for a fabfile: parses the command line and runs the chosen task.
///
/// Naming the standard library here is what makes its tasks appear: the linker keeps a crate's
/// task registrations only when the binary refers to that crate.
#[macro_export]
macro_rules! main {
    () => {
        fn main() -> ::std::process::ExitCode {
            $crate::__link_standard_tasks();
            $crate::cli::main()
        }
    };
}

#[doc(hidden)]
pub fn __link_standard_tasks() {
    dm_tasks::link();
}

/// The README's Rust examples, compiled by `cargo test --doc` so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
