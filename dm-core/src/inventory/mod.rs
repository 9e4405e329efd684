//! The inventory: servers, roles, environments and vars from `dm.toml`, combined with
//! `~/.ssh/config`, resolved into [`Host`]s ready to connect to.
//!
//! ```toml
//! default_environment = "dev"         # optional; -E overrides
//!
//! [defaults]                          # every server, unless it says otherwise
//! user = "root"                       # default: the local user name, like ssh
//! port = 22
//! identity_file = "~/.ssh/id_ed25519" # or identity_files = [..]
//! known_hosts = "~/.ssh/known_hosts"
//! proxy_jump = "bastion"
//!
//! [vars]                              # global vars
//! app_name = "shop"
//!
//! [servers.appnode1]                  # role `appnode` from the name unless roles = [..]
//! address = "10.231.0.11"
//! vars = { weight = 2 }
//!
//! [roles.appnode]
//! vars = { port = 8000 }
//!
//! [environments.production]
//! servers = ["appnode1"]
//! vars = { debug = false }
//! [environments.production.overrides.appnode1]
//! address = "10.231.1.11"
//! ```
//!
//! Var precedence, low to high: global, role (in the order of the server's roles), environment,
//! server, environment override. Connection settings: the server's own, then `[defaults]`, then
//! `~/.ssh/config`, then ssh's defaults; `HostName` in ssh config always replaces the address.

pub mod booted;
mod destination;
mod dns;
mod file;
mod name;
mod operator;
pub mod provider;
mod reach;
mod reload;
mod resolve;
mod secrets;
mod select;
mod source;
mod ssh_config;
pub mod state_file;
mod vars;
mod vars_table;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::host::{Host, Vars};

pub use name::{check_address, check_server_name};
pub use resolve::{inferred_role, natural_cmp};
pub use vars_table::{VarsProblem, VarsTable};

use file::InventoryFile;
use reach::{Jump, Reach};
use source::Source;
use ssh_config::SshConfigFile;

/// Where to read the inventory from and which environment to use (the `-i`/`-E` style flags).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The inventory file; `None` looks for `./dm.toml` and works without one if it is absent.
    pub path: Option<PathBuf>,
    /// The environment (`-E`); `None` uses the file's `default_environment`, if any.
    pub environment: Option<String>,
    /// The ssh config file; `None` uses `~/.ssh/config` if it exists.
    pub ssh_config: Option<PathBuf>,
}

/// Servers, roles and vars of one environment, resolved into connectable [`Host`]s.
#[derive(Debug, Clone)]
pub struct Inventory {
    path: Option<PathBuf>,
    environment: Option<String>,
    environments: Vec<String>,
    known_hosts: Option<PathBuf>,
    /// The active environment's servers, in inventory order (natural name order).
    servers: Vec<Host>,
    /// Every server name in the file, to tell "not in this environment" from "unknown".
    all_servers: BTreeSet<String>,
    /// Roles that exist somewhere in the file: `-R` with one of these is not a typo.
    known_roles: BTreeSet<String>,
    vars: Vars,
    /// `[defaults]` and ssh config, for ad-hoc `-H` hosts.
    reach: Reach,
    default_jump: Jump,
    /// The active environment's secrets, once attached by [`Inventory::attach_secrets`].
    secrets: crate::secrets::Secrets,
    /// `provider` settings of every level, for [`Inventory::provider_settings`].
    providers: provider::ProviderLayers,
    /// Servers of the active environment declared with a provider but not booted (see
    /// [`Inventory::unbooted_server`]).
    unbooted: Vec<Host>,
    /// Per server taken from the state file, the environment it was booted for (see
    /// [`Inventory::booted_for`]).
    booted_for: std::collections::BTreeMap<String, Option<String>>,
    /// `[dns]` settings for the active environment, for [`Inventory::dns_settings`].
    dns: toml::Table,
}

impl Inventory {
    /// Reads the inventory: `opts.path`, or `./dm.toml` if it exists, else an empty inventory in
    /// which only ad-hoc `-H` addresses can be used (still reached through `~/.ssh/config`).
    pub fn load(opts: &LoadOptions) -> Result<Inventory, Error> {
        let path = match &opts.path {
            Some(path) => path.clone(),
            None => {
                let default = PathBuf::from("dm.toml");
                if !default.exists() {
                    return Self::without_file(opts);
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| Error::InventoryRead {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path, opts)
    }

    /// Parses inventory `text` as if read from `path` (which names it in errors and anchors
    /// relative key paths); `opts.path` is not used.
    pub fn parse(text: &str, path: &Path, opts: &LoadOptions) -> Result<Inventory, Error> {
        let ssh = load_ssh_config(opts)?;
        Self::parse_with(text, path, opts.environment.as_deref(), ssh)
    }

    /// [`Inventory::parse`] with the ssh config already loaded.
    fn parse_with(
        text: &str,
        path: &Path,
        environment: Option<&str>,
        ssh: Option<SshConfigFile>,
    ) -> Result<Inventory, Error> {
        let src = Source { path, text };
        // Syntax errors first, so that a broken file is reported as such, not as a type error.
        toml::de::DeTable::parse(text).map_err(|e| src.toml_error(&e))?;
        let mut file: InventoryFile = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        // Servers booted by a provider join the inventory before anything is resolved, so they
        // are servers like any other (see `booted`).
        let booted = booted::merge(&mut file, path, environment)?;
        let resolved = resolve::resolve(&file, &src, environment, ssh)?;
        vars_table::check_hosts(&src, resolved.environment.as_deref(), &resolved.servers)?;
        let providers =
            provider::ProviderLayers::read(&file, &src, resolved.environment.as_deref())?;
        let dns = dns::dns_settings(&file, resolved.environment.as_deref());
        let (servers, unbooted) =
            booted::split_unbooted(resolved.servers, &booted.addressless, |host| {
                !providers.for_server(&host.name, &host.roles).is_empty()
            });
        Ok(Inventory {
            path: Some(path.to_path_buf()),
            environment: resolved.environment,
            environments: resolved.environments,
            known_hosts: resolved.known_hosts,
            servers,
            unbooted,
            booted_for: booted.booted_for,
            all_servers: resolved.all_servers,
            known_roles: resolved.known_roles,
            vars: resolved.vars,
            reach: resolved.reach,
            default_jump: resolved.default_jump,
            secrets: crate::secrets::Secrets::none(),
            providers,
            dns,
        })
    }

    /// An inventory without servers, environments or ssh config.
    pub fn empty() -> Inventory {
        Inventory {
            path: None,
            environment: None,
            environments: Vec::new(),
            known_hosts: None,
            servers: Vec::new(),
            all_servers: BTreeSet::new(),
            known_roles: BTreeSet::new(),
            vars: Vars::new(),
            reach: Reach::default(),
            default_jump: Jump::FromSshConfig,
            secrets: crate::secrets::Secrets::none(),
            providers: provider::ProviderLayers::default(),
            unbooted: Vec::new(),
            booted_for: Default::default(),
            dns: toml::Table::new(),
        }
    }

    fn without_file(opts: &LoadOptions) -> Result<Inventory, Error> {
        let inventory = Inventory::empty();
        if let Some(name) = &opts.environment {
            return Err(Error::UnknownEnvironment {
                name: name.clone(),
                inventory: inventory.describe(),
                known: Vec::new(),
            });
        }
        Ok(Inventory {
            reach: Reach {
                ssh: load_ssh_config(opts)?,
                ..Reach::default()
            },
            ..inventory
        })
    }

    /// The inventory file, if one was read.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The active environment (`-E`, else `default_environment`), if any.
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// Every environment the inventory defines, sorted.
    pub fn environments(&self) -> Vec<&str> {
        self.environments.iter().map(String::as_str).collect()
    }

    /// The known_hosts file set in `[defaults]`, `~` expanded, if any.
    pub fn known_hosts(&self) -> Option<&Path> {
        self.known_hosts.as_deref()
    }

    /// The servers of the active environment, in inventory order (by name, `appnode2` before
    /// `appnode10`).
    pub fn servers(&self) -> impl Iterator<Item = &Host> {
        self.servers.iter()
    }

    /// The server `name`, if it is in the active environment.
    pub fn server(&self, name: &str) -> Option<&Host> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The servers of the active environment that have `role`, in inventory order.
    pub fn role(&self, role: &str) -> Vec<&Host> {
        self.servers.iter().filter(|s| s.has_role(role)).collect()
    }

    /// The roles of the active environment's servers, sorted.
    pub fn roles(&self) -> Vec<&str> {
        let roles: BTreeSet<&str> = self
            .servers
            .iter()
            .flat_map(|s| s.roles.iter().map(String::as_str))
            .collect();
        roles.into_iter().collect()
    }

    /// The `provider` settings for server `name` (see [`provider`]), layered from the inventory,
    /// the active environment, the server's roles (its own when it is a server of the
    /// environment, else the role inferred from the name: `appnode3` → `appnode`) and the server.
    /// Empty when the inventory says nothing about providers.
    pub fn provider_settings(&self, name: &str) -> toml::Table {
        let roles = match self.server(name).or_else(|| self.unbooted_server(name)) {
            Some(host) => host.roles.clone(),
            None => resolve::inferred_role(name).into_iter().collect(),
        };
        self.providers.for_server(name, &roles)
    }

    /// The `[dns]` settings of the active environment (the top-level table, with the
    /// environment's `dns` table merged over it): which name `boot` and `scale`
    /// point at the load balancers. Empty when the inventory manages no DNS.
    pub fn dns_settings(&self) -> &toml::Table {
        &self.dns
    }

    /// A server of the active environment that the inventory declares with a provider but that
    /// is not booted: no address in the inventory, none in the state file. It is not among
    /// [`Inventory::servers`] (no task can reach it); `boot` reads its roles and vars here.
    pub fn unbooted_server(&self, name: &str) -> Option<&Host> {
        self.unbooted.iter().find(|s| s.name == name)
    }

    /// For a server this run found in the state file (`servers.state.toml`), the environment
    /// its record was booted for: `Some(None)` when booted without one. Usually the run's own
    /// environment; another one only when the run's environment lists the server in its
    /// `servers` (see [`booted`]). `None` for servers that are not booted ones.
    pub fn booted_for(&self, name: &str) -> Option<Option<&str>> {
        self.booted_for.get(name).map(Option::as_deref)
    }

    /// Every server of the active environment declared with a provider but not booted (see
    /// [`Inventory::unbooted_server`]), in inventory order.
    pub fn unbooted_servers(&self) -> impl Iterator<Item = &Host> {
        self.unbooted.iter()
    }

    /// Global vars layered with the active environment's vars (what every host starts from).
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The active environment's secrets (`secrets/<env>.age`), as attached for a run.
    pub fn secrets(&self) -> &crate::secrets::Secrets {
        &self.secrets
    }

    /// Attaches the decrypted secrets: kept for `ctx.secret(..)`, and, when decrypted, given to
    /// every server (and ad-hoc host) as the variable `secret` (an object of key → value).
    pub fn attach_secrets(&mut self, secrets: crate::secrets::Secrets) {
        if let Some(value) = secrets.to_json() {
            self.vars.insert("secret".to_string(), value.clone());
            for server in &mut self.servers {
                server.vars.insert("secret".to_string(), value.clone());
            }
        }
        self.secrets = secrets;
    }

    /// How this inventory is named in messages: its path and environment.
    fn describe(&self) -> String {
        match (&self.path, &self.environment) {
            (None, _) => "the inventory (no dm.toml found)".to_string(),
            (Some(path), None) => path.display().to_string(),
            (Some(path), Some(env)) => format!("{} (environment `{env}`)", path.display()),
        }
    }
}

/// The ssh config to use: the one given, or `~/.ssh/config` if it exists, or none.
fn load_ssh_config(opts: &LoadOptions) -> Result<Option<SshConfigFile>, Error> {
    match opts.ssh_config.clone().or_else(ssh_config::default_path) {
        Some(path) => SshConfigFile::load(&path).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
