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
//! runs one.
//!
//! # The public API
//!
//! Everything a fabfile author uses, in one place (`use dm::prelude::*;` brings the first column
//! marked ✓ into scope):
//!
//! | item | what it is |
//! | --- | --- |
//! | [`main!`] | ✓ `dm::main!();` defines the fabfile's `main`: flags, inventory, selection, the run |
//! | [`#[task]`](macro@task) | ✓ makes an `async fn(ctx: &Ctx, ...) -> Result<()>` a task of the command line; options `roles = [...]`, `serial = N`, `parallel = N`, `once`, `local`, `name = "..."`; arguments with `#[arg(...)]` |
//! | [`Ctx`] | ✓ the task's context on one host: [`run`](Ctx::run), [`sudo`](Ctx::sudo), [`local`](Ctx::local), [`put`](Ctx::put), [`get`](Ctx::get), [`step`](Ctx::step), [`var`](Ctx::var), [`secret`](Ctx::secret), [`facts`](Ctx::facts), [`cd`](Ctx::cd), [`env`](Ctx::env), [`on_hosts`](Ctx::on_hosts), [`log`](Ctx::log), [`check_mode`](Ctx::check_mode) |
//! | [`ops`] | ✓ operations, declared state applied by a [`Step`](ops::Step): [`File`](ops::File), [`Line`](ops::Line), [`Directory`](ops::Directory), [`Symlink`](ops::Symlink), [`Apt`](ops::Apt), [`Service`](ops::Service), [`User`](ops::User), [`Group`](ops::Group), [`Git`](ops::Git), [`Cron`](ops::Cron), [`Sysctl`](ops::Sysctl), [`AuthorizedKey`](ops::AuthorizedKey), [`Command`](ops::Command); the [`Operation`](ops::Operation) trait for your own |
//! | [`shell_quote`] | ✓ quotes a value for a POSIX shell command line |
//! | `Result`, `anyhow!`, `bail!`, `ensure!`, `Context` | ✓ [anyhow](https://docs.rs/anyhow)'s, what tasks return |
//! | [`ctx`] | what `Ctx`'s methods return ([`Run`](ctx::Run), [`Output`](ctx::Output), [`Put`](ctx::Put), [`Get`](ctx::Get), [`Facts`](ctx::Facts)) and [`FanOutResult`](ctx::FanOutResult), the result of [`Ctx::on_hosts`] per host |
//! | [`Host`], [`Inventory`] | a server of `dm.toml` and the whole inventory ([`Ctx::host`], [`Ctx::inventory`]) |
//! | [`inventory`] | [`VarsTable`](inventory::VarsTable): have your own `[vars.NAME]` table checked when the inventory loads |
//! | [`Error`] | dm's typed error (below) |
//! | [`tasks`] | dm's standard library: every standard task as a plain async function (`dm::tasks::facts(ctx).await?`) |
//! | [`task`](mod@task) | the registered tasks ([`find`](task::find), [`registered`](task::registered)), for a fabfile's own tests |
//! | `testing` | with the `testing` feature: boot local machines and run the fabfile against them (below) |
//!
//! Nothing else is part of the API: the runtime behind it (SSH sessions, the executor, the
//! reporter, local machines) lives in dm's other crates and may change between versions.
//!
//! # Errors
//!
//! One story, from the inside out:
//!
//! - dm's own functions return [`Error`] (an enum, one variant per kind of failure), whose message
//!   names the host, file or key involved and says what to do: [`Ctx::run`], [`Ctx::put`],
//!   [`Ctx::facts`], [`Ctx::var`] and [`Ctx::secret`] all do.
//! - Tasks return [`anyhow::Result`](prelude::Result): `?` turns an [`Error`] (or any other error)
//!   into it, and [`Context`](anyhow::Context) adds what the task was doing. A task's error is
//!   reported with its host and fails that host only.
//! - A task that needs to know which failure it got downcasts:
//!   `err.downcast_ref::<dm::Error>()`.
//!
//! # Three things called "local"
//!
//! - [`Ctx::local`] runs one command on the operator's machine (where `dm` runs), from a task on
//!   any host.
//! - `#[task(local)]` makes a task run once on the operator's machine instead of on each host; its
//!   [`Ctx`] can still reach hosts with [`Ctx::on_hosts`].
//! - `provider = "local"` in `dm.toml` boots servers as local machines (systemd-nspawn
//!   containers on the operator's machine), for trying a deployment without a cloud account.
//!
//! # Testing a fabfile
//!
//! With the `testing` feature (`[dev-dependencies] dm = { ..., features = ["testing"] }`),
//! `dm::testing` boots real local Debian machines for the fabfile's own tests, runs its tasks
//! against them in-process (`fleet.dm_ok(["-R", "appnode", "restart", "ssh"])`) and inspects them
//! from outside (`machine.is_active("ssh")`, `machine.http_get(80, "/")`). Tests link the
//! fabfile's tasks when they live in its library: `src/lib.rs` holds the tasks, `src/main.rs` is
//! `use my_fabfile as _; dm::main!();`. The `dm::testing` documentation has a complete example;
//! `examples/quickstart/tests/` is one.

pub use dm_core::host::Host;
pub use dm_core::inventory::Inventory;
pub use dm_core::{Ctx, Error, ops, shell_quote};
pub use dm_macros::task;
/// dm's standard library of tasks, callable from your own tasks as plain async functions.
pub use dm_tasks as tasks;
/// Real local Debian machines for a fabfile's own tests (feature `testing`).
#[cfg(feature = "testing")]
pub use dm_testing as testing;

/// What a task's context returns: commands and their output, transfers, facts, and the outcome
/// of work fanned out to other hosts.
pub mod ctx {
    pub use dm_core::ctx::{Facts, FanOutResult, Get, Output, Put, Run};
}

/// The inventory (`dm.toml`) as a task sees it, and how a fabfile has its own variables checked.
///
/// A fabfile that reads a table of variables (`ctx.var::<Greeting>("greeting")`) registers it,
/// so that a mistake in `[vars.greeting]` is reported with its file, line and key when the
/// inventory loads instead of when the task runs:
///
/// ```
/// use dm::inventory::{VarsProblem, VarsTable};
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Greeting {
///     text: String,
/// }
///
/// dm::inventory::submit! {
///     VarsTable {
///         name: "greeting",
///         read_by: "my fabfile's `greet` task",
///         check: |value| VarsProblem::deserialize::<Greeting>(value).map(drop),
///     }
/// }
/// ```
pub mod inventory {
    /// Registers a [`VarsTable`] (the [`inventory`](https://docs.rs/inventory) crate's `submit!`).
    pub use ::inventory::submit;
    pub use dm_core::host::{Host, Vars};
    pub use dm_core::inventory::{Inventory, VarsProblem, VarsTable};
}

/// The tasks `#[task]` registered in this program, by name.
pub mod task {
    pub use dm_core::task::{TaskDef, TaskFuture, find, registered};
}

/// What a fabfile needs in scope: `use dm::prelude::*;`.
pub mod prelude {
    pub use crate::{Ctx, ops, shell_quote, task};
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
            $crate::__private::link_standard_tasks();
            $crate::__private::cli_main()
        }
    };
}

/// Items `#[task]` and `main!` expand to. Not part of the public API: names here may change.
#[doc(hidden)]
pub mod __private {
    pub use dm_core::__private::*;
    pub use dm_core::cli::main as cli_main;

    /// Names the standard library so the linker keeps its task registrations.
    pub fn link_standard_tasks() {
        dm_tasks::link();
        dm_serve::link();
    }
}

/// The README's Rust examples, compiled by `cargo test --doc` so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The runtime's internals are not part of dm's API (each block must fail to compile):
///
/// ```compile_fail
/// use dm::executor;
/// ```
///
/// ```compile_fail
/// use dm::machine;
/// ```
///
/// ```compile_fail
/// use dm::redact;
/// ```
///
/// ```compile_fail
/// use dm::cli;
/// ```
#[cfg(doctest)]
pub struct InternalsStayInternal;
