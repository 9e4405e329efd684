//! Servers that come and go: `boot NAME...`, `destroy NAME...` and `servers`; `scale ROLE=N`
//! ([`crate::scale`](mod@crate::scale)) builds on them.
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
//! `boot_timeout` (seconds until SSH must answer, default 300; 120 for `local`), `api_url` (the
//! clouds' API endpoint, for a proxy or a fake API: `https://`, or `http://` to this machine
//! only, since the token goes with every request; a run that uses another endpoint says so).
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
//!
//! # Cloud tokens
//! A cloud provider's API token comes from its environment variable when that is set
//! (`HCLOUD_TOKEN`, `DIGITALOCEAN_TOKEN`), else from the secrets store of the run's environment
//! (`secrets/ENV.age`, read with `ctx.secret`): the secret `hcloud_token` or
//! `digitalocean_token`, or the one named by the provider table's `token_secret`:
//!
//! ```toml
//! [environments.production]
//! provider = { name = "hetzner", size = "cx22", image = "debian-12", region = "fsn1", token_secret = "hetzner_prod_token" }
//! ```
//!
//! Either way the token is masked in all of dm's output, and errors never contain it.
//!
//! # DNS
//! With a `[dns]` table, `boot`, `launch` (when it launched a load balancer) and `scale` (up or
//! down), and the `dns` task, point the name's A records at the load balancers: afterwards the
//! name has exactly one A record per server playing `loadbalancer` (also as `appbalancer` or
//! `dbappbalancer`) at its address (the inventory's, or the state file's for servers dm
//! booted); other names and record types are never touched, and the output says what was added,
//! re-pointed or removed. A load balancer that `boot` just created serves nothing yet: it is
//! left out until `launch` has set it up, and so is one whose launch failed. Scaling load
//! balancers down takes the leaving ones out of DNS before they are destroyed. Without load
//! balancers the records are left alone; without a `[dns]` table nothing is contacted.
//!
//! ```toml
//! [dns]
//! provider = "digitalocean"      # the DNS provider (DigitalOcean's Domains API; the only one yet)
//! domain = "example.com"         # the zone at the provider
//! name = "www"                   # the record name in it; "@" (the default) is the zone itself
//! ttl = 300                      # seconds, at least 30 (default 300)
//! token_secret = "do_dns_token"  # optional: the secret holding the token (see above)
//! api_url = "https://api.digitalocean.com/v2"   # optional: another endpoint, https:// only (http:// to this machine); each run says it
//!
//! [environments.staging.dns]     # an environment's table is merged over the top-level one
//! name = "staging"
//! ```
//!
//! The token is `DIGITALOCEAN_TOKEN`, else the secret `digitalocean_token` (or `token_secret`).
//! With several environments, give each its own `name` (or put `[dns]` under the environment
//! that owns the name): a top-level table alone applies to every environment.

mod boot;
mod check_plan;
mod cli;
mod destroy;
mod dns;
mod providers;
mod table;
mod tokens;

pub use crate::operator_keys::operator_public_keys;
pub use boot::{Booted, boot_servers, boot_servers_noting_new};
pub(crate) use check_plan::recorded;
pub use destroy::destroy_servers;
pub(crate) use dns::follow_launch;
pub(crate) use dns::follow_load_balancers;
pub use dns::{dns, sync_dns};
pub use providers::{ServerStore, provider_named};
pub(crate) use providers::{check_local_access, record_of};
pub use table::servers;
