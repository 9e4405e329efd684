//! dm-core's integration tests against real sshd servers and on-disk files: SSH connections (one
//! module per protocol behaviour), the inventory, and the secrets store and commands.
//!
//! They are modules of one test binary because every test binary links all of dm-core's
//! dependencies. Two that change process-wide state are binaries of their own: `ssh_agent`
//! (sets SSH_AUTH_SOCK) and `secrets_reserved_name` (registers a task named `secrets`).

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod secrets_support;
mod ssh_support;

mod inventory;
mod secrets_edit;
mod secrets_edit_signal;
mod secrets_run;
mod secrets_store;
mod ssh_auth;
mod ssh_channels;
mod ssh_connect;
mod ssh_disconnect;
mod ssh_exec;
mod ssh_fleet;
mod ssh_host_keys;
mod ssh_proxy_jump;
mod ssh_shell;
mod ssh_stdin_stream;
