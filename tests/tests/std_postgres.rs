//! `dm_tasks::postgres::dbserver` on real machines: PostgreSQL installed by `launch`, the
//! database's user with a password from the environment's secrets (or from a plain variable),
//! reachable on the private address from app nodes only, never printed, and a second launch
//! changes nothing.

use crate::ops_support;

use std::path::{Path, PathBuf};

use dm::testing::{Fleet, Machine};
use dm_tests::*;
use ops_support::*;

/// The first password, kept in `secrets/dev.age`.
const SECRET_PASSWORD: &str = "Pg-secret-7f3k9x2q";
/// The password after `secrets set` changes it.
const ROTATED_PASSWORD: &str = "Pg-rotated-5m1vz8";
/// A password written in dm.toml itself.
const PLAIN_PASSWORD: &str = "Pg-plain-w4c6ta0e";

/// Boots db1 (dbserver), appnode1 (appnode) and cache1 (cachenode) in environment `dev`, with
/// the database password as secret `postgres_password`; returns the fleet and the age key.
fn setup() -> (Fleet, PathBuf) {
    let fleet = boot(
        Fleet::builder()
            .machine("db1", &["dbserver"])
            .machine("appnode1", &["appnode"])
            .machine("cache1", &["cachenode"])
            .environment("dev"),
    );
    set_vars(
        &fleet,
        r#"{ postgres = { database = "shop", password_secret = "postgres_password" } }"#,
    );
    let key = init_secrets(fleet.dir(), "dev");
    set_password(&fleet, &key, SECRET_PASSWORD);
    (fleet, key)
}

/// Sets secret `postgres_password` of environment `dev`.
fn set_password(fleet: &Fleet, key: &Path, password: &str) {
    set_secret(fleet.dir(), key, "dev", "postgres_password", password);
}

/// `launch db1` with `--json`; returns the run and its report, after checking that no password
/// appears anywhere in what it printed.
fn launch_db(fleet: &Fleet, key: &Path) -> (Run, serde_json::Value) {
    let run = Dm::new(fleet)
        .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
        .args(["--json", "-v", "launch", "db1"])
        .run();
    for password in [SECRET_PASSWORD, ROTATED_PASSWORD, PLAIN_PASSWORD] {
        assert!(
            !run.stdout().contains(password) && !run.stderr().contains(password),
            "launch printed a password:\n{}",
            run.describe()
        );
    }
    let json = run.json();
    (run, json)
}

/// Tries to run `select current_user` on db1's database `shop` as `shop` from `client`; returns
/// the output (`shop`) or the error psql printed.
fn connect(client: &Machine, db: &Machine, password: &str) -> Result<String, String> {
    let out = client
        .exec(&format!(
            "PGPASSWORD='{password}' PGCONNECT_TIMEOUT=5 psql -X -A -t -h {} -U shop -d shop \
             -c 'select current_user'",
            db.address()
        ))
        .expect("run psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn dbserver_serves_the_app_nodes_only_with_the_secret_password() {
    let (fleet, key) = setup();
    let db = fleet.machine("db1");
    let app = fleet.machine("appnode1");
    let outsider = fleet.machine("cache1");
    for client in [app, outsider] {
        client.exec_ok(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >/dev/null",
        );
    }

    let (run, json) = launch_db(&fleet, &key);
    run.assert_success();
    assert!(count(&json, "db1", "changed") > 0, "{json:#}");
    assert!(db.is_active("postgresql@15-main"));
    let listening = db.exec_ok("ss -ltnH 'sport = :5432'");
    assert!(
        listening.contains(&format!("{}:5432", db.address())),
        "postgres listens on its private address:\n{listening}"
    );
    assert_eq!(
        connect(app, db, SECRET_PASSWORD).expect("the app node gets in"),
        "shop"
    );
    let wrong = connect(app, db, "not-the-password").expect_err("a wrong password is refused");
    assert!(wrong.contains("password authentication failed"), "{wrong}");
    let outside = connect(outsider, db, SECRET_PASSWORD).expect_err("cache1 is no app node");
    assert!(outside.contains("no pg_hba.conf entry"), "{outside}");
    // The plain password is nowhere on the server: only its SCRAM verifier.
    let grep = db.exec(&format!(
        "grep -rF '{SECRET_PASSWORD}' /etc/postgresql /var/log/postgresql /var/lib/postgresql"
    ));
    assert!(
        !grep.expect("grep").status.success(),
        "the password is stored in clear"
    );

    // Nothing to do the second time.
    let (run, json) = launch_db(&fleet, &key);
    run.assert_success();
    assert_eq!(count(&json, "db1", "changed"), 0, "{json:#}");

    // A new password in the secrets: only the role changes, the old password stops working.
    set_password(&fleet, &key, ROTATED_PASSWORD);
    let (run, json) = launch_db(&fleet, &key);
    run.assert_success();
    assert_eq!(status(&json, "db1", "postgres role shop"), "changed");
    assert_eq!(count(&json, "db1", "changed"), 1, "{json:#}");
    assert_eq!(
        connect(app, db, ROTATED_PASSWORD).expect("new password"),
        "shop"
    );
    connect(app, db, SECRET_PASSWORD).expect_err("the old password is refused");

    // A password written in dm.toml: set, and masked like a secret.
    set_vars(
        &fleet,
        &format!(r#"{{ postgres = {{ database = "shop", password = "{PLAIN_PASSWORD}" }} }}"#),
    );
    let (run, json) = launch_db(&fleet, &key);
    run.assert_success();
    assert_eq!(count(&json, "db1", "changed"), 1, "{json:#}");
    assert_eq!(
        connect(app, db, PLAIN_PASSWORD).expect("plain password"),
        "shop"
    );

    // Someone edits pg_hba.conf: the next launch puts it back and reloads.
    db.exec_ok("echo 'host all all 0.0.0.0/0 trust' >> /etc/postgresql/15/main/pg_hba.conf");
    let (run, json) = launch_db(&fleet, &key);
    run.assert_success();
    assert_eq!(
        status(&json, "db1", "reaction reload-postgresql"),
        "changed",
        "{json:#}"
    );
    assert!(
        !db.read_file("/etc/postgresql/15/main/pg_hba.conf")
            .contains("trust")
    );
}

#[test]
fn a_missing_password_is_a_clear_error() {
    let fleet = boot(Fleet::builder().machine("db1", &["dbserver"]));
    let run = Dm::new(&fleet).args(["launch", "db1"]).run();
    run.assert_code(1);
    run.assert_output_contains("db1: no password for the database user");
    run.assert_output_contains("postgres.password_secret");
    assert_eq!(
        fleet
            .machine("db1")
            .exec_ok("if command -v psql >/dev/null; then echo installed; else echo absent; fi")
            .trim(),
        "absent",
        "nothing is installed before the settings are complete"
    );
}

#[test]
fn a_database_name_that_would_rewrite_pg_hba_is_refused_before_anything_is_written() {
    // On the main of December 2026 this wrote `host all all 0.0.0.0/0 trust # shop ...` into
    // pg_hba.conf and reloaded it before the identifier was checked.
    let fleet = boot(
        Fleet::builder()
            .machine("db1", &["dbserver"])
            .machine("appnode1", &["appnode"]),
    );
    set_vars(
        &fleet,
        &format!(
            r#"{{ postgres = {{ database = "all all 0.0.0.0/0 trust #", password = "{PLAIN_PASSWORD}" }} }}"#
        ),
    );
    let run = Dm::new(&fleet).args(["launch", "db1"]).run();
    run.assert_code(3);
    run.assert_output_contains("dm.toml:1:");
    run.assert_output_contains("postgres.database");
    run.assert_output_contains("not a plain identifier");
    let hba = fleet
        .machine("db1")
        .exec_ok("cat /etc/postgresql/*/main/pg_hba.conf 2>/dev/null || true");
    assert!(
        !hba.contains("trust"),
        "pg_hba.conf admits by trust:\n{hba}"
    );
}
