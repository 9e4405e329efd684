//! Where `boot` and `scale` point the site's name after the load balancers changed: the `[dns]`
//! table, read by dm-tasks (which knows the DNS providers); dm-core only layers it.
//!
//! ```toml
//! [dns]                                   # every environment ...
//! provider = "digitalocean"
//! domain = "example.com"
//!
//! [environments.production.dns]           # ... or one; keys merge, the environment's win
//! name = "www"
//! ```

use super::file::InventoryFile;

/// The `[dns]` settings of the inventory for `environment`: the top-level table with the
/// environment's `dns` table merged over it. Empty when neither exists (no DNS is managed).
pub(crate) fn dns_settings(file: &InventoryFile, environment: Option<&str>) -> toml::Table {
    let mut merged = file
        .dns
        .as_ref()
        .map(|t| t.get_ref().clone())
        .unwrap_or_default();
    if let Some(own) = environment
        .and_then(|name| file.environments.get(name))
        .and_then(|env| env.dns.as_ref())
    {
        merged.extend(own.get_ref().clone());
    }
    merged
}
