//! Loading inventories from files: the documented format end to end (`tests/fixtures/inventory`),
//! with an ssh config, and the errors a user meets when files are missing or wrong.

use std::path::{Path, PathBuf};

use dm_core::Error;
use dm_core::inventory::{Inventory, LoadOptions};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

fn load(environment: Option<&str>) -> Inventory {
    Inventory::load(&LoadOptions {
        path: Some(fixture("dm.toml")),
        environment: environment.map(str::to_string),
        ssh_config: Some(fixture("ssh_config")),
    })
    .unwrap()
}

#[test]
fn documented_format_loads_with_its_default_environment() {
    let inv = load(None);
    assert_eq!(inv.path(), Some(fixture("dm.toml").as_path()));
    assert_eq!(inv.environment(), Some("dev"));
    assert_eq!(inv.environments(), vec!["dev", "production"]);
    assert_eq!(inv.known_hosts(), Some(fixture("known_hosts").as_path()));
    let names: Vec<&str> = inv.servers().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["appnode1", "appnode2", "bastion", "cache", "lb1"]
    );
    assert_eq!(
        inv.roles(),
        vec!["appnode", "bastion", "cache", "loadbalancer"]
    );
    assert_eq!(inv.vars().get("debug"), Some(&json!(true)));
    assert_eq!(inv.vars().get("app_name"), Some(&json!("shop")));
}

#[test]
fn documented_format_resolves_servers() {
    let inv = load(None);
    let app = inv.server("appnode1").unwrap();
    assert_eq!(app.destination(), "deploy@10.231.0.11:2222");
    assert_eq!(app.roles, vec!["appnode"]);
    assert_eq!(app.identity_files, vec![fixture("keys/id_ed25519")]);
    assert_eq!(
        serde_json::Value::Object(app.vars.clone()),
        json!({"app_name": "shop", "port": 8000, "debug": true, "weight": 2})
    );
    assert_eq!(app.proxy_jump.as_deref(), inv.server("bastion"));
    assert!(inv.server("bastion").unwrap().proxy_jump.is_none());

    // [defaults] proxy_jump reaches every server that does not say otherwise.
    let app2 = inv.server("appnode2").unwrap();
    assert_eq!(app2.destination(), "root@10.231.0.12:22");
    assert_eq!(
        app2.proxy_jump.as_deref().map(|h| h.name.as_str()),
        Some("bastion")
    );
}

#[test]
fn ssh_config_fills_in_a_server_without_address() {
    let inv = load(None);
    let cache = inv.server("cache").unwrap();
    // HostName always comes from ssh_config; [defaults] (user, port, identity_file) is part
    // of the inventory, so it wins over ssh_config's User, Port and IdentityFile.
    assert_eq!(cache.destination(), "root@10.231.0.40:22");
    assert_eq!(cache.identity_files, vec![fixture("keys/id_ed25519")]);
}

#[test]
fn production_environment_has_its_servers_and_overrides() {
    let inv = load(Some("production"));
    let names: Vec<&str> = inv.servers().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["appnode1", "lb1"]);
    assert_eq!(inv.server("appnode1").unwrap().address, "10.231.1.11");
    assert_eq!(inv.vars().get("debug"), Some(&json!(false)));
    let hosts = inv
        .select(&[], &["loadbalancer".to_string()], &["appnode"])
        .unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].name, "lb1");
}

/// The example users copy from the README must load as documented.
#[test]
fn readme_example_loads() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let section = readme
        .split("## The inventory")
        .nth(1)
        .expect("README has a section `## The inventory`");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the inventory section has a ```toml example");
    let opts = LoadOptions {
        ssh_config: Some(fixture("ssh_config")),
        ..LoadOptions::default()
    };
    let inv = Inventory::parse(example, Path::new("README.md"), &opts).unwrap();
    assert!(inv.servers().count() > 0);
    for env in inv.environments() {
        let opts = LoadOptions {
            environment: Some(env.to_string()),
            ..opts.clone()
        };
        Inventory::parse(example, Path::new("README.md"), &opts).unwrap();
    }
}

#[test]
fn invalid_file_error_names_path_line_and_key() {
    let path = fixture("invalid.toml");
    let err = Inventory::load(&LoadOptions {
        path: Some(path.clone()),
        environment: None,
        ssh_config: Some(fixture("ssh_config")),
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:5:1: unknown field `adress`", path.display())),
        "{msg}"
    );
    assert!(msg.ends_with("(key `servers.appnode2.adress`)"), "{msg}");
}

#[test]
fn missing_inventory_given_explicitly_is_an_error() {
    let path = fixture("does-not-exist.toml");
    let err = Inventory::load(&LoadOptions {
        path: Some(path.clone()),
        ..LoadOptions::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::InventoryRead { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read inventory {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn without_dm_toml_only_ad_hoc_hosts_are_available() {
    // Tests run in the crate directory, which has no dm.toml.
    assert!(!Path::new("dm.toml").exists());
    let opts = LoadOptions {
        ssh_config: Some(fixture("ssh_config")),
        ..LoadOptions::default()
    };
    let inv = Inventory::load(&opts).unwrap();
    assert_eq!(inv.path(), None);
    assert_eq!(inv.servers().count(), 0);
    // The ssh config still applies to ad-hoc hosts.
    let hosts = inv.select(&["cache".to_string()], &[], &[]);
    assert!(matches!(hosts, Err(Error::UnknownHost { .. })));
    let hosts = inv.select(&["ops@cache:22".to_string()], &[], &[]).unwrap();
    assert_eq!(hosts[0].destination(), "ops@10.231.0.40:22");
    assert_eq!(hosts[0].identity_files, vec![PathBuf::from("/keys/cache")]);
}

#[test]
fn environment_without_dm_toml_is_an_unknown_environment() {
    let err = Inventory::load(&LoadOptions {
        environment: Some("production".into()),
        ssh_config: Some(fixture("ssh_config")),
        ..LoadOptions::default()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown environment `production`: the inventory (no dm.toml found) defines no environments"
    );
}
