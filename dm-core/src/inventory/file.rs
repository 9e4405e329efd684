//! The raw shape of `dm.toml`, exactly as written, before anything is resolved.
//!
//! Every struct denies unknown fields so that a typo (`adress`) is an error naming its line instead
//! of a silently ignored setting. Values that later checks may reject (references to servers,
//! environments, proxy jumps) keep their [`Spanned`] position so those errors can name a line too.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole `dm.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InventoryFile {
    /// The environment used when `-E` is not given.
    pub default_environment: Option<Spanned<String>>,
    /// Connection settings every server inherits unless it sets its own.
    #[serde(default)]
    pub defaults: DefaultsFile,
    /// Global vars, the lowest precedence.
    pub vars: Option<Spanned<toml::Table>>,
    /// Every server, by name.
    #[serde(default)]
    pub servers: BTreeMap<Spanned<String>, Spanned<ServerFile>>,
    /// Per-role settings, by role name.
    #[serde(default)]
    pub roles: BTreeMap<Spanned<String>, RoleFile>,
    /// Environments (`production`, `staging`, ...), by name.
    #[serde(default)]
    pub environments: BTreeMap<Spanned<String>, EnvironmentFile>,
    /// Where `boot` gets servers from, for every server (see [`super::provider`]).
    pub provider: Option<Spanned<toml::Value>>,
    /// The name pointed at the load balancers after `boot` and `scale` (see [`super::dns`]).
    pub dns: Option<Spanned<toml::Table>>,
}

/// `[defaults]`: connection settings for every server (and ad-hoc `-H` host).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefaultsFile {
    /// Login user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<Spanned<u16>>,
    /// One private key file.
    pub identity_file: Option<Spanned<String>>,
    /// Several private key files, tried in order.
    pub identity_files: Option<Spanned<Vec<String>>>,
    /// The known_hosts file dm checks host keys against.
    pub known_hosts: Option<String>,
    /// The host every server hops through, unless it says otherwise.
    pub proxy_jump: Option<Spanned<String>>,
}

/// `[servers.NAME]`, and also `[environments.ENV.overrides.NAME]` (same fields, each replacing the
/// server's own when set).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerFile {
    /// What to connect to; defaults to the server's name.
    pub address: Option<Spanned<String>>,
    /// Login user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<Spanned<u16>>,
    /// One private key file.
    pub identity_file: Option<Spanned<String>>,
    /// Several private key files, tried in order.
    pub identity_files: Option<Spanned<Vec<String>>>,
    /// Roles; when absent, the role is inferred from the name (`appnode2` → `appnode`).
    pub roles: Option<Vec<String>>,
    /// Another server's name, `[user@]host[:port]`, or `none`.
    pub proxy_jump: Option<Spanned<String>>,
    /// The server's own vars, the highest precedence.
    pub vars: Option<Spanned<toml::Table>>,
    /// Where `boot` gets this server from (see [`super::provider`]).
    pub provider: Option<Spanned<toml::Value>>,
}

impl ServerFile {
    /// This server as changed by an environment's override: every field the override sets
    /// replaces the server's; vars are merged key by key, the override's winning.
    pub fn overridden_by(&self, over: &ServerFile) -> ServerFile {
        // identity_file and identity_files are one setting written two ways: an override of
        // either replaces both.
        let identity_overridden = over.identity_file.is_some() || over.identity_files.is_some();
        let vars = match (&self.vars, &over.vars) {
            (Some(base), Some(top)) => {
                let mut merged = base.get_ref().clone();
                merged.extend(top.get_ref().clone());
                Some(Spanned::new(top.span(), merged))
            }
            (base, top) => top.clone().or_else(|| base.clone()),
        };
        ServerFile {
            address: over.address.clone().or_else(|| self.address.clone()),
            user: over.user.clone().or_else(|| self.user.clone()),
            port: over.port.clone().or_else(|| self.port.clone()),
            identity_file: if identity_overridden {
                over.identity_file.clone()
            } else {
                self.identity_file.clone()
            },
            identity_files: if identity_overridden {
                over.identity_files.clone()
            } else {
                self.identity_files.clone()
            },
            roles: over.roles.clone().or_else(|| self.roles.clone()),
            proxy_jump: over.proxy_jump.clone().or_else(|| self.proxy_jump.clone()),
            vars,
            provider: over.provider.clone().or_else(|| self.provider.clone()),
        }
    }
}

/// `[roles.NAME]`: settings shared by every server with that role.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleFile {
    /// Role vars: above global vars, below environment and server vars.
    pub vars: Option<Spanned<toml::Table>>,
    /// Where `boot` gets servers of this role from (see [`super::provider`]).
    pub provider: Option<Spanned<toml::Value>>,
}

/// `[environments.NAME]`: which servers exist there and how they differ.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvironmentFile {
    /// The servers of this environment; absent means all of them.
    pub servers: Option<Vec<Spanned<String>>>,
    /// Environment vars: above role vars, below server vars.
    pub vars: Option<Spanned<toml::Table>>,
    /// Per-server field overrides in this environment.
    #[serde(default)]
    pub overrides: BTreeMap<Spanned<String>, ServerFile>,
    /// Where `boot` gets servers from in this environment (see [`super::provider`]).
    pub provider: Option<Spanned<toml::Value>>,
    /// This environment's DNS settings, merged over the top-level `[dns]` (see [`super::dns`]).
    pub dns: Option<Spanned<toml::Table>>,
}
