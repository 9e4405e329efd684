//! Servers booted by a provider (`dm boot appnode2`): the state file next to the inventory
//! (`servers.state.toml`, written by dm-providers' `State`) records their names, addresses and
//! roles, and loading the inventory adds them, so `-H appnode2`, `-R appnode` and `ssh appnode2`
//! find them in later runs.
//!
//! The file is read with its one schema, [`super::state_file`] (dm-providers writes it with the
//! same), and never written here. The rules:
//! - a server the inventory declares keeps everything it declares; the state file only supplies
//!   its address when the inventory gives none (`[servers.appnode2] provider = "local"`);
//! - a server the inventory does not declare is added with the inventory's defaults, its
//!   recorded roles (else the role inferred from its name), and the environment it was booted
//!   for (it joins that environment's `servers` list);
//! - a record still `creating` or `deleting`, or without an address, is not a usable server yet
//!   and is left out (the next `boot`/`destroy` reconciles it);
//! - environments never bleed: a run uses the record booted for its own environment; else a
//!   record booted without an environment (in a run without one, or written before dm recorded
//!   environments: shared by every environment, as it always was); else a record of another
//!   environment only when the run's environment lists the server in its `servers` (the
//!   inventory says so). A server booted for `dev` is otherwise not a server of `staging`, and
//!   a server staging declares is "declared, not booted" there until `-E staging boot` boots
//!   staging's own.
//!
//! When a record has a private address different from its public one, it becomes the server's
//! `private_address` var (unless the inventory sets one), the address other servers use.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::file::{InventoryFile, ServerFile};
use super::state_file::{self, Record, ServerStatus, StateFile};
use crate::error::Error;
use crate::host::Host;

/// The state file's name, next to the inventory: [`state_file::FILE_NAME`].
pub use super::state_file::FILE_NAME as STATE_FILE;

/// The state file that belongs to the inventory at `inventory`: [`state_file::path_next_to`].
pub fn state_file_of(inventory: &Path) -> PathBuf {
    state_file::path_next_to(inventory)
}

/// What [`merge`] found.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    /// The servers the inventory declares without an address that the state file gave none
    /// either: those with a provider are not booted (see [`split_unbooted`]).
    pub addressless: Vec<String>,
    /// Per server taken from the state file, the environment of its record (`None`: booted
    /// without one).
    pub booted_for: BTreeMap<String, Option<String>>,
}

/// Adds the servers of the state file next to `inventory` that a run in `environment` (`-E`,
/// else the file's `default_environment`) may use to `file` (see the module docs). A missing
/// state file adds nothing; an unreadable or invalid one is an error naming it.
pub(crate) fn merge(
    file: &mut InventoryFile,
    inventory: &Path,
    environment: Option<&str>,
) -> Result<Merged, Error> {
    let mut addressless: Vec<String> = file
        .servers
        .iter()
        .filter(|(_, server)| server.get_ref().address.is_none())
        .map(|(name, _)| name.get_ref().clone())
        .collect();
    let mut booted_for = BTreeMap::new();
    let path = state_file_of(inventory);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Merged {
                addressless,
                booted_for,
            });
        }
        Err(source) => return Err(Error::InventoryRead { path, source }),
    };
    let state = StateFile::parse(&text).map_err(|e| {
        let src = super::source::Source {
            path: &path,
            text: &text,
        };
        src.toml_error(&e)
    })?;
    let active = environment.map(str::to_string).or_else(|| {
        file.default_environment
            .as_ref()
            .map(|e| e.get_ref().clone())
    });
    for (name, record) in runs_records(state, active.as_deref(), file) {
        let Some(address) = record.public_ipv4.or(record.private_ipv4) else {
            continue;
        };
        booted_for.insert(name.clone(), record.environment.clone());
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
                if record.environment == active {
                    join_environment(file, &name, active.as_deref());
                }
                file.servers
                    .insert(Spanned::new(0..0, name.clone()), Spanned::new(0..0, server));
            }
        }
    }
    Ok(Merged {
        addressless,
        booted_for,
    })
}

/// The usable record each server name has for a run in `active` (see the module docs): the
/// one booted for `active`, else one booted without an environment, else one of another
/// environment whose server `active`'s `servers` list names.
fn runs_records(
    state: StateFile,
    active: Option<&str>,
    file: &InventoryFile,
) -> BTreeMap<String, Record> {
    let listed = |name: &str| {
        active
            .and_then(|env| file.environments.get(env))
            .and_then(|env| env.servers.as_ref())
            .is_some_and(|servers| servers.iter().any(|s| s.get_ref() == name))
    };
    // 0 is the best match; records of other environments the run may not use have none.
    let rank = |record: &Record, name: &str| match record.environment.as_deref() {
        e if e == active => Some(0),
        None => Some(1),
        Some(_) if listed(name) => Some(2),
        Some(_) => None,
    };
    let mut chosen: BTreeMap<String, (u8, Record)> = BTreeMap::new();
    for record in state.into_records().into_values() {
        let name = record.name.clone();
        if matches!(
            record.status,
            ServerStatus::Creating | ServerStatus::Deleting
        ) {
            continue;
        }
        let Some(rank) = rank(&record, &name) else {
            continue;
        };
        if chosen.get(&name).is_none_or(|(best, _)| rank < *best) {
            chosen.insert(name, (rank, record));
        }
    }
    chosen.into_iter().map(|(name, (_, r))| (name, r)).collect()
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
        merged_in(inventory, state, Some("dev"))
    }

    fn merged_in(inventory: &str, state: &str, environment: Option<&str>) -> InventoryFile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), state).unwrap();
        let mut file: InventoryFile = toml::from_str(inventory).unwrap();
        merge(&mut file, &dir.path().join("dm.toml"), environment).unwrap();
        file
    }

    /// Two environments' servers of one name, a version 1 record (environment inside), and
    /// records without an environment.
    const TWO_ENVIRONMENTS: &str = r#"
version = 2
[servers."lb1@dev"]
provider = "local"
public_ipv4 = "10.231.255.2"
status = "running"
created_at = "2026-01-01T00:00:00Z"

[servers."lb1@staging"]
provider = "local"
public_ipv4 = "10.231.255.3"
status = "running"
created_at = "2026-01-01T00:00:00Z"
name_at_provider = "lb1-staging"

[servers.db1]
provider = "local"
public_ipv4 = "10.231.255.4"
status = "running"
created_at = "2026-01-01T00:00:00Z"
environment = "dev"

[servers.cache1]
provider = "local"
public_ipv4 = "10.231.255.5"
status = "running"
created_at = "2026-01-01T00:00:00Z"
"#;

    fn address(file: &InventoryFile, name: &str) -> Option<String> {
        file.servers
            .get(name)
            .and_then(|s| s.get_ref().address.as_ref())
            .map(|a| a.get_ref().clone())
    }

    #[test]
    fn a_run_uses_only_its_own_environments_servers() {
        let inventory = "[environments.dev]\n[environments.staging]\n[environments.qa]\n";
        let dev = merged_in(inventory, TWO_ENVIRONMENTS, Some("dev"));
        assert_eq!(address(&dev, "lb1").as_deref(), Some("10.231.255.2"));
        assert_eq!(
            address(&dev, "db1").as_deref(),
            Some("10.231.255.4"),
            "version 1 record"
        );
        let staging = merged_in(inventory, TWO_ENVIRONMENTS, Some("staging"));
        assert_eq!(address(&staging, "lb1").as_deref(), Some("10.231.255.3"));
        assert_eq!(address(&staging, "db1"), None, "dev's db1 is not staging's");
        // Booted without an environment: every environment's, as before.
        assert_eq!(address(&staging, "cache1").as_deref(), Some("10.231.255.5"));
        let qa = merged_in(inventory, TWO_ENVIRONMENTS, Some("qa"));
        assert_eq!(address(&qa, "lb1"), None);
    }

    #[test]
    fn another_environments_server_is_used_when_the_inventory_lists_it() {
        let inventory = "[environments.dev]\n[environments.qa]\nservers = [\"db1\"]\n";
        let qa = merged_in(inventory, TWO_ENVIRONMENTS, Some("qa"));
        assert_eq!(address(&qa, "db1").as_deref(), Some("10.231.255.4"));
        assert_eq!(address(&qa, "lb1"), None, "not listed");
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
