//! Where `boot` gets a server from: `provider` settings in the inventory, read by the `boot` and
//! `scale` tasks (dm-tasks) and handed to a provider (dm-providers). dm-core only layers them; it
//! does not know what a provider needs.
//!
//! ```toml
//! provider = "local"                      # every server: a name ...
//!
//! [environments.production]
//! provider = { name = "hetzner", size = "cx22", image = "debian-12", region = "fsn1" }
//!
//! [roles.dbserver]
//! provider = { size = "cx32" }            # ... or a table; keys merge, the narrower wins
//!
//! [servers.appnode2]
//! provider = "local"
//! ```
//!
//! Precedence, low to high: top-level `provider`, the active environment's, the server's roles'
//! (in the order of its roles), the server's own (and its environment override). A string is
//! short for `{ name = "..." }`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::file::InventoryFile;
use super::source::Source;
use crate::error::Error;

/// The `provider` settings of every level of the inventory, for the active environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderLayers {
    top: toml::Table,
    environment: toml::Table,
    roles: BTreeMap<String, toml::Table>,
    servers: BTreeMap<String, toml::Table>,
}

impl ProviderLayers {
    /// Reads every `provider` setting of `file`, for environment `environment`.
    pub(crate) fn read(
        file: &InventoryFile,
        src: &Source<'_>,
        environment: Option<&str>,
    ) -> Result<ProviderLayers, Error> {
        let env = environment.and_then(|name| file.environments.get(name));
        let mut layers = ProviderLayers {
            top: table(src, file.provider.as_ref())?,
            environment: table(src, env.and_then(|e| e.provider.as_ref()))?,
            ..ProviderLayers::default()
        };
        for (role, settings) in &file.roles {
            let provider = table(src, settings.provider.as_ref())?;
            if !provider.is_empty() {
                layers.roles.insert(role.get_ref().clone(), provider);
            }
        }
        for (name, server) in &file.servers {
            let over = env.and_then(|e| e.overrides.get(name.get_ref().as_str()));
            let own = over
                .and_then(|o| o.provider.as_ref())
                .or(server.get_ref().provider.as_ref());
            let provider = table(src, own)?;
            if !provider.is_empty() {
                layers.servers.insert(name.get_ref().clone(), provider);
            }
        }
        Ok(layers)
    }

    /// The settings for server `name` with `roles`, layered (see the module docs). Empty when
    /// the inventory says nothing: the caller picks its default.
    pub(crate) fn for_server(&self, name: &str, roles: &[String]) -> toml::Table {
        let mut merged = self.top.clone();
        merged.extend(self.environment.clone());
        for role in roles {
            if let Some(provider) = self.roles.get(role) {
                merged.extend(provider.clone());
            }
        }
        if let Some(provider) = self.servers.get(name) {
            merged.extend(provider.clone());
        }
        merged
    }
}

/// A `provider` value as a table: a string `s` is `{ name = s }`.
fn table(src: &Source<'_>, value: Option<&Spanned<toml::Value>>) -> Result<toml::Table, Error> {
    let Some(value) = value else {
        return Ok(toml::Table::new());
    };
    match value.get_ref() {
        toml::Value::String(name) if !name.trim().is_empty() => {
            let mut table = toml::Table::new();
            table.insert("name".into(), toml::Value::String(name.trim().to_string()));
            Ok(table)
        }
        toml::Value::Table(table) => Ok(table.clone()),
        _ => Err(src.error(
            value.span(),
            "provider must be a provider name such as \"local\" or \"hetzner\", or a table such \
             as { name = \"hetzner\", size = \"cx22\", image = \"debian-12\", region = \"fsn1\" }",
        )),
    }
}
