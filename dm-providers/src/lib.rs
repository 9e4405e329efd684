//! dm-providers: where dm's servers come from.
//!
//! A [`Provider`] creates, lists, inspects and destroys servers from a [`ServerSpec`] and waits
//! until they answer on SSH. [`LocalProvider`] boots Debian machines on this host (the default
//! for examples, tests and development; needs root). [`Hetzner`] and [`DigitalOcean`] speak
//! those clouds' documented REST APIs through one retrying HTTP client ([`http`]);
//! [`DigitalOceanDns`] points a name's A records at a set of addresses. The [`State`] file next
//! to the inventory records what was booted, so a later run finds servers by name and a run
//! killed mid-boot is reconciled instead of leaking a server.
//!
//! Real Hetzner and DigitalOcean accounts are not exercised by the tests here: they run against
//! local fake servers that speak the documented endpoints, payloads, errors and rate limits.

mod act_once;
mod action;
pub mod cloud_init;
pub mod digitalocean;
pub mod dns;
pub mod error;
pub mod hetzner;
pub mod http;
pub mod local;
pub mod provider;
pub mod ready;
pub mod state;
pub mod token;

pub use digitalocean::DigitalOcean;
pub use dns::{ARecord, DigitalOceanDns, DnsChange, DnsProvider};
pub use error::{Error, Result};
pub use hetzner::Hetzner;
pub use http::{ActionWait, ApiConfig, RetryPolicy};
pub use local::LocalProvider;
pub use provider::{BoxFuture, Destroyed, Provider, Server, ServerSpec, ServerStatus};
pub use ready::Wait;
pub use state::{Reconciled, Record, State};
pub use token::Token;
