//! Servers that come and go: `boot NAME...`, `destroy NAME...`, `servers` and `scale ROLE=N`.
//!
//! A server is booted by a provider (dm-providers): `local` (machines on this host, the default;
//! needs root), `hetzner` or `digitalocean`. Which one, and with what size, image and region,
//! comes from `provider` settings in the inventory (see [`dm_core::inventory::provider`]):
//!
//! ```toml
//! provider = "local"                       # default for every server; "local" when absent
//!
//! [environments.production]
//! provider = { name = "hetzner", size = "cx22", image = "debian-12", region = "fsn1" }
//!
//! [servers.appnode2]
//! provider = "local"                       # declared servers need no address: the state
//!                                          # file supplies it once booted
//! ```
//!
//! Provider table keys: `name` (`local`, `hetzner`, `digitalocean`), `size`, `image`, `region`
//! (required by the clouds; the local provider ignores them), `tags` (list of strings),
//! `boot_timeout` (seconds until SSH must answer, default 300; 120 for `local`).
//!
//! What was booted is recorded in `servers.state.toml` next to the inventory (written before
//! and after each create and destroy, under a lock, see `dm_providers::State`), and inventory
//! loading adds those servers, so `-H appnode2`, `-R appnode` and `ssh appnode2` find them in
//! later runs. A run killed mid-boot is reconciled by the next `boot`, `destroy`, `servers` or
//! `scale`: the server is adopted if it came up, cleaned away if it did not.
//!
//! A new server's roles are the inventory's for that name when it declares it, else the role in
//! its name (`appnode3` → `appnode`). It is authorized for the operator's SSH public key: the
//! `.pub` of each `[defaults] identity_file(s)` and `-i` key, else `~/.ssh/id_ed25519.pub`
//! (generated, with a note, when the operator has no key at all).

mod boot;
mod cli;
mod destroy;
mod drain;
mod operator_keys;
mod providers;
mod scale;
mod table;

pub use boot::boot_servers;
pub use destroy::destroy_servers;
pub use operator_keys::operator_public_keys;
pub use providers::{ServerStore, provider_named};
pub use scale::{ScaleTarget, scale, scale_role};
pub use table::servers;
