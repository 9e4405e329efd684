//! dm-core: the runtime behind dm fabfiles.
//!
//! The modules follow the concepts a user meets: an [`inventory`] of servers and roles read from
//! `dm.toml`, [`host`]s reached over [`ssh`], [`task`]s registered by `#[task]`, a task context
//! ([`Ctx`]) that runs commands and moves files, the [`executor`] that runs a task on many hosts in
//! parallel, the [`report`] of what happened, and the [`cli`] that ties it together.
//!
//! This crate is dm's runtime, not its API: a fabfile depends on `dm`, which re-exports the
//! part of it an author uses (its front page lists it). The modules here are public so that
//! dm's other crates (the standard library, the providers, the local machines, the testing API)
//! can build on them; they may change between versions. ARCHITECTURE.md at the repository's
//! root walks through them.

pub mod cli;
pub mod ctx;
pub mod error;
pub mod events;
pub mod executor;
pub mod host;
pub mod inventory;
pub mod operation;
pub mod output;
pub mod prompt;
pub mod quote;
pub mod redact;
pub mod report;
pub mod secrets;
pub mod ssh;
pub mod task;

pub use ctx::Ctx;
pub use error::Error;
/// Operations under their short name: `ops::File`, `ops::Apt`, ...
pub use operation as ops;
pub use quote::shell_quote;
pub use task::TaskDef;

/// Items the `#[task]` macro expands to. Not part of the public API: names here may change.
#[doc(hidden)]
pub mod __private {
    pub use anyhow;
    pub use clap;
    pub use inventory;
}
