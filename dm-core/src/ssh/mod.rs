//! SSH connections to hosts, on russh.
//!
//! A [`Session`] is one authenticated connection to a host (through its ProxyJump chain),
//! connected with [`ConnectOptions`] and shared by every command of a run: [`Session::exec`] runs
//! a command as a channel over it, [`Session::shell`] opens an interactive shell.
//!
//! One concept per file: [`options`](ConnectOptions) (what to connect with), `host_keys`
//! (known_hosts checking), `auth` (key files and agent), `agent_keys` (the agent's public keys,
//! for authorizing them), `connect` (TCP, jumps, timeouts), `session` (the shared connection and
//! its channel cap), `exec` and `shell`, and `abandon` (ending on the host what dm stopped waiting
//! for).

mod abandon;
mod agent_keys;
mod auth;
mod connect;
mod exec;
mod host_keys;
pub mod identity;
pub mod known_hosts;
mod options;
mod session;
mod shell;

pub use abandon::end_abandoned;
pub use agent_keys::{agent_public_keys, env_agent_public_keys};
pub use exec::{ExitStatus, Stream};
pub use options::{ConnectOptions, HostKeyPolicy, Prompt};
pub use session::Session;
