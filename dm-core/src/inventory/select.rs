//! Which hosts a task runs on: `-H` hosts and `-R` roles from the command line, else the task's
//! roles, else every server of the environment (the way Fabric picks hosts).

use super::Inventory;
use super::destination::{Destination, looks_like_address};
use crate::error::{Error, suggest};
use crate::host::Host;

/// Splits `-H a,b -H c` into `a`, `b`, `c`, dropping empty items (a trailing comma).
fn split_list(values: &[String]) -> Vec<&str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

impl Inventory {
    /// The hosts to run a task on.
    ///
    /// With `-H` hosts (`hosts`, comma-separated lists allowed) or `-R` roles (`roles`): their
    /// union, in inventory order, without duplicates; ad-hoc addresses follow the servers, in
    /// the order given. A `-H` value is a server of the active environment, or an address
    /// (`deploy@10.231.0.5:2222`, anything with `.`, `:` or `@`) reached with `[defaults]` and
    /// `~/.ssh/config`; `user@server` selects that server as that user. Otherwise the task's
    /// roles (`task_roles`) select the servers that have any of them (a role without servers
    /// here selects nothing); a task without roles runs on every server of the environment.
    ///
    /// Errors: [`Error::UnknownHost`] (with the closest server name) for a `-H` word that is no
    /// server, [`Error::UnknownRole`] for an `-R` role no server has, [`Error::InvalidHost`] for
    /// an address that cannot be parsed.
    pub fn select(
        &self,
        hosts: &[String],
        roles: &[String],
        task_roles: &[&str],
    ) -> Result<Vec<Host>, Error> {
        let names = split_list(hosts);
        let roles = split_list(roles);
        if names.is_empty() && roles.is_empty() {
            return Ok(self
                .servers
                .iter()
                .filter(|s| task_roles.is_empty() || task_roles.iter().any(|r| s.has_role(r)))
                .cloned()
                .collect());
        }

        for role in &roles {
            if !self.known_roles.contains(*role) {
                return Err(Error::UnknownRole {
                    name: role.to_string(),
                    inventory: self.describe(),
                    suggestion: suggest(role, self.known_roles.iter().map(String::as_str)),
                });
            }
        }

        // Per server of the environment: not picked, or picked with the `-H user@server:port`
        // user and port (if any).
        let mut picked: Vec<Option<Destination>> = vec![None; self.servers.len()];
        let mut ad_hoc: Vec<Host> = Vec::new();
        for name in names {
            if let Some(i) = self.index_of(name) {
                picked[i].get_or_insert_with(|| plain(name));
                continue;
            }
            if !looks_like_address(name) {
                return Err(self.unknown_host(name));
            }
            let dest = Destination::parse(name).map_err(|message| Error::InvalidHost {
                spec: name.to_string(),
                message,
            })?;
            if let Some(i) = self.index_of(&dest.host) {
                picked[i] = Some(dest);
                continue;
            }
            if self.all_servers.contains(&dest.host) {
                return Err(self.unknown_host(&dest.host));
            }
            if ad_hoc.iter().any(|h| h.name == name) {
                continue;
            }
            ad_hoc.push(self.reach.address_host(
                name,
                &dest,
                self.vars.clone(),
                self.default_jump.clone(),
            )?);
        }
        for (i, server) in self.servers.iter().enumerate() {
            if roles.iter().any(|r| server.has_role(r)) {
                picked[i].get_or_insert_with(|| plain(&server.name));
            }
        }

        let mut selected: Vec<Host> = self
            .servers
            .iter()
            .zip(picked)
            .filter_map(|(server, pick)| {
                let pick = pick?;
                let mut host = server.clone();
                if let Some(user) = pick.user {
                    host.user = user;
                }
                if let Some(port) = pick.port {
                    host.port = port;
                }
                Some(host)
            })
            .collect();
        selected.extend(ad_hoc);
        Ok(selected)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }

    /// The servers declared with a provider but not booted (for this environment) that the
    /// selection would pick if they were (by `-R` role, the task's roles, or every server of
    /// the environment): the run cannot reach them and reports them as not booted. `-H` names
    /// of such servers are an error ([`Error::NotBooted`]) instead.
    pub fn unbooted_in_selection(
        &self,
        roles: &[String],
        task_roles: &[&str],
        hosts: &[String],
    ) -> Vec<String> {
        let roles = split_list(roles);
        let everything = roles.is_empty() && split_list(hosts).is_empty();
        self.unbooted
            .iter()
            .filter(|s| {
                if everything {
                    task_roles.is_empty() || task_roles.iter().any(|r| s.has_role(r))
                } else {
                    roles.iter().any(|r| s.has_role(r))
                }
            })
            .map(|s| s.name.clone())
            .collect()
    }

    fn unknown_host(&self, name: &str) -> Error {
        if self.unbooted_server(name).is_some() {
            return Error::NotBooted {
                names: vec![name.to_string()],
                environment: self.environment.clone(),
            };
        }
        Error::UnknownHost {
            name: name.to_string(),
            inventory: self.describe(),
            suggestion: suggest(name, self.servers.iter().map(|s| s.name.as_str())),
        }
    }
}

/// A server picked as it is, with its own user and port.
fn plain(name: &str) -> Destination {
    Destination {
        user: None,
        host: name.to_string(),
        port: None,
    }
}
