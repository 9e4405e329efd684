//! dm-serve: the `serve` task, a REST control plane for a fabfile's tasks.
//!
//! `serve` is a standard task of every fabfile (registered here, linked by `dm::main!`): it puts
//! the fabfile's tasks behind an HTTP API where each run is a job, queued per environment, run
//! in this process through dm-core's executor, its events stored as the job's log and streamed
//! to clients. From the bottom up:
//!
//! - [`listen`]: where the server listens, and the refusal to listen beyond loopback unprotected;
//! - [`store`]: the database (SQLite now; the SQL is kept portable for PostgreSQL): jobs, their
//!   events, users, tokens, the audit log;
//! - [`job_args`]: a JSON request's arguments checked against a task's own command-line model;
//! - [`event_json`]: a run's events as the redacted JSON the job log stores;
//! - [`runner`]: one job run in-process, without a terminal; [`queue`]: which job starts when;
//! - [`auth`]: API tokens; [`login_limit`]: failed logins slowed down per address; [`permissions`]: who may run what; [`api`]: the HTTP routes; [`tls`]: HTTPS; [`task`]: the `serve`
//!   task itself.

pub mod api;
pub mod auth;
pub mod event_json;
pub mod job_args;
pub mod listen;
pub mod login_limit;
pub mod permissions;
pub mod queue;
pub mod runner;
pub mod store;
pub mod task;
pub mod task_model;
pub mod tls;

/// Names this crate so the linker keeps the `serve` task's registration (the registry drops
/// registrations of crates a binary never refers to). `dm::main!` calls it.
pub fn link() {}

/// The name of the task.
pub const TASK_NAME: &str = "serve";
