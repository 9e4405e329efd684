//! Redis on the `cachenode` role: listening on the server's private address (and localhost),
//! in protected mode, with a memory limit and a password from the secrets.
//!
//! Protected mode stays on: without a password redis answers only local clients (an
//! `appbalancer` whose app runs on the same machine); app nodes on other servers connect with the
//! password (`redis.password_secret`), and only from the addresses the firewall lets through
//! (`provision` opens the port to app nodes only).
//!
//! ```toml
//! [vars.redis]
//! port = 6379                    # default 6379
//! maxmemory = "256mb"            # default "128mb"
//! maxmemory_policy = "allkeys-lru"  # default "allkeys-lru": a cache evicts, never refuses
//! password_secret = "redis_password"  # a key of secrets/<env>.age: clients must AUTH
//! # listen = "10.0.0.6"          # default: the server's private_address
//! ```
//!
//! Debian's `/etc/redis/redis.conf` is kept as packaged except for one line at its end,
//! `include /etc/redis/dm.conf`: settings read later win, so dm's file (mode 0640, owner redis)
//! decides. A change to it restarts the server.

use anyhow::Context as _;
use dm_core::{Ctx, ops};
use serde::Deserialize;

use crate::table_var::table_var;

/// Debian's main configuration file.
const MAIN_CONF: &str = "/etc/redis/redis.conf";

/// dm's settings, included at the end of [`MAIN_CONF`].
const DM_CONF: &str = "/etc/redis/dm.conf";

inventory::submit! {
    dm_core::inventory::VarsTable {
        name: "redis",
        read_by: "dm's cachenode role (launch)",
        check: |value| dm_core::inventory::VarsProblem::deserialize::<RedisVars>(value).map(drop),
    }
}

/// The `redis` table of inventory variables.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RedisVars {
    /// TCP port (default 6379).
    pub port: u16,
    /// Memory limit in redis' notation (`128mb`, `1gb`).
    pub maxmemory: String,
    /// What to do at the limit (default `allkeys-lru`).
    pub maxmemory_policy: String,
    /// The name of a secret holding a password clients must give (`requirepass`).
    pub password_secret: Option<String>,
    /// The address to listen on besides localhost (default: the server's private address).
    pub listen: Option<String>,
}

impl Default for RedisVars {
    fn default() -> RedisVars {
        RedisVars {
            port: 6379,
            maxmemory: "128mb".to_string(),
            maxmemory_policy: "allkeys-lru".to_string(),
            password_secret: None,
            listen: None,
        }
    }
}

/// The content of `/etc/redis/dm.conf` for these settings, listening on `listen` and localhost,
/// with `password` required when given.
pub fn redis_conf(
    vars: &RedisVars,
    listen: &str,
    password: Option<&str>,
) -> anyhow::Result<String> {
    let one_word = |what: &str, value: &str| {
        anyhow::ensure!(
            !value.is_empty() && !value.contains(char::is_whitespace) && !value.contains('"'),
            "redis.{what} = {value:?} must be one word without quotes"
        );
        Ok(())
    };
    one_word("listen", listen)?;
    one_word("maxmemory", &vars.maxmemory)?;
    one_word("maxmemory_policy", &vars.maxmemory_policy)?;
    let bind = if listen == "127.0.0.1" || listen == "localhost" {
        "127.0.0.1 -::1".to_string()
    } else {
        format!("{listen} 127.0.0.1 -::1")
    };
    let mut text = format!(
        "# Managed by dm (dm_tasks::redis): changes here are replaced on the next launch.\n\
         bind {bind}\n\
         port {}\n\
         protected-mode yes\n\
         maxmemory {}\n\
         maxmemory-policy {}\n",
        vars.port, vars.maxmemory, vars.maxmemory_policy
    );
    if let Some(password) = password {
        anyhow::ensure!(
            !password.is_empty() && !password.contains(['"', '\n', '\r', '\\']),
            "the redis password must be non-empty, on one line, without quotes or backslashes"
        );
        text.push_str(&format!("requirepass \"{password}\"\n"));
    }
    Ok(text)
}

/// The `cachenode` role: redis installed, configured from the `redis` variables, enabled and
/// running. A second run changes nothing.
pub async fn cachenode(ctx: &Ctx) -> anyhow::Result<()> {
    let vars: RedisVars = table_var(ctx, "redis")?;
    let password = match &vars.password_secret {
        Some(name) => Some(
            ctx.secret(name)
                .with_context(|| format!("{}: redis.password_secret = {name:?}", ctx.name()))?,
        ),
        None => None,
    };
    let listen = vars
        .listen
        .clone()
        .unwrap_or_else(|| crate::private_address(ctx.host()));
    let conf = redis_conf(&vars, &listen, password.as_deref())
        .with_context(|| format!("{}: the redis variables in dm.toml", ctx.name()))?;

    // The package's files must exist before its configuration is edited: two steps.
    let mut install = ctx.step();
    install.add(ops::Apt::present(["redis-server"]));
    install.apply().await?;

    let mut configure = ctx.step();
    configure.add(
        ops::File::bytes(DM_CONF, conf)
            .owner("redis")
            .group("redis")
            .mode(0o640)
            .notify("restart-redis"),
    );
    configure
        .add(ops::Line::present(MAIN_CONF, &format!("include {DM_CONF}")).notify("restart-redis"));
    configure.add(ops::Service::new("redis-server").enabled().running());
    configure.reaction(
        "restart-redis",
        ops::Service::new("redis-server").restarted(),
    );
    configure.apply().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_the_private_address_and_localhost() {
        let conf = redis_conf(&RedisVars::default(), "10.0.0.6", None).expect("valid");
        assert!(conf.contains("bind 10.0.0.6 127.0.0.1 -::1\n"), "{conf}");
        assert!(conf.contains("protected-mode yes\n"));
        assert!(conf.contains("maxmemory 128mb\n"));
        assert!(!conf.contains("requirepass"));
    }

    #[test]
    fn a_password_is_required_when_given() {
        let conf = redis_conf(&RedisVars::default(), "10.0.0.6", Some("pw")).expect("valid");
        assert!(conf.contains("requirepass \"pw\"\n"));
    }

    #[test]
    fn settings_with_spaces_are_refused() {
        let vars = RedisVars {
            maxmemory: "1 gb".into(),
            ..RedisVars::default()
        };
        let err = redis_conf(&vars, "10.0.0.6", None).expect_err("invalid");
        assert!(err.to_string().contains("redis.maxmemory"), "{err}");
    }
}
