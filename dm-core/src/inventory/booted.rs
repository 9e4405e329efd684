//! Servers booted by a provider (`dm boot appnode2`): the state file next to the inventory
//! (`servers.state.toml`, written by dm-providers' `State`) records their names, addresses and
//! roles, and loading the inventory adds them, so `-H appnode2`, `-R appnode` and `ssh appnode2`
//! find them in later runs.
//!
//! This is a reader of that one format, not a second one: it reads only the fields it needs and
//! ignores the rest, and never writes. The rules:
//! - a server the inventory declares keeps everything it declares; the state file only supplies
//!   its address when the inventory gives none (`[servers.appnode2] provider = "local"`);
//! - a server the inventory does not declare is added with the inventory's defaults, its
//!   recorded roles (else the role inferred from its name), and the environment it was booted
//!   for (it joins that environment's `servers` list);
//! - a record still `creating` or `deleting`, or without an address, is not a usable server yet
//!   and is left out (the next `boot`/`destroy` reconciles it).
//!
//! When a record has a private address different from its public one, it becomes the server's
//! `private_address` var (unless the inventory sets one), the address other servers use.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::file::{InventoryFile, ServerFile};
use crate::error::Error;
use crate::host::Host;

/// The state file's name, next to the inventory (the same name dm-providers writes).
pub const STATE_FILE: &str = "servers.state.toml";

/// The part of the state file inventory loading needs.
#[derive(Debug, Default, Deserialize)]
struct StateFile {
    #[serde(default)]
    servers: BTreeMap<String, BootedRecord>,
}

/// The part of one record inventory loading needs.
#[derive(Debug, Deserialize)]
struct BootedRecord {
    #[serde(default)]
    public_ipv4: Option<Ipv4Addr>,
    #[serde(default)]
    private_ipv4: Option<Ipv4Addr>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    environment: Option<String>,
}

/// The state file that belongs to the inventory at `inventory`.
pub fn state_file_of(inventory: &Path) -> PathBuf {
    inventory
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(STATE_FILE)
}

/// Adds the usable servers of the state file next to `inventory` to `file` (see the module docs).
/// A missing state file adds nothing; an unreadable or invalid one is an error naming it.
///
/// Returns the servers `file` declares without an address that the state file gave none
/// either: those with a provider are not booted (see [`split_unbooted`]).
pub(crate) fn merge(file: &mut InventoryFile, inventory: &Path) -> Result<Vec<String>, Error> {
    let mut addressless: Vec<String> = file
        .servers
        .iter()
        .filter(|(_, server)| server.get_ref().address.is_none())
        .map(|(name, _)| name.get_ref().clone())
        .collect();
    let path = state_file_of(inventory);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(addressless),
        Err(source) => return Err(Error::InventoryRead { path, source }),
    };
    let state: StateFile = toml::from_str(&text).map_err(|e| {
        let src = super::source::Source {
            path: &path,
            text: &text,
        };
        src.toml_error(&e)
    })?;
    for (name, record) in state.servers {
        let usable = !matches!(record.status.as_str(), "creating" | "deleting");
        let Some(address) = record
            .public_ipv4
            .or(record.private_ipv4)
            .filter(|_| usable)
        else {
            continue;
        };
        let private = record.private_ipv4.filter(|p| *p != address);
        match file.servers.get_mut(name.as_str()) {
            Some(declared) => {
                let declared = declared.get_mut();
                if declared.address.is_none() {
                    declared.address = Some(Spanned::new(0..0, address.to_string()));
                    add_private_address(declared, private);
                    addressless.retain(|n| n != &name);
                }
            }
            None => {
                let mut server = ServerFile {
                    address: Some(Spanned::new(0..0, address.to_string())),
                    roles: (!record.roles.is_empty()).then(|| record.roles.clone()),
                    ..ServerFile::default()
                };
                add_private_address(&mut server, private);
                join_environment(file, &name, record.environment.as_deref());
                file.servers
                    .insert(Spanned::new(0..0, name.clone()), Spanned::new(0..0, server));
            }
        }
    }
    Ok(addressless)
}

/// Splits `servers` into those that exist and those that are declared with a provider but not
/// booted: no address in the inventory (nor from an environment override or ssh config: their
/// address is still their name) and none in the state file. Those are left out of the
/// environment's servers, so no task tries to reach a server that is not there (before `boot`,
/// or after `destroy` or `scale` removed it); `boot` still finds their roles and settings.
pub(crate) fn split_unbooted(
    servers: Vec<Host>,
    addressless: &[String],
    has_provider: impl Fn(&Host) -> bool,
) -> (Vec<Host>, Vec<Host>) {
    servers.into_iter().partition(|host| {
        !(addressless.contains(&host.name) && host.address == host.name && has_provider(host))
    })
}

/// Sets the `private_address` var of `server` unless it has one.
fn add_private_address(server: &mut ServerFile, private: Option<Ipv4Addr>) {
    let Some(private) = private else {
        return;
    };
    let mut vars = server
        .vars
        .as_ref()
        .map(|v| v.get_ref().clone())
        .unwrap_or_default();
    vars.entry("private_address")
        .or_insert_with(|| toml::Value::String(private.to_string()));
    server.vars = Some(Spanned::new(0..0, vars));
}

/// Puts an undeclared booted server into the `servers` list of the environment it was booted
/// for (an environment without a list has every server already).
fn join_environment(file: &mut InventoryFile, name: &str, environment: Option<&str>) {
    let Some(environment) = environment else {
        return;
    };
    if let Some(env) = file.environments.get_mut(environment)
        && let Some(servers) = env.servers.as_mut()
        && !servers.iter().any(|s| s.get_ref() == name)
    {
        servers.push(Spanned::new(0..0, name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(inventory: &str, state: &str) -> InventoryFile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), state).unwrap();
        let mut file: InventoryFile = toml::from_str(inventory).unwrap();
        merge(&mut file, &dir.path().join("dm.toml")).unwrap();
        file
    }

    const STATE: &str = r#"
version = 1
[servers.appnode2]
provider = "local"
id = "0123abcd-appnode2"
public_ipv4 = "10.231.255.2"
private_ipv4 = "10.231.255.2"
roles = ["appnode"]
status = "running"
created_at = "2026-01-01T00:00:00Z"
environment = "dev"

[servers.appnode3]
provider = "local"
roles = ["appnode"]
status = "creating"
created_at = "2026-01-01T00:00:00Z"

[servers.db1]
provider = "hetzner"
public_ipv4 = "10.231.255.9"
private_ipv4 = "10.231.255.10"
status = "running"
created_at = "2026-01-01T00:00:00Z"
"#;

    #[test]
    fn usable_records_become_servers_and_join_their_environment() {
        let file = merged(
            "[servers.lb1]\naddress = \"10.231.255.5\"\n[environments.dev]\nservers = [\"lb1\"]\n",
            STATE,
        );
        let app = file.servers.get("appnode2").unwrap().get_ref();
        assert_eq!(app.address.as_ref().unwrap().get_ref(), "10.231.255.2");
        assert_eq!(app.roles.as_deref(), Some(&["appnode".to_string()][..]));
        assert!(
            app.vars.is_none(),
            "private = public: no private_address var"
        );
        assert!(!file.servers.contains_key("appnode3"), "still creating");
        let db = file.servers.get("db1").unwrap().get_ref();
        assert_eq!(
            db.vars.as_ref().unwrap().get_ref()["private_address"].as_str(),
            Some("10.231.255.10")
        );
        let dev = file.environments.get("dev").unwrap();
        let names: Vec<&str> = dev
            .servers
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.get_ref().as_str())
            .collect();
        assert_eq!(names, ["lb1", "appnode2"]);
    }

    #[test]
    fn a_declared_server_keeps_what_it_declares() {
        let file = merged(
            "[servers.appnode2]\nroles = [\"web\"]\n[servers.db1]\naddress = \"db.example\"\n",
            STATE,
        );
        let app = file.servers.get("appnode2").unwrap().get_ref();
        assert_eq!(app.address.as_ref().unwrap().get_ref(), "10.231.255.2");
        assert_eq!(app.roles.as_deref(), Some(&["web".to_string()][..]));
        let db = file.servers.get("db1").unwrap().get_ref();
        assert_eq!(db.address.as_ref().unwrap().get_ref(), "db.example");
    }

    #[test]
    fn a_declared_provider_server_is_a_server_only_once_booted() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = dir.path().join("dm.toml");
        let text = "provider = \"local\"\n[servers.lb1]\nroles = [\"loadbalancer\"]\n\
                    [servers.appnode2]\n[servers.db1]\naddress = \"db.example\"\n";
        let options = super::super::LoadOptions {
            ssh_config: Some("/dev/null".into()),
            ..Default::default()
        };
        std::fs::write(&inventory, text).unwrap();
        let before = super::super::Inventory::parse(text, &inventory, &options).unwrap();
        let names: Vec<&str> = before.servers().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["db1"], "only the server with an address exists");
        let lb = before.unbooted_server("lb1").unwrap();
        assert_eq!(lb.roles, ["loadbalancer"]);
        assert_eq!(
            before.provider_settings("lb1")["name"].as_str(),
            Some("local")
        );

        std::fs::write(
            dir.path().join(STATE_FILE),
            "version = 1\n[servers.lb1]\nprovider = \"local\"\npublic_ipv4 = \"10.231.255.7\"\n\
             status = \"running\"\ncreated_at = \"2026-01-01T00:00:00Z\"\n",
        )
        .unwrap();
        let after = before.reload().unwrap();
        let lb = after.server("lb1").unwrap();
        assert_eq!(lb.address, "10.231.255.7");
        assert_eq!(lb.roles, ["loadbalancer"]);
        assert!(after.unbooted_server("appnode2").is_some());
    }
}
