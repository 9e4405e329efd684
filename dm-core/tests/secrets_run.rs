//! Secrets as a run sees them: decrypted for the active environment, registered for redaction,
//! given to hosts as the `secret` variable, and clear errors when they cannot be had.

use crate::secrets_support;

use std::path::Path;

use dm_core::inventory::{Inventory, LoadOptions};
use dm_core::redact::{MASK, redact};
use dm_core::secrets::Secrets;
use secrets_support::*;

const INVENTORY: &str = r#"
default_environment = "dev"

[servers.app1]
address = "10.231.250.1"

[environments.dev]
servers = ["app1"]

[environments.production]
servers = ["app1"]
"#;

fn inventory(dir: &Path, env: Option<&str>) -> Inventory {
    let path = dir.join("dm.toml");
    std::fs::write(&path, INVENTORY).expect("write dm.toml");
    let opts = LoadOptions {
        path: Some(path.clone()),
        environment: env.map(str::to_string),
        // An empty ssh config, so the test does not depend on the user's.
        ssh_config: Some(dir.join("ssh_config")),
    };
    std::fs::write(dir.join("ssh_config"), "").expect("write ssh config");
    Inventory::parse(INVENTORY, &path, &opts).expect("inventory")
}

#[test]
fn secrets_of_the_active_environment_are_masked_and_become_vars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = age_key(dir.path(), "k");
    let file = init(dir.path(), "production", &[&public]);
    let pem = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-line-one\nline-two-of-the-test-key-body\n-----END TEST KEY-----";
    file.set(&ids(&key), "db_password", "run-secret-91x7")
        .expect("set");
    file.set(&ids(&key), "tls_key", pem).expect("set pem");

    let mut inv = inventory(dir.path(), Some("production"));
    let secrets = Secrets::load(&inv, Some(&key));
    assert_eq!(secrets.get("db_password").as_deref(), Ok("run-secret-91x7"));
    assert_eq!(
        redact("password: run-secret-91x7!"),
        format!("password: {MASK}!")
    );
    // Output arrives line by line: each line of a multi-line secret is masked on its own.
    assert_eq!(redact("line-two-of-the-test-key-body"), MASK);

    inv.attach_secrets(secrets);
    let app1 = inv.server("app1").expect("app1");
    assert_eq!(app1.vars["secret"]["db_password"], "run-secret-91x7");
    assert_eq!(inv.vars()["secret"]["tls_key"], pem);

    let missing = inv.secrets().get("nope").expect_err("no such key");
    assert!(missing.contains("secrets set production nope"), "{missing}");
    assert!(
        missing.contains("db_password, tls_key"),
        "lists the keys: {missing}"
    );
}

#[test]
fn without_a_usable_key_the_error_waits_until_a_secret_is_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = age_key(dir.path(), "owner");
    let (stranger, _) = age_key(dir.path(), "stranger");
    let file = init(dir.path(), "production", &[&public]);
    file.set(&ids(&dir.path().join("owner")), "x", "never-shown-4471")
        .expect("set");

    let inv = inventory(dir.path(), Some("production"));
    let secrets = Secrets::load(&inv, Some(&stranger));
    assert!(secrets.to_json().is_none());
    let err = secrets.get("x").expect_err("cannot decrypt");
    assert!(
        err.contains("cannot decrypt") && err.contains("production.age"),
        "{err}"
    );
    assert!(secrets.failure().is_some());
    assert!(!err.contains("never-shown-4471"));
}

#[test]
fn no_environment_or_no_file_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = age_key(dir.path(), "k");
    // dev is the default environment and has no secrets file.
    let inv = inventory(dir.path(), None);
    let err = Secrets::load(&inv, Some(&key))
        .get("db")
        .expect_err("no file");
    assert!(err.contains("environment `dev` has no secrets"), "{err}");
    assert!(err.contains("secrets init dev"), "{err}");

    let err = Secrets::load(&Inventory::empty(), Some(&key))
        .get("db")
        .expect_err("no environment");
    assert!(err.contains("no environment is active"), "{err}");
}
