//! `dm_tasks::redis::cachenode` on real machines: redis installed by `launch`, listening on the
//! private address with a memory limit, in protected mode (other machines are refused until a
//! password is set), reachable from an app node with the password from the environment's
//! secrets, which is never printed, and a second launch changes nothing.

use crate::ops_support;

use std::path::Path;

use dm::testing::{Fleet, Machine};
use dm_tests::*;
use ops_support::*;

const PASSWORD: &str = "Redis-secret-q8w2e6";

/// `launch cache1` with `--json`, checking that the password is not printed.
fn launch_cache(fleet: &Fleet, key: &Path) -> (Run, serde_json::Value) {
    let run = Dm::new(fleet)
        .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
        .args(["--json", "-v", "launch", "cache1"])
        .run();
    assert!(
        !run.stdout().contains(PASSWORD) && !run.stderr().contains(PASSWORD),
        "launch printed the password:\n{}",
        run.describe()
    );
    let json = run.json();
    (run, json)
}

/// `redis-cli` on `client` against `cache`'s private address, with `args`.
fn redis(client: &Machine, cache: &Machine, args: &str) -> String {
    client.exec_ok(&format!(
        "redis-cli --no-auth-warning -h {} {args} 2>&1",
        cache.address()
    ))
}

#[test]
fn cachenode_listens_privately_with_a_limit_and_a_password() {
    let fleet = boot(
        Fleet::builder()
            .machine("cache1", &["cachenode"])
            .machine("appnode1", &["appnode"])
            .environment("dev"),
    );
    let key = init_secrets(fleet.dir(), "dev");
    let cache = fleet.machine("cache1");
    let app = fleet.machine("appnode1");
    app.exec_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-tools >/dev/null");

    set_vars(&fleet, r#"{ redis = { maxmemory = "64mb" } }"#);
    let (run, json) = launch_cache(&fleet, &key);
    run.assert_success();
    assert!(count(&json, "cache1", "changed") > 0, "{json:#}");
    assert!(cache.is_active("redis-server"));
    // Protected mode without a password: local clients only.
    assert!(redis(app, cache, "ping").contains("DENIED"));
    let local = |args: &str| cache.exec_ok(&format!("redis-cli {args}"));
    assert_eq!(local("ping").trim(), "PONG");
    assert_eq!(local("config get maxmemory").trim(), "maxmemory\n67108864");
    assert_eq!(
        local("config get protected-mode").trim(),
        "protected-mode\nyes"
    );
    let listening = cache.exec_ok("ss -ltnH 'sport = :6379'");
    assert!(
        listening.contains(&format!("{}:6379", cache.address())),
        "redis listens on its private address:\n{listening}"
    );

    let (run, json) = launch_cache(&fleet, &key);
    run.assert_success();
    assert_eq!(count(&json, "cache1", "changed"), 0, "{json:#}");

    // A password from the secrets: required from then on.
    set_secret(fleet.dir(), &key, "dev", "redis_password", PASSWORD);
    set_vars(
        &fleet,
        r#"{ redis = { maxmemory = "64mb", password_secret = "redis_password" } }"#,
    );
    let (run, json) = launch_cache(&fleet, &key);
    run.assert_success();
    assert_eq!(
        status(&json, "cache1", "reaction restart-redis"),
        "changed",
        "{json:#}"
    );
    assert!(redis(app, cache, "ping").contains("NOAUTH"));
    assert_eq!(
        redis(app, cache, &format!("-a {PASSWORD} ping")).trim(),
        "PONG"
    );
    assert_eq!(
        cache.exec_ok("stat -c '%a %U' /etc/redis/dm.conf").trim(),
        "640 redis"
    );
    let (run, json) = launch_cache(&fleet, &key);
    run.assert_success();
    assert_eq!(count(&json, "cache1", "changed"), 0, "{json:#}");
}
