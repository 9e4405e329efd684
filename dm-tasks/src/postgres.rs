//! PostgreSQL on the `dbserver` role: the server, one database and its owner with a password,
//! listening on the server's private address and reachable only from the app nodes.
//!
//! ```toml
//! [vars.postgres]
//! database = "shop"                # default: app.name (default "app")
//! user = "shop"                    # default: the database name
//! password_secret = "postgres_password"  # a key of secrets/<env>.age (recommended)
//! # password = "..."               # or the password itself (masked in output like a secret)
//! # listen = "10.0.0.5"            # default: the server's private_address
//! # version = "15"                 # default: Debian's PostgreSQL (11: 13, 12: 15, 13: 17)
//! ```
//!
//! The password reaches the server only as a SCRAM-SHA-256 verifier computed on the controlling
//! machine (see `postgres/scram.rs`), sent on psql's standard input: it is never in a command
//! line, a server log or dm's output. `pg_hba.conf` is managed whole: local connections by peer,
//! loopback with a password, and the database's user from each app node's private address
//! (servers with role `appnode`, `appbalancer` or `dbappbalancer`) with a password; nothing else.
//! Changing the listen address restarts the server; changing who may connect reloads it.
//!
//! App nodes get the connection as a libpq service file ([`client`]): `APP_PATH/.pg_service.conf`,
//! mode 0600, owned by the app user, with the database server's private address, the database,
//! the user and the password. An app connects with `PGSERVICEFILE=APP_PATH/.pg_service.conf
//! PGSERVICE=APP_NAME` in `app.env` and no settings of its own (psycopg2, Django and psql read it).
//! The `postgres` variables are those of the database server (its own vars, or global ones).

mod database;
mod psql;
mod role;
mod scram;

pub use database::Database;
pub use role::Role;

use anyhow::Context as _;
use dm_core::host::Host;
use dm_core::{Ctx, ops};
use serde::Deserialize;

/// The `postgres` table of inventory variables.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostgresVars {
    /// The database to create (default: `app.name`, else `app`).
    pub database: Option<String>,
    /// Its owner, a login role (default: the database name).
    pub user: Option<String>,
    /// The password, written in the inventory (prefer `password_secret`).
    pub password: Option<String>,
    /// The name of the secret holding the password (`ctx.secret(name)`).
    pub password_secret: Option<String>,
    /// The address to listen on besides localhost (default: the server's private address).
    pub listen: Option<String>,
    /// The PostgreSQL major version (default: the one of the host's Debian release).
    pub version: Option<String>,
}

/// What [`dbserver`] sets up on one host, resolved from the variables.
#[derive(Debug)]
pub struct PostgresSettings {
    /// Major version, e.g. `15`.
    pub version: String,
    /// Database name.
    pub database: String,
    /// Owner role name.
    pub user: String,
    /// The role's password.
    pub password: String,
    /// Address listened on besides localhost.
    pub listen: String,
    /// Addresses of the app nodes allowed to connect.
    pub clients: Vec<String>,
}

inventory::submit! {
    dm_core::inventory::VarsTable {
        name: "postgres",
        read_by: "dm's dbserver role (launch)",
        check: |value| dm_core::inventory::VarsProblem::deserialize::<PostgresVars>(value)?.check(),
    }
}

impl PostgresVars {
    /// Refuses values that would change what pg_hba.conf or postgresql.conf say (they are
    /// written unquoted there: `database = "all all 0.0.0.0/0 trust #"` would admit anyone),
    /// naming the key.
    pub fn check(&self) -> Result<(), dm_core::inventory::VarsProblem> {
        use dm_core::inventory::VarsProblem;
        for (key, what, value) in [
            ("database", "the database name", &self.database),
            ("user", "the owner", &self.user),
        ] {
            if let Some(problem) = value
                .as_deref()
                .and_then(|name| psql::identifier_problem(what, name))
            {
                return Err(VarsProblem::at(&[key], problem));
            }
        }
        if let Some(problem) = self.listen.as_deref().and_then(listen_problem) {
            return Err(VarsProblem::at(&["listen"], problem));
        }
        if let Some(problem) = self.version.as_deref().and_then(version_problem) {
            return Err(VarsProblem::at(&["version"], problem));
        }
        Ok(())
    }

    /// The `postgres` variables of server `host` (defaults when it has none).
    pub fn of(host: &Host) -> anyhow::Result<PostgresVars> {
        match host.vars.get("postgres") {
            None => Ok(PostgresVars::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: variable `postgres` has the wrong shape: {e}",
                    host.name
                )
            }),
        }
    }

    /// The database name: `database`, else the server's `app.name`, else `app`.
    pub fn database_name(&self, host: &Host) -> String {
        self.database.clone().unwrap_or_else(|| {
            host.vars
                .get("app")
                .and_then(|app| app.get("name"))
                .and_then(|name| name.as_str())
                .unwrap_or("app")
                .to_string()
        })
    }

    /// The owner role: `user`, else the database name.
    pub fn user_name(&self, host: &Host) -> String {
        self.user
            .clone()
            .unwrap_or_else(|| self.database_name(host))
    }

    /// The password, from the secret `password_secret` names or from `password` (then masked in
    /// all output like a secret). `host` names the server whose variables these are.
    pub fn password(&self, ctx: &Ctx, host: &Host) -> anyhow::Result<String> {
        match (&self.password, &self.password_secret) {
            (Some(_), Some(_)) => anyhow::bail!(
                "{}: both postgres.password and postgres.password_secret are set; keep one \
                 (password_secret names a secret in secrets/<env>.age)",
                host.name
            ),
            (None, Some(secret)) => ctx
                .secret(secret)
                .with_context(|| format!("{}: postgres.password_secret = {secret:?}", host.name)),
            (Some(password), None) => {
                // A password written in the inventory is masked like a secret from here on.
                dm_core::redact::register(password);
                Ok(password.clone())
            }
            (None, None) => anyhow::bail!(
                "{}: no password for the database user: set postgres.password_secret to the name \
                 of a secret (`secrets set ENV postgres_password`), or postgres.password, in dm.toml",
                host.name
            ),
        }
    }
}

impl PostgresSettings {
    /// Reads the settings for `ctx`'s host from its variables, secrets, facts and inventory.
    ///
    /// Fails with a message saying which variable to set when no password is configured, or
    /// when both `password` and `password_secret` are.
    pub async fn from_ctx(ctx: &Ctx) -> anyhow::Result<PostgresSettings> {
        let host = ctx.host();
        let vars = PostgresVars::of(host)?;
        let password = vars.password(ctx, host)?;
        let version = match &vars.version {
            Some(version) => version.clone(),
            None => default_version(ctx).await?,
        };
        let clients = crate::roles::servers_with_role(ctx.inventory(), "appnode")
            .into_iter()
            .map(crate::private_address)
            .collect();
        let settings = PostgresSettings {
            version,
            database: vars.database_name(host),
            user: vars.user_name(host),
            password,
            listen: vars
                .listen
                .clone()
                .unwrap_or_else(|| crate::private_address(host)),
            clients,
        };
        settings
            .check()
            .map_err(|why| anyhow::anyhow!("{}: [vars.postgres]: {why}", host.name))?;
        Ok(settings)
    }

    /// The cluster's configuration directory, `/etc/postgresql/15/main`.
    pub fn config_dir(&self) -> String {
        format!("/etc/postgresql/{}/main", self.version)
    }

    /// The systemd unit of the cluster, `postgresql@15-main`.
    pub fn cluster_unit(&self) -> String {
        format!("postgresql@{}-main", self.version)
    }

    /// Refuses, before anything is written, values that would change what pg_hba.conf and
    /// postgresql.conf say: names that are not plain identifiers (the database defaults to
    /// `app.name`, which may hold `-`), addresses that are not addresses.
    pub fn check(&self) -> Result<(), String> {
        for (what, name) in [
            ("the database name", &self.database),
            ("the owner", &self.user),
        ] {
            if let Some(problem) = psql::identifier_problem(what, name) {
                return Err(problem);
            }
        }
        if let Some(problem) = listen_problem(&self.listen) {
            return Err(problem);
        }
        if let Some(problem) = version_problem(&self.version) {
            return Err(problem);
        }
        for client in &self.clients {
            dm_core::inventory::check_address(client)
                .map_err(|why| format!("app node address {why}"))?;
        }
        Ok(())
    }

    /// The whole `pg_hba.conf`.
    pub fn pg_hba(&self) -> String {
        let mut text = String::from(
            "# Managed by dm (dm_tasks::postgres): changes here are replaced on the next launch.\n\
             # TYPE  DATABASE  USER  ADDRESS  METHOD\n\
             local   all       postgres         peer\n\
             local   all       all              peer\n\
             host    all       all   127.0.0.1/32  scram-sha-256\n\
             host    all       all   ::1/128       scram-sha-256\n\
             # The app nodes.\n",
        );
        for client in &self.clients {
            text.push_str(&format!(
                "host    {}  {}  {}  scram-sha-256\n",
                self.database,
                self.user,
                host_mask(client)
            ));
        }
        text
    }

    /// The configuration drop-in: where to listen.
    pub fn listen_conf(&self) -> String {
        let addresses = if self.listen == "localhost" || self.listen.is_empty() {
            "localhost".to_string()
        } else {
            format!("localhost,{}", self.listen)
        };
        format!(
            "# Managed by dm (dm_tasks::postgres).\nlisten_addresses = '{addresses}'\n\
             password_encryption = 'scram-sha-256'\n"
        )
    }
}

/// What is wrong with `listen` (`localhost`, an IP address or a host name), if anything.
fn listen_problem(listen: &str) -> Option<String> {
    if listen == "localhost" {
        return None;
    }
    dm_core::inventory::check_address(listen)
        .err()
        .map(|why| format!("listen {why}"))
}

/// What is wrong with a major version (`15`), if anything.
fn version_problem(version: &str) -> Option<String> {
    let digits =
        !version.is_empty() && version.len() <= 3 && version.bytes().all(|b| b.is_ascii_digit());
    (!digits).then(|| format!("version {version:?} is not a major version such as \"15\""))
}

/// `10.0.0.5` → `10.0.0.5/32`, IPv6 → `/128`; host names are left as they are.
fn host_mask(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => format!("{address}/32"),
        Ok(std::net::IpAddr::V6(_)) => format!("{address}/128"),
        Err(_) => address.to_string(),
    }
}

/// The PostgreSQL version Debian ships for the host's release.
async fn default_version(ctx: &Ctx) -> anyhow::Result<String> {
    let facts = ctx.facts().await?;
    let version = match (facts.os.as_str(), facts.os_version.as_str()) {
        ("debian", "11") => "13",
        ("debian", "12") => "15",
        ("debian", "13") => "17",
        (os, release) => anyhow::bail!(
            "{}: no default PostgreSQL version known for {os} {release}; set postgres.version \
             in dm.toml (the major version its packages install, e.g. \"15\")",
            ctx.name()
        ),
    };
    Ok(version.to_string())
}

/// The `dbserver` role: PostgreSQL installed and running, listening on the private address,
/// the database and its user with the password, and only the app nodes allowed in.
///
/// Three steps (install; configure and run; database and user), so that each reads its facts
/// from a server in the state the previous one left. A second run changes nothing.
pub async fn dbserver(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = PostgresSettings::from_ctx(ctx).await?;
    let mut install = ctx.step();
    install.add(ops::Apt::present([
        format!("postgresql-{}", settings.version),
        format!("postgresql-client-{}", settings.version),
    ]));
    install.apply().await?;

    let dir = settings.config_dir();
    let unit = settings.cluster_unit();
    let mut configure = ctx.step();
    configure.add(
        ops::File::bytes(&format!("{dir}/conf.d/dm.conf"), settings.listen_conf())
            .owner("postgres")
            .group("postgres")
            .mode(0o644)
            .notify("restart-postgresql"),
    );
    configure.add(
        ops::File::bytes(&format!("{dir}/pg_hba.conf"), settings.pg_hba())
            .owner("postgres")
            .group("postgres")
            .mode(0o640)
            .notify("reload-postgresql"),
    );
    // `postgresql` is Debian's umbrella unit; the cluster runs as its own instance unit.
    configure.add(ops::Service::new("postgresql").enabled().running());
    configure.add(ops::Service::new(&unit).running());
    configure.reaction("reload-postgresql", ops::Service::new(&unit).reloaded());
    configure.reaction("restart-postgresql", ops::Service::new(&unit).restarted());
    configure.apply().await?;

    let mut database = ctx.step();
    database.add(Role::new(&settings.user, &settings.password));
    database.add(Database::new(&settings.database, &settings.user));
    database.apply().await?;
    Ok(())
}

/// The libpq service file for an app node: how to reach `db`'s database, with the password.
pub fn service_file(
    service: &str,
    address: &str,
    database: &str,
    user: &str,
    password: &str,
) -> String {
    format!(
        "# Managed by dm (dm_tasks::postgres::client): the app's database connection.\n\
         [{service}]\nhost={address}\nport=5432\ndbname={database}\nuser={user}\npassword={password}\n"
    )
}

/// On an app node: writes the connection to the inventory's database server (the first server
/// playing `dbserver`) as the libpq service file `APP_PATH/.pg_service.conf`, service
/// `app.name`, mode 0600 and owned by the app user (which must exist: the appnode recipe makes
/// it). Does nothing when the inventory has no database server.
pub async fn client(ctx: &Ctx) -> anyhow::Result<()> {
    let servers = crate::roles::servers_with_role(ctx.inventory(), "dbserver");
    let Some(db) = servers.first() else {
        return Ok(());
    };
    let vars = PostgresVars::of(db)?;
    let password = vars.password(ctx, db)?;
    let address = vars
        .listen
        .clone()
        .unwrap_or_else(|| crate::private_address(db));
    let app = crate::app::AppConfig::from_ctx(ctx)?;
    let text = service_file(
        &app.name,
        &address,
        &vars.database_name(db),
        &vars.user_name(db),
        &password,
    );
    let mut step = ctx.step();
    step.add(
        ops::File::bytes(&format!("{}/.pg_service.conf", app.path()), text)
            .owner(app.user())
            .mode(0o600),
    );
    step.apply().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(clients: &[&str], listen: &str) -> PostgresSettings {
        PostgresSettings {
            version: "15".into(),
            database: "shop".into(),
            user: "shop".into(),
            password: "pw".into(),
            listen: listen.into(),
            clients: clients.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn only_the_app_nodes_reach_the_database_over_the_network() {
        let hba = settings(&["10.0.0.11", "fd00::12", "app3.internal"], "10.0.0.13").pg_hba();
        assert!(
            hba.contains("host    shop  shop  10.0.0.11/32  scram-sha-256\n"),
            "{hba}"
        );
        assert!(
            hba.contains("host    shop  shop  fd00::12/128  scram-sha-256\n"),
            "{hba}"
        );
        assert!(
            hba.contains("host    shop  shop  app3.internal  scram-sha-256\n"),
            "{hba}"
        );
        let network: Vec<&str> = hba
            .lines()
            .filter(|l| l.starts_with("host") && !l.contains("127.0.0.1") && !l.contains("::1/128"))
            .collect();
        assert_eq!(network.len(), 3, "{hba}");
    }

    #[test]
    fn listens_on_localhost_and_the_private_address() {
        let conf = settings(&[], "10.0.0.13").listen_conf();
        assert!(
            conf.contains("listen_addresses = 'localhost,10.0.0.13'\n"),
            "{conf}"
        );
        let conf = settings(&[], "localhost").listen_conf();
        assert!(conf.contains("listen_addresses = 'localhost'\n"), "{conf}");
    }

    #[test]
    fn the_service_file_names_the_database_server() {
        let text = service_file("shop", "10.0.0.13", "shop", "shop_user", "pw");
        assert!(text.contains(
            "[shop]\nhost=10.0.0.13\nport=5432\ndbname=shop\nuser=shop_user\npassword=pw\n"
        ));
    }

    #[test]
    fn values_that_would_rewrite_pg_hba_are_refused_before_anything_is_written() {
        let mut bad = settings(&["10.0.0.11"], "10.0.0.13");
        bad.database = "all all 0.0.0.0/0 trust #".into();
        let why = bad.check().expect_err("an injected pg_hba line");
        assert!(why.contains("not a plain identifier"), "{why}");
        let mut bad = settings(&["10.0.0.11"], "10.0.0.13");
        bad.listen = "*' # ".into();
        assert!(bad.check().is_err());
        let bad = settings(&["10.0.0.11 trust"], "10.0.0.13");
        assert!(
            bad.check()
                .expect_err("client")
                .contains("app node address")
        );
        let mut bad = settings(&[], "localhost");
        bad.version = "15; rm".into();
        assert!(bad.check().is_err());
        assert_eq!(
            settings(&["10.0.0.11", "fd00::12"], "localhost").check(),
            Ok(())
        );
    }

    #[test]
    fn postgres_vars_are_checked_with_the_key_that_is_wrong() {
        let vars: PostgresVars = serde_json::from_value(serde_json::json!({
            "database": "all all 0.0.0.0/0 trust #",
        }))
        .expect("shape");
        let problem = vars.check().expect_err("refused");
        assert_eq!(problem.path, ["database"]);
        let vars: PostgresVars =
            serde_json::from_value(serde_json::json!({"listen": "0.0.0.0' ssl='off"}))
                .expect("shape");
        assert_eq!(vars.check().expect_err("refused").path, ["listen"]);
        let fine: PostgresVars =
            serde_json::from_value(serde_json::json!({"database": "shop", "listen": "10.0.0.5"}))
                .expect("shape");
        assert_eq!(fine.check(), Ok(()));
    }
}
