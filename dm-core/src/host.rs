//! A host: one server dm connects to, as resolved from the inventory, `~/.ssh/config` and flags.

use std::fmt;
use std::path::PathBuf;

/// Free-form variables of a host (from the inventory's global, role, environment and server vars).
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// The variable `name` of `vars`: a key as written, else a dotted path into tables (`app.port`
/// is the `port` of the table `app`). `None` when neither exists.
pub fn lookup_var<'v>(vars: &'v Vars, name: &str) -> Option<&'v serde_json::Value> {
    if let Some(value) = vars.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = vars.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// One server, fully resolved: everything needed to connect to it and to run tasks on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The name the user knows it by (`appnode2`), or the address for an ad-hoc `-H` host.
    pub name: String,
    /// What to connect to: an IP address or DNS name (after `~/.ssh/config`'s `HostName`).
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Roles of this server (`appnode`, `loadbalancer`, ...).
    pub roles: Vec<String>,
    /// Variables for tasks and templates, merged from global, role, environment and server vars.
    pub vars: Vars,
    /// Private key files to try, in order, before the ssh-agent.
    pub identity_files: Vec<PathBuf>,
    /// The host to hop through (ProxyJump), itself fully resolved; chains nest.
    pub proxy_jump: Option<Box<Host>>,
    /// The user's known_hosts files for this host from ssh config's `UserKnownHostsFile` (new
    /// keys are recorded in the first); `None`: the run's known_hosts file. A known_hosts file
    /// given to dm (`--known-hosts`, the inventory's `[defaults] known_hosts`) wins over it.
    pub user_known_hosts: Option<Vec<PathBuf>>,
    /// The system-wide known_hosts files for this host from ssh config's
    /// `GlobalKnownHostsFile`; `None`: `/etc/ssh/ssh_known_hosts` and `ssh_known_hosts2`.
    pub global_known_hosts: Option<Vec<PathBuf>>,
}

impl Host {
    /// A host with defaults for everything but the address: root on port 22, no roles or vars.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Host {
        Host {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: "root".to_string(),
            roles: Vec::new(),
            vars: Vars::new(),
            identity_files: Vec::new(),
            proxy_jump: None,
            user_known_hosts: None,
            global_known_hosts: None,
        }
    }

    /// Whether this host has the given role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `user@address:port`, as shown in messages.
    pub fn destination(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(json: serde_json::Value) -> Vars {
        json.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn dotted_names_reach_into_tables() {
        let v = vars(serde_json::json!({"app": {"name": "shop", "db": {"port": 5432}}}));
        assert_eq!(lookup_var(&v, "app.name"), Some(&serde_json::json!("shop")));
        assert_eq!(
            lookup_var(&v, "app.db.port"),
            Some(&serde_json::json!(5432))
        );
        assert_eq!(lookup_var(&v, "app.missing"), None);
        assert_eq!(lookup_var(&v, "app.name.deeper"), None);
    }

    #[test]
    fn a_key_with_dots_wins_over_the_path() {
        let v = vars(serde_json::json!({"a.b": 1, "a": {"b": 2}}));
        assert_eq!(lookup_var(&v, "a.b"), Some(&serde_json::json!(1)));
    }
}
