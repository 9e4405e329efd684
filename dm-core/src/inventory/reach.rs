//! How a host is reached: the inventory's own settings, then `[defaults]`, then `~/.ssh/config`,
//! then ssh's built-in defaults. The inventory wins over ssh config the way command-line options
//! beat ssh config for `ssh` itself; `HostName` always applies, since it says where an alias is.

use std::path::PathBuf;

use super::destination::Destination;
use super::operator;
use super::ssh_config::SshConfigFile;
use crate::error::Error;
use crate::host::{Host, Vars};

/// `[defaults]`, resolved: what every host gets unless its own entry says otherwise.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    /// Login user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<u16>,
    /// Private key files, `~` expanded.
    pub identity_files: Option<Vec<PathBuf>>,
}

/// What the inventory itself says about one host's connection (`None`: it says nothing).
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// The login user.
    pub user: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// Private key files.
    pub identity_files: Option<Vec<PathBuf>>,
}

/// Who decides a host's jump host.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Jump {
    /// The inventory says nothing: `~/.ssh/config`'s ProxyJump applies, if any.
    FromSshConfig,
    /// The inventory says `none`: connect directly.
    Direct,
    /// The inventory names the jump host.
    Via(Box<Host>),
}

/// Settings for reaching hosts: `[defaults]` and the ssh config, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reach {
    /// `[defaults]`.
    pub defaults: Defaults,
    /// The ssh config consulted, if any.
    pub ssh: Option<SshConfigFile>,
}

impl Reach {
    /// A host without its jump host: `address` is what the inventory (or `-H`) says to connect
    /// to, which is also what ssh config `Host` patterns match. Returns the ssh config's ProxyJump
    /// hops for the caller to follow if the inventory has no jump of its own.
    pub fn host(
        &self,
        name: &str,
        address: &str,
        settings: Settings,
        vars: Vars,
    ) -> (Host, Option<Vec<String>>) {
        let ssh = self
            .ssh
            .as_ref()
            .map(|s| s.query(address))
            .unwrap_or_default();
        let host = Host {
            name: name.to_string(),
            address: ssh.host_name.unwrap_or_else(|| address.to_string()),
            port: settings
                .port
                .or(self.defaults.port)
                .or(ssh.port)
                .unwrap_or(22),
            user: settings
                .user
                .or_else(|| self.defaults.user.clone())
                .or(ssh.user)
                .unwrap_or_else(operator::user_name),
            roles: Vec::new(),
            vars,
            identity_files: settings
                .identity_files
                .or_else(|| self.defaults.identity_files.clone())
                .or(ssh.identity_files)
                .unwrap_or_default(),
            proxy_jump: None,
            user_known_hosts: ssh.user_known_hosts,
            global_known_hosts: ssh.global_known_hosts,
        };
        (host, ssh.proxy_jump)
    }

    /// A host that is not an inventory server (`-H deploy@10.231.0.5:2222`, a `proxy_jump`
    /// address, an ssh config ProxyJump hop), named `name`, with `jump` deciding its jump host.
    pub fn address_host(
        &self,
        name: &str,
        dest: &Destination,
        vars: Vars,
        jump: Jump,
    ) -> Result<Host, Error> {
        let settings = Settings {
            user: dest.user.clone(),
            port: dest.port,
            identity_files: None,
        };
        let (mut host, hops) = self.host(name, &dest.host, settings, vars);
        host.proxy_jump = match jump {
            Jump::Via(via) => Some(via),
            Jump::Direct => None,
            Jump::FromSshConfig => self.ssh_jump(hops, &mut vec![dest.host.clone()])?,
        };
        Ok(host)
    }

    /// The jump host for ssh config ProxyJump `hops`, as ssh chains them: the first hop is reached
    /// first (through its own ProxyJump, if it has one), each later hop through the one before,
    /// and the last hop is the one the target is reached through. `seen` holds the hosts on the
    /// way here, to refuse a loop instead of recursing forever.
    pub fn ssh_jump(
        &self,
        hops: Option<Vec<String>>,
        seen: &mut Vec<String>,
    ) -> Result<Option<Box<Host>>, Error> {
        let Some(hops) = hops else {
            return Ok(None);
        };
        let mut previous: Option<Box<Host>> = None;
        for (i, hop) in hops.iter().enumerate() {
            let dest = Destination::parse(hop)
                .map_err(|e| self.ssh_error(format!("ProxyJump `{hop}`: {e}")))?;
            if seen.contains(&dest.host) {
                let mut chain = seen.clone();
                chain.push(dest.host.clone());
                return Err(self.ssh_error(format!(
                    "ProxyJump loop: {}; make one of these hosts connect directly (ProxyJump none)",
                    chain.join(" -> ")
                )));
            }
            let settings = Settings {
                user: dest.user.clone(),
                port: dest.port,
                identity_files: None,
            };
            let (mut host, own_hops) = self.host(hop, &dest.host, settings, Vars::new());
            host.proxy_jump = if i == 0 {
                seen.push(dest.host.clone());
                let jump = self.ssh_jump(own_hops, seen);
                seen.pop();
                jump?
            } else {
                previous
            };
            previous = Some(Box::new(host));
        }
        Ok(previous)
    }

    fn ssh_error(&self, message: String) -> Error {
        Error::SshConfig {
            path: self
                .ssh
                .as_ref()
                .map(|s| s.path().to_path_buf())
                .unwrap_or_default(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn reach(ssh: &str, defaults: Defaults) -> Reach {
        Reach {
            defaults,
            ssh: Some(SshConfigFile::parse(ssh, Path::new("ssh_config")).unwrap()),
        }
    }

    fn dest(text: &str) -> Destination {
        Destination::parse(text).unwrap()
    }

    #[test]
    fn ssh_config_fills_what_nothing_else_sets() {
        let r = reach(
            "Host web\n  HostName 10.231.0.7\n  User deploy\n  Port 2200\n  IdentityFile /keys/web\n",
            Defaults::default(),
        );
        let host = r
            .address_host("web", &dest("web"), Vars::new(), Jump::FromSshConfig)
            .unwrap();
        assert_eq!(host.address, "10.231.0.7");
        assert_eq!(host.user, "deploy");
        assert_eq!(host.port, 2200);
        assert_eq!(host.identity_files, vec![PathBuf::from("/keys/web")]);
    }

    #[test]
    fn defaults_and_destination_win_over_ssh_config() {
        let r = reach(
            "Host web\n  User deploy\n  Port 2200\n  IdentityFile /keys/web\n",
            Defaults {
                user: Some("admin".into()),
                port: None,
                identity_files: Some(vec![PathBuf::from("/keys/default")]),
            },
        );
        let host = r
            .address_host("web", &dest("web:2300"), Vars::new(), Jump::FromSshConfig)
            .unwrap();
        assert_eq!(host.user, "admin");
        assert_eq!(host.port, 2300);
        assert_eq!(host.identity_files, vec![PathBuf::from("/keys/default")]);
    }

    #[test]
    fn without_any_setting_the_local_user_and_port_22_are_used() {
        let r = Reach::default();
        let host = r
            .address_host(
                "10.231.0.9",
                &dest("10.231.0.9"),
                Vars::new(),
                Jump::FromSshConfig,
            )
            .unwrap();
        assert_eq!(host.user, operator::user_name());
        assert_eq!(host.port, 22);
        assert!(host.identity_files.is_empty());
        assert!(host.proxy_jump.is_none());
    }

    #[test]
    fn ssh_proxyjump_list_chains_each_hop_through_the_previous() {
        let r = reach(
            "Host web\n  ProxyJump a@gw1:2201,gw2\nHost gw1\n  HostName 10.231.0.1\n",
            Defaults::default(),
        );
        let host = r
            .address_host("web", &dest("web"), Vars::new(), Jump::FromSshConfig)
            .unwrap();
        let last = host.proxy_jump.unwrap();
        assert_eq!(last.address, "gw2");
        let first = last.proxy_jump.unwrap();
        assert_eq!(
            (first.user.as_str(), first.address.as_str(), first.port),
            ("a", "10.231.0.1", 2201)
        );
        assert!(first.proxy_jump.is_none());
    }

    #[test]
    fn ssh_proxyjump_loop_is_an_error_naming_the_loop() {
        let r = reach(
            "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n",
            Defaults::default(),
        );
        let err = r
            .address_host("a", &dest("a"), Vars::new(), Jump::FromSshConfig)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssh_config"), "{err}");
        assert!(err.contains("ProxyJump loop: a -> b -> a"), "{err}");
    }

    #[test]
    fn inventory_jump_beats_ssh_proxyjump() {
        let r = reach("Host web\n  ProxyJump gw\n", Defaults::default());
        let direct = r
            .address_host("web", &dest("web"), Vars::new(), Jump::Direct)
            .unwrap();
        assert!(direct.proxy_jump.is_none());
        let via = Host::new("bastion", "10.231.0.2");
        let jumped = r
            .address_host(
                "web",
                &dest("web"),
                Vars::new(),
                Jump::Via(Box::new(via.clone())),
            )
            .unwrap();
        assert_eq!(jumped.proxy_jump.as_deref(), Some(&via));
    }
}
