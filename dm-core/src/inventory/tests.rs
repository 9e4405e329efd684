//! Tests of the whole inventory: `dm.toml` text in, resolved hosts (or an error naming the line)
//! out. The parts have their own tests next to them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

/// Options that read no ssh config (an empty one), so the tests do not depend on the machine.
fn opts() -> LoadOptions {
    LoadOptions {
        path: None,
        environment: None,
        ssh_config: Some(PathBuf::from("/dev/null")),
    }
}

fn parse(text: &str) -> Inventory {
    Inventory::parse(text, Path::new("dm.toml"), &opts()).unwrap()
}

fn parse_env(text: &str, env: &str) -> Inventory {
    let opts = LoadOptions {
        environment: Some(env.to_string()),
        ..opts()
    };
    Inventory::parse(text, Path::new("dm.toml"), &opts).unwrap()
}

fn parse_err(text: &str) -> String {
    Inventory::parse(text, Path::new("dm.toml"), &opts())
        .unwrap_err()
        .to_string()
}

/// Parses `text` with `ssh_config` as the ssh config file.
fn parse_with_ssh(text: &str, ssh_config: &str) -> Result<Inventory, Error> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(ssh_config.as_bytes()).unwrap();
    let opts = LoadOptions {
        ssh_config: Some(file.path().to_path_buf()),
        ..opts()
    };
    Inventory::parse(text, Path::new("dm.toml"), &opts)
}

fn names(hosts: &[Host]) -> Vec<&str> {
    hosts.iter().map(|h| h.name.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const SHOP: &str = r#"
[servers.appnode1]
address = "10.231.0.11"
[servers.appnode2]
address = "10.231.0.12"
[servers.appnode10]
address = "10.231.0.20"
[servers.lb1]
address = "10.231.0.2"
[servers.db1]
address = "10.231.0.3"
"#;

// -- parsing --

#[test]
fn parses_every_server_field() {
    let inv = parse(
        r#"
[servers.appnode1]
address = "10.231.0.11"
user = "deploy"
port = 2222
identity_file = "/keys/deploy"
roles = ["app", "worker"]
proxy_jump = "gw.example.test"
vars = { weight = 2 }
"#,
    );
    let host = inv.server("appnode1").unwrap();
    assert_eq!(host.name, "appnode1");
    assert_eq!(host.address, "10.231.0.11");
    assert_eq!(host.user, "deploy");
    assert_eq!(host.port, 2222);
    assert_eq!(host.identity_files, vec![PathBuf::from("/keys/deploy")]);
    assert_eq!(host.roles, vec!["app", "worker"]);
    assert_eq!(host.vars.get("weight"), Some(&json!(2)));
    let jump = host.proxy_jump.as_deref().unwrap();
    assert_eq!(jump.address, "gw.example.test");
}

#[test]
fn identity_files_are_kept_in_order() {
    let inv = parse("[servers.a]\nidentity_files = [\"/k/one\", \"/k/two\"]\n");
    assert_eq!(
        inv.server("a").unwrap().identity_files,
        vec![PathBuf::from("/k/one"), PathBuf::from("/k/two")]
    );
}

#[test]
fn relative_identity_files_are_relative_to_the_inventory() {
    let inv = Inventory::parse(
        "[servers.a]\nidentity_file = \"keys/deploy\"\n",
        Path::new("/srv/shop/dm.toml"),
        &opts(),
    )
    .unwrap();
    assert_eq!(
        inv.server("a").unwrap().identity_files,
        vec![PathBuf::from("/srv/shop/keys/deploy")]
    );
}

#[test]
fn defaults_apply_to_every_server_unless_it_says_otherwise() {
    let inv = parse(
        r#"
[defaults]
user = "admin"
port = 2200
identity_files = ["/k/default"]
[servers.a]
[servers.b]
user = "deploy"
port = 22
identity_file = "/k/b"
"#,
    );
    let a = inv.server("a").unwrap();
    assert_eq!((a.user.as_str(), a.port), ("admin", 2200));
    assert_eq!(a.identity_files, vec![PathBuf::from("/k/default")]);
    let b = inv.server("b").unwrap();
    assert_eq!((b.user.as_str(), b.port), ("deploy", 22));
    assert_eq!(b.identity_files, vec![PathBuf::from("/k/b")]);
}

#[test]
fn address_defaults_to_the_server_name() {
    let inv = parse("[servers.\"web.example.test\"]\n[servers.db1]\n");
    assert_eq!(
        inv.server("web.example.test").unwrap().address,
        "web.example.test"
    );
    assert_eq!(inv.server("db1").unwrap().address, "db1");
}

#[test]
fn user_defaults_to_the_local_user_and_port_to_22() {
    let inv = parse("[servers.a]\n");
    let a = inv.server("a").unwrap();
    assert_eq!(a.user, operator::user_name());
    assert_eq!(a.port, 22);
    assert!(a.identity_files.is_empty());
    assert!(a.proxy_jump.is_none());
}

#[test]
fn known_hosts_comes_from_defaults_with_tilde_expanded() {
    let inv = parse("[defaults]\nknown_hosts = \"/etc/dm/known_hosts\"\n");
    assert_eq!(inv.known_hosts(), Some(Path::new("/etc/dm/known_hosts")));
    assert_eq!(parse("").known_hosts(), None);
    if let Some(home) = crate::ssh::identity::home_dir() {
        let inv = parse("[defaults]\nknown_hosts = \"~/.ssh/known_hosts\"\n");
        assert_eq!(
            inv.known_hosts(),
            Some(home.join(".ssh/known_hosts").as_path())
        );
    }
}

#[test]
fn servers_are_in_natural_name_order() {
    let inv = parse(SHOP);
    let order: Vec<&str> = inv.servers().map(|h| h.name.as_str()).collect();
    assert_eq!(
        order,
        vec!["appnode1", "appnode2", "appnode10", "db1", "lb1"]
    );
}

#[test]
fn datetimes_in_vars_become_strings() {
    let inv = parse("[vars]\nreleased = 2024-05-01\n");
    assert_eq!(inv.vars().get("released"), Some(&json!("2024-05-01")));
}

// -- roles --

#[test]
fn server_named_appnode2_is_in_role_appnode() {
    let inv = parse("[servers.appnode2]\n[servers.appnode-3]\n[servers.appnode_4]\n[servers.lb]\n");
    for name in ["appnode2", "appnode-3", "appnode_4"] {
        assert_eq!(inv.server(name).unwrap().roles, vec!["appnode"], "{name}");
    }
    assert_eq!(inv.server("lb").unwrap().roles, vec!["lb"]);
    assert_eq!(inv.roles(), vec!["appnode", "lb"]);
    assert_eq!(inv.role("appnode").len(), 3);
}

#[test]
fn explicit_roles_replace_the_inferred_role() {
    let inv = parse("[servers.appnode1]\nroles = [\"web\"]\n[servers.box2]\nroles = []\n");
    assert_eq!(inv.server("appnode1").unwrap().roles, vec!["web"]);
    assert!(inv.server("box2").unwrap().roles.is_empty());
    assert!(inv.role("appnode").is_empty());
}

#[test]
fn role_lists_servers_in_inventory_order() {
    let inv = parse(SHOP);
    let appnodes: Vec<&str> = inv
        .role("appnode")
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(appnodes, vec!["appnode1", "appnode2", "appnode10"]);
    assert!(inv.role("cache").is_empty());
}

// -- vars --

#[test]
fn var_precedence_is_global_then_role_then_environment_then_server() {
    let inv = parse_env(
        r#"
[vars]
a = "global"
b = "global"
c = "global"
d = "global"
[roles.appnode]
vars = { b = "role", c = "role", d = "role" }
[environments.prod]
vars = { c = "env", d = "env" }
[servers.appnode1]
vars = { d = "server" }
"#,
        "prod",
    );
    let vars = &inv.server("appnode1").unwrap().vars;
    assert_eq!(vars.get("a"), Some(&json!("global")));
    assert_eq!(vars.get("b"), Some(&json!("role")));
    assert_eq!(vars.get("c"), Some(&json!("env")));
    assert_eq!(vars.get("d"), Some(&json!("server")));
    assert_eq!(
        serde_json::Value::Object(inv.vars().clone()),
        json!({"a": "global", "b": "global", "c": "env", "d": "env"})
    );
}

#[test]
fn role_vars_apply_in_the_order_of_the_servers_roles() {
    let inv = parse(
        r#"
[roles.web]
vars = { x = "web", only_web = true }
[roles.worker]
vars = { x = "worker" }
[servers.a]
roles = ["web", "worker"]
[servers.b]
roles = ["worker", "web"]
"#,
    );
    assert_eq!(
        inv.server("a").unwrap().vars.get("x"),
        Some(&json!("worker"))
    );
    assert_eq!(inv.server("b").unwrap().vars.get("x"), Some(&json!("web")));
    assert_eq!(
        inv.server("b").unwrap().vars.get("only_web"),
        Some(&json!(true))
    );
}

// -- environments --

const ENVS: &str = r#"
default_environment = "staging"
[servers.appnode1]
address = "10.231.0.11"
[servers.appnode2]
address = "10.231.0.12"
[servers.lb1]
address = "10.231.0.2"
[environments.staging]
servers = ["appnode2"]
[environments.production]
servers = ["appnode1", "lb1"]
vars = { debug = false }
[environments.production.overrides.appnode1]
address = "10.231.1.11"
port = 2222
vars = { weight = 3 }
"#;

#[test]
fn environment_selects_its_servers() {
    let inv = parse_env(ENVS, "production");
    assert_eq!(inv.environment(), Some("production"));
    let names: Vec<&str> = inv.servers().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["appnode1", "lb1"]);
    assert!(inv.server("appnode2").is_none());
    assert_eq!(inv.environments(), vec!["production", "staging"]);
}

#[test]
fn default_environment_is_used_when_none_is_asked_for() {
    let inv = parse(ENVS);
    assert_eq!(inv.environment(), Some("staging"));
    let names: Vec<&str> = inv.servers().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["appnode2"]);
}

#[test]
fn without_an_environment_every_server_is_used() {
    let inv = parse(SHOP);
    assert_eq!(inv.environment(), None);
    assert_eq!(inv.servers().count(), 5);
    assert!(inv.environments().is_empty());
}

#[test]
fn environment_without_a_servers_list_has_every_server() {
    let inv = parse_env("[servers.a]\n[servers.b]\n[environments.dev]\n", "dev");
    assert_eq!(inv.servers().count(), 2);
}

#[test]
fn environment_overrides_replace_server_fields() {
    let inv = parse_env(ENVS, "production");
    let a = inv.server("appnode1").unwrap();
    assert_eq!(a.address, "10.231.1.11");
    assert_eq!(a.port, 2222);
    assert_eq!(a.vars.get("weight"), Some(&json!(3)));
    assert_eq!(a.vars.get("debug"), Some(&json!(false)));
    let staging = parse_env(ENVS, "staging");
    assert!(staging.server("appnode1").is_none());
    let no_override = parse_env(&ENVS.replace("servers = [\"appnode2\"]", ""), "staging");
    assert_eq!(
        no_override.server("appnode1").unwrap().address,
        "10.231.0.11"
    );
}

#[test]
fn unknown_environment_is_an_error_listing_the_known_ones() {
    let opts = LoadOptions {
        environment: Some("prod".into()),
        ..opts()
    };
    let err = Inventory::parse(ENVS, Path::new("dm.toml"), &opts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown environment `prod`: dm.toml defines production, staging"
    );
}

#[test]
fn unknown_default_environment_is_an_error_at_its_line() {
    let err = parse_err("\ndefault_environment = \"producton\"\n[environments.production]\n");
    assert!(
        err.starts_with(
            "dm.toml:2:23: default_environment `producton` is not defined (defined: production)"
        ),
        "{err}"
    );
    assert!(err.contains("did you mean `production`?"), "{err}");
    assert!(err.ends_with("(key `default_environment`)"), "{err}");
}

// -- errors name file:line:column and key --

#[test]
fn unknown_field_names_line_column_and_key() {
    let err = parse_err(
        "[defaults]\nuser = \"root\"\n\n[servers.appnode1]\naddress = \"10.231.0.11\"\n\n[servers.appnode2]\nadress = \"10.231.0.12\"\n",
    );
    assert!(
        err.starts_with("dm.toml:8:1: unknown field `adress`, expected one of `address`, `user`"),
        "{err}"
    );
    assert!(err.ends_with("(key `servers.appnode2.adress`)"), "{err}");
}

#[test]
fn unknown_top_level_table_is_an_error() {
    let err = parse_err("[server.a]\n");
    assert!(
        err.starts_with("dm.toml:1:2: unknown field `server`"),
        "{err}"
    );
}

#[test]
fn unknown_field_in_an_override_names_its_key() {
    let err =
        parse_err("[servers.a]\n[environments.prod]\n[environments.prod.overrides.a]\nprot = 1\n");
    assert!(
        err.starts_with("dm.toml:4:1: unknown field `prot`"),
        "{err}"
    );
    assert!(
        err.ends_with("(key `environments.prod.overrides.a.prot`)"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let err = parse_err("[servers.a]\nport = \"ssh\"\n");
    assert!(
        err.starts_with("dm.toml:2:8: invalid type: string \"ssh\", expected u16"),
        "{err}"
    );
    assert!(err.ends_with("(key `servers.a.port`)"), "{err}");
}

#[test]
fn port_out_of_range_names_line() {
    let err = parse_err("[servers.a]\n\nport = 70000\n");
    assert!(err.starts_with("dm.toml:3:8: "), "{err}");
    assert!(err.contains("70000"), "{err}");
}

#[test]
fn port_zero_is_an_error() {
    let err = parse_err("[defaults]\nport = 0\n");
    assert!(
        err.starts_with("dm.toml:2:8: port 0 is not a port"),
        "{err}"
    );
}

#[test]
fn toml_syntax_error_names_line() {
    let err = parse_err("[servers.a]\naddress = \"unterminated\n");
    assert!(err.starts_with("dm.toml:2:"), "{err}");
}

#[test]
fn environment_listing_an_unknown_server_is_an_error_with_suggestion() {
    let err = parse_err(
        "[servers.appnode1]\n[servers.lb1]\n[environments.prod]\nservers = [\"appnode1\", \"apnode2\"]\n",
    );
    assert!(
        err.starts_with(
            "dm.toml:4:24: environment `prod` lists server `apnode2`, which is not defined (defined: appnode1, lb1); did you mean `appnode1`?"
        ),
        "{err}"
    );
    assert!(err.ends_with("(key `environments.prod.servers`)"), "{err}");
}

#[test]
fn override_of_an_unknown_server_is_an_error() {
    let err = parse_err(
        "[servers.appnode1]\n[environments.prod]\n[environments.prod.overrides.appnode9]\nport = 2\n",
    );
    assert!(
        err.starts_with(
            "dm.toml:3:30: environment `prod` overrides server `appnode9`, which is not defined"
        ),
        "{err}"
    );
}

#[test]
fn override_of_a_server_outside_the_environment_is_an_error() {
    let err = parse_err(
        "[servers.a]\n[servers.b]\n[environments.prod]\nservers = [\"a\"]\noverrides.b = { port = 2 }\n",
    );
    assert!(
        err.starts_with("dm.toml:5:11: environment `prod` overrides server `b`, which is not in its `servers` list"),
        "{err}"
    );
}

#[test]
fn proxy_jump_naming_an_unknown_server_is_an_error_with_suggestion() {
    let err = parse_err("[servers.bastion]\n[servers.app1]\nproxy_jump = \"bastoin\"\n");
    assert!(
        err.starts_with(
            "dm.toml:3:14: proxy_jump `bastoin` is not a server; did you mean `bastion`?"
        ),
        "{err}"
    );
    assert!(err.ends_with("(key `servers.app1.proxy_jump`)"), "{err}");
}

#[test]
fn proxy_jump_with_a_bad_port_is_an_error() {
    let err = parse_err("[servers.app1]\nproxy_jump = \"gw.example.test:ssh\"\n");
    assert!(
        err.starts_with("dm.toml:2:14: proxy_jump `gw.example.test:ssh`: `ssh` is not a port"),
        "{err}"
    );
}

#[test]
fn identity_file_and_identity_files_together_are_an_error() {
    let err = parse_err("[servers.a]\nidentity_file = \"/k\"\nidentity_files = [\"/j\"]\n");
    assert!(
        err.starts_with("dm.toml:3:18: both identity_file and identity_files are set"),
        "{err}"
    );
}

#[test]
fn role_table_without_servers_is_an_error() {
    let err = parse_err("[servers.appnode1]\n[roles.apnode]\nvars = { x = 1 }\n");
    assert!(
        err.starts_with("dm.toml:2:8: role `apnode` has no servers (did you mean `appnode`?)"),
        "{err}"
    );
}

#[test]
fn nan_in_vars_is_an_error_at_the_vars_table() {
    let err = parse_err("[servers.a]\nvars = { ratio = nan }\n");
    assert!(err.starts_with("dm.toml:2:8: var `ratio` is NaN"), "{err}");
}

#[test]
fn empty_address_is_an_error() {
    let err = parse_err("[servers.a]\naddress = \"\"\n");
    assert!(err.starts_with("dm.toml:2:11: address is empty"), "{err}");
}

// -- proxy jumps --

#[test]
fn proxy_jump_to_another_server_is_that_servers_host() {
    let inv = parse(
        r#"
[servers.bastion]
address = "10.231.0.1"
user = "jump"
port = 2201
identity_file = "/k/jump"
[servers.app1]
address = "10.231.0.11"
proxy_jump = "bastion"
"#,
    );
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(jump, inv.server("bastion").unwrap());
}

#[test]
fn proxy_jump_with_user_and_port_overrides_the_jump_servers() {
    let inv = parse(
        "[servers.bastion]\naddress = \"10.231.0.1\"\n[servers.app1]\nproxy_jump = \"ops@bastion:2299\"\n",
    );
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(
        (
            jump.name.as_str(),
            jump.user.as_str(),
            jump.address.as_str(),
            jump.port
        ),
        ("bastion", "ops", "10.231.0.1", 2299)
    );
}

#[test]
fn proxy_jump_chains_nest() {
    let inv = parse(
        "[servers.gw]\n[servers.bastion]\nproxy_jump = \"gw\"\n[servers.app1]\nproxy_jump = \"bastion\"\n",
    );
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(jump.name, "bastion");
    assert_eq!(jump.proxy_jump.as_deref().unwrap().name, "gw");
}

#[test]
fn proxy_jump_to_a_server_outside_the_environment_still_works() {
    let inv = parse_env(
        "[servers.bastion]\n[servers.app1]\nproxy_jump = \"bastion\"\n[environments.prod]\nservers = [\"app1\"]\n",
        "prod",
    );
    assert!(inv.server("bastion").is_none());
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(jump.name, "bastion");
}

#[test]
fn default_proxy_jump_applies_to_every_server_but_the_jump_host() {
    let inv = parse(
        "[defaults]\nproxy_jump = \"bastion\"\n[servers.bastion]\n[servers.app1]\n[servers.app2]\nproxy_jump = \"none\"\n",
    );
    assert!(inv.server("bastion").unwrap().proxy_jump.is_none());
    assert_eq!(
        inv.server("app1")
            .unwrap()
            .proxy_jump
            .as_deref()
            .unwrap()
            .name,
        "bastion"
    );
    assert!(inv.server("app2").unwrap().proxy_jump.is_none());
}

#[test]
fn proxy_jump_cycle_is_an_error_naming_the_cycle() {
    let err = parse_err(
        "[servers.a]\nproxy_jump = \"b\"\n[servers.b]\nproxy_jump = \"c\"\n[servers.c]\nproxy_jump = \"a\"\n",
    );
    assert!(
        err.starts_with("dm.toml:6:14: proxy_jump cycle: a -> b -> c -> a;"),
        "{err}"
    );
    assert!(err.ends_with("(key `servers.c.proxy_jump`)"), "{err}");
}

#[test]
fn proxy_jump_to_itself_is_a_cycle() {
    let err = parse_err("[servers.a]\nproxy_jump = \"a\"\n");
    assert!(
        err.starts_with("dm.toml:2:14: proxy_jump cycle: a -> a;"),
        "{err}"
    );
}

#[test]
fn proxy_jump_address_is_not_a_server_reference() {
    let inv = parse("[servers.app1]\nproxy_jump = \"jump@bastion.example.test:2202\"\n");
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(
        (jump.user.as_str(), jump.address.as_str(), jump.port),
        ("jump", "bastion.example.test", 2202)
    );
}

// -- select --

#[test]
fn select_is_the_union_of_hosts_and_roles_in_inventory_order_without_duplicates() {
    let inv = parse(SHOP);
    let hosts = inv
        .select(&strings(&["lb1", "appnode2"]), &strings(&["appnode"]), &[])
        .unwrap();
    assert_eq!(
        names(&hosts),
        vec!["appnode1", "appnode2", "appnode10", "lb1"]
    );
}

#[test]
fn select_accepts_comma_separated_lists() {
    let inv = parse(SHOP);
    let hosts = inv
        .select(&strings(&["db1,lb1,", "db1"]), &strings(&["lb,db"]), &[])
        .unwrap();
    assert_eq!(names(&hosts), vec!["db1", "lb1"]);
}

#[test]
fn select_without_flags_uses_the_task_roles() {
    let inv = parse(SHOP);
    let hosts = inv.select(&[], &[], &["lb", "db"]).unwrap();
    assert_eq!(names(&hosts), vec!["db1", "lb1"]);
}

#[test]
fn task_role_without_servers_selects_nothing() {
    let inv = parse(SHOP);
    assert!(inv.select(&[], &[], &["cache"]).unwrap().is_empty());
}

#[test]
fn select_without_flags_or_task_roles_is_every_server() {
    let inv = parse(SHOP);
    assert_eq!(inv.select(&[], &[], &[]).unwrap().len(), 5);
    assert!(Inventory::empty().select(&[], &[], &[]).unwrap().is_empty());
}

#[test]
fn flags_replace_the_task_roles() {
    let inv = parse(SHOP);
    let hosts = inv.select(&strings(&["db1"]), &[], &["appnode"]).unwrap();
    assert_eq!(names(&hosts), vec!["db1"]);
}

#[test]
fn ad_hoc_address_gets_user_port_defaults_and_vars() {
    let inv = parse(
        "[defaults]\nidentity_file = \"/k/default\"\nport = 2200\n[vars]\napp = \"shop\"\n[servers.db1]\n",
    );
    let hosts = inv
        .select(
            &strings(&["deploy@10.231.0.5:2222", "10.231.0.6", "db1"]),
            &[],
            &[],
        )
        .unwrap();
    assert_eq!(
        names(&hosts),
        vec!["db1", "deploy@10.231.0.5:2222", "10.231.0.6"]
    );
    let a = &hosts[1];
    assert_eq!(
        (a.user.as_str(), a.address.as_str(), a.port),
        ("deploy", "10.231.0.5", 2222)
    );
    assert_eq!(a.identity_files, vec![PathBuf::from("/k/default")]);
    assert_eq!(a.vars.get("app"), Some(&json!("shop")));
    assert!(a.roles.is_empty());
    let b = &hosts[2];
    assert_eq!((b.user.clone(), b.port), (operator::user_name(), 2200));
}

#[test]
fn ad_hoc_hosts_work_without_an_inventory() {
    let hosts = Inventory::empty()
        .select(&strings(&["root@10.231.0.5"]), &[], &[])
        .unwrap();
    assert_eq!(hosts[0].destination(), "root@10.231.0.5:22");
}

#[test]
fn ad_hoc_hosts_jump_through_the_default_proxy_jump() {
    let inv = parse(
        "[defaults]\nproxy_jump = \"bastion\"\n[servers.bastion]\naddress = \"10.231.0.1\"\n",
    );
    let hosts = inv.select(&strings(&["10.231.0.5"]), &[], &[]).unwrap();
    assert_eq!(hosts[0].proxy_jump.as_deref(), inv.server("bastion"));
}

#[test]
fn user_at_server_selects_that_server_as_that_user() {
    let inv = parse(SHOP);
    let hosts = inv.select(&strings(&["ops@db1:2022"]), &[], &[]).unwrap();
    assert_eq!(names(&hosts), vec!["db1"]);
    assert_eq!(hosts[0].destination(), "ops@10.231.0.3:2022");
}

#[test]
fn unknown_host_is_an_error_with_a_suggestion() {
    let inv = parse(SHOP);
    let err = inv
        .select(&strings(&["apnode1"]), &[], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown host `apnode1`: it is not a server in dm.toml (did you mean `appnode1`?)"
    );
}

#[test]
fn server_outside_the_environment_is_an_unknown_host() {
    let inv = parse_env(ENVS, "production");
    let err = inv
        .select(&strings(&["appnode2"]), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "unknown host `appnode2`: it is not a server in dm.toml (environment `production`)"
        ),
        "{err}"
    );
}

#[test]
fn unknown_role_is_an_error_with_a_suggestion() {
    let inv = parse(SHOP);
    let err = inv
        .select(&[], &strings(&["appnod"]), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown role `appnod`: no server in dm.toml has it (did you mean `appnode`?)"
    );
}

#[test]
fn role_known_in_another_environment_selects_nothing_here() {
    let inv = parse_env(ENVS, "staging");
    assert!(inv.select(&[], &strings(&["lb"]), &[]).unwrap().is_empty());
}

#[test]
fn unparseable_address_is_an_invalid_host_error() {
    let err = Inventory::empty()
        .select(&strings(&["web.example.test:ssh"]), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid host `web.example.test:ssh`: `ssh` is not a port"),
        "{err}"
    );
}

// -- ~/.ssh/config --

const SSH_CONFIG: &str = "\
Host app1 10.231.0.5
    HostName 10.231.0.50
    User sshuser
    Port 2022
    IdentityFile /k/ssh
    ProxyJump hop@10.231.0.1:2201

Host 10.231.0.1
    User hopuser
";

#[test]
fn ssh_config_applies_where_the_inventory_says_nothing() {
    let inv = parse_with_ssh("[servers.app1]\n", SSH_CONFIG).unwrap();
    let a = inv.server("app1").unwrap();
    assert_eq!(a.address, "10.231.0.50");
    assert_eq!(a.user, "sshuser");
    assert_eq!(a.port, 2022);
    assert_eq!(a.identity_files, vec![PathBuf::from("/k/ssh")]);
    let jump = a.proxy_jump.as_deref().unwrap();
    assert_eq!(jump.destination(), "hop@10.231.0.1:2201");
}

#[test]
fn ssh_config_matches_the_address_not_the_name() {
    let inv = parse_with_ssh("[servers.web]\naddress = \"10.231.0.5\"\n", SSH_CONFIG).unwrap();
    let web = inv.server("web").unwrap();
    assert_eq!(web.address, "10.231.0.50");
    assert_eq!(web.user, "sshuser");
}

#[test]
fn inventory_settings_win_over_ssh_config() {
    let inv = parse_with_ssh(
        "[servers.app1]\nuser = \"deploy\"\nport = 22\nidentity_file = \"/k/inv\"\nproxy_jump = \"none\"\n",
        SSH_CONFIG,
    )
    .unwrap();
    let a = inv.server("app1").unwrap();
    assert_eq!(a.address, "10.231.0.50");
    assert_eq!((a.user.as_str(), a.port), ("deploy", 22));
    assert_eq!(a.identity_files, vec![PathBuf::from("/k/inv")]);
    assert!(a.proxy_jump.is_none());
}

#[test]
fn defaults_win_over_ssh_config() {
    let inv = parse_with_ssh("[defaults]\nuser = \"admin\"\n[servers.app1]\n", SSH_CONFIG).unwrap();
    assert_eq!(inv.server("app1").unwrap().user, "admin");
}

#[test]
fn ssh_config_proxyjump_host_is_resolved_through_ssh_config_too() {
    let inv = parse_with_ssh(
        "[servers.app1]\n",
        "Host app1\n  ProxyJump gw\nHost gw\n  HostName 10.231.0.1\n  User gwuser\n",
    )
    .unwrap();
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(jump.name, "gw");
    assert_eq!(jump.destination(), "gwuser@10.231.0.1:22");
}

#[test]
fn ssh_config_applies_to_ad_hoc_hosts() {
    let inv = parse_with_ssh("", SSH_CONFIG).unwrap();
    let hosts = inv.select(&strings(&["10.231.0.5"]), &[], &[]).unwrap();
    assert_eq!(hosts[0].destination(), "sshuser@10.231.0.50:2022");
}

#[test]
fn ssh_config_alias_is_a_valid_proxy_jump() {
    let inv = parse_with_ssh(
        "[servers.app1]\nproxy_jump = \"gw\"\n",
        "Host gw\n  HostName 10.231.0.1\n",
    )
    .unwrap();
    let jump = inv.server("app1").unwrap().proxy_jump.as_deref().unwrap();
    assert_eq!(jump.address, "10.231.0.1");
}

#[test]
fn unparseable_ssh_config_is_an_error_naming_the_file() {
    let err = parse_with_ssh("[servers.a]\n", "Host a\n  Port many\n").unwrap_err();
    assert!(matches!(&err, Error::SshConfig { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot use ssh config /"), "{msg}");
    assert!(msg.contains(": line 2: expected port number"), "{msg}");
}

#[test]
fn missing_ssh_config_given_explicitly_is_an_error() {
    let opts = LoadOptions {
        ssh_config: Some(PathBuf::from("/nonexistent/dm-test/ssh_config")),
        ..opts()
    };
    let err = Inventory::parse("", Path::new("dm.toml"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot use ssh config /nonexistent/dm-test/ssh_config: "),
        "{err}"
    );
}

// -- loading --

#[test]
fn empty_inventory_has_nothing() {
    let inv = Inventory::empty();
    assert_eq!(inv.path(), None);
    assert_eq!(inv.environment(), None);
    assert_eq!(inv.servers().count(), 0);
    assert!(inv.roles().is_empty());
    assert!(inv.vars().is_empty());
    assert_eq!(inv.known_hosts(), None);
}

#[test]
fn server_name_that_is_not_a_hostname_is_refused_at_its_line() {
    // A quoted key may hold anything TOML allows: a newline would become an injected directive
    // in the nginx upstream file, a `;` a second shell command.
    let err = parse_err("[servers.\"app\\nserver 10.0.0.9:80\"]\naddress = \"10.231.0.11\"\n");
    assert!(err.starts_with("dm.toml:1:"), "{err}");
    assert!(err.contains("is not a hostname"), "{err}");
    assert!(err.contains("rename the [servers.NAME] table"), "{err}");
    let err = parse_err("[servers.lb1]\n[servers.\"lb2;id\"]\n");
    assert!(err.starts_with("dm.toml:2:"), "{err}");
    assert!(err.contains("';'"), "{err}");
    let inventory = parse("[servers.\"web1.example.com\"]\n[servers.app_2]\n");
    assert_eq!(
        names(&inventory.servers().cloned().collect::<Vec<_>>()),
        ["app_2", "web1.example.com"]
    );
}

#[test]
fn address_that_is_not_an_ip_or_hostname_is_refused_at_its_line() {
    let err = parse_err("[servers.lb1]\naddress = \"10.0.0.1:80; server 6.6.6.6\"\n");
    assert!(err.starts_with("dm.toml:2:11"), "{err}");
    assert!(err.contains("not an IP address or hostname"), "{err}");
    let err = parse_err(
        "[servers.lb1]\n[environments.dev]\nservers = [\"lb1\"]\n\
         [environments.dev.overrides.lb1]\naddress = \"a b\"\n",
    );
    assert!(err.starts_with("dm.toml:5:"), "{err}");
}

/// A table of variables as a library registers it: `greeting = { text = "..", times = N }`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only to check its shape
struct Greeting {
    text: String,
    #[serde(default)]
    times: u8,
    #[serde(default)]
    style: Vec<GreetingStyle>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum GreetingStyle {
    Loud,
    Quiet,
}

inventory::submit! {
    VarsTable {
        name: "greeting",
        read_by: "the test's greet task",
        check: |value| VarsProblem::deserialize::<Greeting>(value).map(drop),
    }
}

#[test]
fn registered_vars_table_with_a_wrong_value_is_refused_naming_line_and_key_path() {
    let text = "[vars.greeting]\ntext = \"hi\"\nstyle = [\"loud\", \"lowd\"]\n\n[servers.web1]\n";
    let err = parse_err(text);
    assert!(err.starts_with("dm.toml:3:"), "{err}");
    assert!(err.contains("(key `vars.greeting.style.1`)"), "{err}");
    assert!(err.contains("variable `greeting.style.1`"), "{err}");
    assert!(err.contains("unknown variant `lowd`"), "{err}");
    assert!(err.contains("the test's greet task read it"), "{err}");
}

#[test]
fn vars_table_error_points_at_the_layer_that_gave_the_value() {
    // The global table is fine; the server's own vars replace `times` with a string.
    let text = "[vars.greeting]\ntext = \"hi\"\n\n[servers.web1]\n\
                vars = { greeting = { text = \"yo\", times = \"many\" } }\n[servers.web2]\n";
    let err = parse_err(text);
    assert!(err.starts_with("dm.toml:5:"), "{err}");
    assert!(
        err.contains("(key `servers.web1.vars.greeting.times`)"),
        "{err}"
    );
    assert!(err.contains("of server web1"), "{err}");
    // A missing field points at the table that lacks it.
    let err = parse_err("[roles.web]\nvars = { greeting = { times = 2 } }\n[servers.web1]\n");
    assert!(err.starts_with("dm.toml:2:"), "{err}");
    assert!(err.contains("missing field `text`"), "{err}");
}

#[test]
fn a_variable_of_a_registered_name_that_is_not_a_table_is_the_fabfiles_own() {
    let inventory = parse("[vars]\ngreeting = \"hello\"\n[servers.web1]\n");
    assert_eq!(
        inventory.server("web1").map(|h| h.vars["greeting"].clone()),
        Some(json!("hello"))
    );
}

#[test]
fn well_formed_vars_tables_load() {
    let inventory = parse("[vars.greeting]\ntext = \"hi\"\nstyle = [\"quiet\"]\n[servers.web1]\n");
    assert_eq!(
        inventory
            .server("web1")
            .map(|h| h.vars["greeting"]["text"].clone()),
        Some(json!("hi"))
    );
}
