//! Declaring a fleet from the fabfile's own inventory: one machine per server of an environment,
//! with the same names, roles and vars, so tests exercise the fabfile against the fleet it was
//! written for.

use std::path::{Path, PathBuf};

use crate::fleet::{Declared, Fleet, FleetBuilder};
use dm_core::host::Vars;
use dm_core::inventory::{Inventory, LoadOptions};
use dm_machines::error::Error;

impl Fleet {
    /// Declares one machine per server of `environment` (`None`: the inventory's
    /// `default_environment`, or every server when it has no environments) of the inventory at
    /// `path`, with the same names, roles and vars (merged as dm merges them: global, role,
    /// environment, server). Relative paths are relative to the test's working directory, which
    /// for `cargo test` is the fabfile crate's directory: `Fleet::from_inventory("dm.toml", None)`.
    ///
    /// The fleet's own inventory ([`Fleet::inventory_path`]) then lists the same servers, roles,
    /// vars and environment, but reaches them at the local machines' addresses as root with the
    /// fleet's key: the inventory's addresses, users, ports, keys and proxy jumps are not used,
    /// and `~/.ssh/config` is not read.
    ///
    /// ```no_run
    /// use dm_testing::Fleet;
    ///
    /// let fleet = Fleet::from_inventory("dm.toml", Some("staging"))?.boot()?;
    /// fleet.dm_ok(["-R", "appnode", "health"]);
    /// # Ok::<(), dm_testing::Error>(())
    /// ```
    ///
    /// Fails with [`Error::Inventory`] (file, line and key) when the inventory cannot be loaded
    /// or names an unknown environment, and with [`Error::InvalidFleet`] when the environment has
    /// no servers or a server's name cannot be a hostname.
    pub fn from_inventory(
        path: impl AsRef<Path>,
        environment: Option<&str>,
    ) -> Result<FleetBuilder, Error> {
        let path = path.as_ref();
        let options = LoadOptions {
            path: Some(path.to_path_buf()),
            environment: environment.map(str::to_string),
            // Only names, roles and vars are taken over: how the real servers are reached is
            // irrelevant, and a user's ssh config must not redirect the test machines.
            ssh_config: Some(PathBuf::from("/dev/null")),
        };
        let inventory = Inventory::load(&options).map_err(Error::Inventory)?;
        let mut builder = Fleet::builder();
        builder.environment = inventory.environment().map(str::to_string);
        builder.explicit_roles = true;
        builder.vars = to_toml(inventory.vars(), || {
            format!("the global vars of {}", path.display())
        })?;
        // Servers declared for a provider (`provider = "local"`) but not booted are machines to
        // boot as well: the fleet stands in for the provider.
        let mut hosts: Vec<&dm_core::host::Host> = inventory
            .servers()
            .chain(inventory.unbooted_servers())
            .collect();
        hosts.sort_by(|a, b| dm_core::inventory::natural_cmp(&a.name, &b.name));
        for host in hosts {
            builder.machines.push(Declared {
                name: host.name.clone(),
                roles: host.roles.clone(),
                vars: to_toml(&host.vars, || {
                    format!("the vars of server {} in {}", host.name, path.display())
                })?,
            });
        }
        if builder.machines.is_empty() {
            let environment = match inventory.environment() {
                Some(name) => format!(" in environment `{name}`"),
                None => String::new(),
            };
            return Err(Error::InvalidFleet(format!(
                "{} has no servers{environment}: there is nothing to boot",
                path.display()
            )));
        }
        Ok(builder)
    }
}

/// Resolved vars (JSON values, as tasks read them) as a TOML table for the fleet's inventory.
fn to_toml(vars: &Vars, what: impl Fn() -> String) -> Result<toml::Table, Error> {
    match toml::Value::try_from(vars) {
        Ok(toml::Value::Table(table)) => Ok(table),
        Ok(other) => Err(Error::InvalidFleet(format!(
            "{} are not a table but {}",
            what(),
            other.type_str()
        ))),
        Err(e) => Err(Error::InvalidFleet(format!(
            "{} cannot be written as TOML: {e}",
            what()
        ))),
    }
}
