//! dm-providers' tests against local fake servers that speak the providers' documented HTTP APIs
//! (`fake`), and of the servers state file.
//!
//! They are modules of one test binary because every test binary links all of the crate's
//! dependencies; `token_secrecy` is a binary of its own: it sets an environment variable and
//! installs a global tracing subscriber.

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake;

mod actions;
mod digitalocean_lifecycle;
mod dns;
mod hetzner_lifecycle;
mod rate_limit;
mod rejected;
mod start;
mod state_atomic;
mod state_kill;
mod state_lock;
mod state_reconcile;
mod wait_ready;
