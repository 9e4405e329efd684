//! The `admin` inventory table: who administers the server, and how it is set up.

use serde::Deserialize;

use dm_core::Ctx;

/// The `admin` variable of a server (a TOML table in dm.toml's `[vars]`, a role's or a server's
/// vars); every field has a default, so a server without `admin` is provisioned with them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// The administrator's login name (default `admin`): the account dm logs in as once root
    /// login is refused. Must not be `root`.
    pub user: String,
    /// Public keys (`authorized_keys` lines) that may log in as the administrator. Empty (the
    /// default) means the `.pub` of every identity file this run connects with.
    pub keys: Vec<String>,
    /// The time zone, a name under /usr/share/zoneinfo (default `UTC`).
    pub timezone: String,
    /// The system locale, `LANG` (default `en_US.UTF-8`).
    pub locale: String,
    /// Debian packages installed besides the base ones.
    pub packages: Vec<String>,
    /// TCP ports the firewall opens to everyone, besides SSH and what the server's roles need.
    pub ports: Vec<u16>,
}

impl Default for AdminSettings {
    fn default() -> AdminSettings {
        AdminSettings {
            user: "admin".to_string(),
            keys: Vec::new(),
            timezone: "UTC".to_string(),
            locale: "en_US.UTF-8".to_string(),
            packages: Vec::new(),
            ports: Vec::new(),
        }
    }
}

inventory::submit! {
    dm_core::inventory::VarsTable {
        name: "admin",
        read_by: "dm's provision task",
        check: |value| {
            let settings: AdminSettings = dm_core::inventory::VarsProblem::deserialize(value)?;
            settings
                .check()
                .map_err(|why| dm_core::inventory::VarsProblem::at(&[], why))
        },
    }
}

impl AdminSettings {
    /// The host's `admin` table (defaults when it has none), checked.
    pub fn of(ctx: &Ctx) -> anyhow::Result<AdminSettings> {
        let settings: AdminSettings = if ctx.vars().contains_key("admin") {
            ctx.var("admin")?
        } else {
            AdminSettings::default()
        };
        settings
            .check()
            .map_err(|why| anyhow::anyhow!("{}: variable `admin`: {why}", ctx.name()))?;
        Ok(settings)
    }

    /// Refuses values that would lock the operator out or that no server accepts, before
    /// anything is changed.
    fn check(&self) -> Result<(), String> {
        if self.user == "root" {
            return Err(
                "`user` is root, but provision refuses root logins: name another account, \
                 e.g. user = \"admin\""
                    .to_string(),
            );
        }
        let name_ok = !self.user.is_empty()
            && self.user.len() <= 32
            && self
                .user
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && self
                .user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
        if !name_ok {
            return Err(format!(
                "`user` {:?} is not a valid Debian user name: lower-case letters, digits, `_` and \
                 `-`, starting with a letter",
                self.user
            ));
        }
        let zone_ok = !self.timezone.is_empty()
            && !self.timezone.starts_with('/')
            && !self
                .timezone
                .split('/')
                .any(|part| part == ".." || part.is_empty())
            && self
                .timezone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
        if !zone_ok {
            return Err(format!(
                "`timezone` {:?} is not a time zone name such as UTC or Europe/Berlin",
                self.timezone
            ));
        }
        let locale_ok = !self.locale.is_empty()
            && self
                .locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
        if !locale_ok {
            return Err(format!(
                "`locale` {:?} is not a locale name such as en_US.UTF-8",
                self.locale
            ));
        }
        if let Some(bad) = self.packages.iter().find(|p| !package_name_ok(p)) {
            return Err(format!("`packages`: {bad:?} is not a Debian package name"));
        }
        if self.ports.contains(&0) {
            return Err("`ports`: 0 is not a TCP port".to_string());
        }
        Ok(())
    }
}

/// Debian policy's package names (lower case, digits, `+-.`), optionally with an architecture.
fn package_name_ok(name: &str) -> bool {
    let base = name.split_once(':').map_or(name, |(base, _arch)| base);
    base.len() >= 2
        && base
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && base
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<AdminSettings, String> {
        let settings: AdminSettings = serde_json::from_value(json).map_err(|e| e.to_string())?;
        settings.check().map(|()| settings)
    }

    #[test]
    fn an_empty_table_gets_every_default() {
        assert_eq!(parse(serde_json::json!({})), Ok(AdminSettings::default()));
    }

    #[test]
    fn root_as_administrator_is_refused() {
        let err = parse(serde_json::json!({"user": "root"})).expect_err("root");
        assert!(err.contains("refuses root logins"), "{err}");
    }

    #[test]
    fn odd_names_are_refused_before_reaching_a_server() {
        assert!(parse(serde_json::json!({"timezone": "../../etc/passwd"})).is_err());
        assert!(parse(serde_json::json!({"locale": "en_US.UTF-8; rm -rf /"})).is_err());
        assert!(parse(serde_json::json!({"packages": ["htop", "Bad Name"]})).is_err());
        assert!(parse(serde_json::json!({"user": "Admin"})).is_err());
        assert!(parse(serde_json::json!({"ports": [0]})).is_err());
        assert!(parse(serde_json::json!({"colour": "blue"})).is_err());
        assert!(
            parse(serde_json::json!({"timezone": "America/Argentina/Buenos_Aires", "packages": ["libc6:amd64"], "ports": [8080]}))
                .is_ok()
        );
    }
}
