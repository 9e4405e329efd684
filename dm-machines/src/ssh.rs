//! How the harness itself reaches machines: the OpenSSH client, from outside, with the fleet key
//! and a known_hosts file of its own. Checking through a different SSH implementation than dm's
//! means a test does not trust the code it tests.
//!
//! The harness's known_hosts follows `dm_testing::Machine::regenerate_host_key`;
//! the fleet's public known_hosts (the one dm is pointed at) deliberately does not.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use super::command::{find_program, program};
use super::error::Error;
use super::known_hosts::write_host_keys;
use dm_core::shell_quote;

/// Seconds an SSH connection attempt may take before `ssh` gives up.
const CONNECT_TIMEOUT: u32 = 5;

/// The harness's SSH client settings for one fleet.
#[derive(Debug)]
pub struct SshAccess {
    key: PathBuf,
    known_hosts: PathBuf,
    entries: Mutex<BTreeMap<Ipv4Addr, String>>,
}

impl SshAccess {
    /// Access with the private key at `key`; the harness's known_hosts is written to `known_hosts`.
    pub fn new(key: PathBuf, known_hosts: PathBuf) -> SshAccess {
        SshAccess {
            key,
            known_hosts,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The options every harness `ssh` gets: no user or system configuration, only the fleet key,
    /// strict checking against the harness's known_hosts, never a prompt, and bounded waits.
    fn options(&self) -> Vec<OsString> {
        let mut options: Vec<OsString> = vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            self.key.clone().into(),
        ];
        let known_hosts = format!("UserKnownHostsFile={}", self.known_hosts.display());
        let connect_timeout = format!("ConnectTimeout={CONNECT_TIMEOUT}");
        for option in [
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "GlobalKnownHostsFile=/dev/null",
            &known_hosts,
            &connect_timeout,
            "ServerAliveInterval=5",
            "ServerAliveCountMax=3",
            "LogLevel=ERROR",
        ] {
            options.push("-o".into());
            options.push(option.into());
        }
        options
    }

    /// An `ssh` command to `user@address`; append the remote command.
    pub fn command(&self, user: &str, address: Ipv4Addr) -> Command {
        let mut ssh = program("ssh");
        ssh.args(self.options()).arg(format!("{user}@{address}"));
        ssh
    }

    /// An `ssh` command to `user@address` that connects through root@`jump` (the way a bastion is
    /// used); append the remote command.
    pub fn command_via(&self, user: &str, address: Ipv4Addr, jump: Ipv4Addr) -> Command {
        let ssh_path = find_program("ssh").unwrap_or_else(|| "ssh".into());
        let proxy: Vec<String> = std::iter::once(ssh_path.into_os_string())
            .chain(self.options())
            .chain(["-W".into(), "%h:%p".into(), format!("root@{jump}").into()])
            .map(|word| shell_quote(&word.to_string_lossy()))
            .collect();
        let mut ssh = program("ssh");
        ssh.args(self.options())
            .arg("-o")
            .arg(format!("ProxyCommand={}", proxy.join(" ")))
            .arg(format!("{user}@{address}"));
        ssh
    }

    /// Records `key_line` as the host key of `address` in the harness's known_hosts.
    pub fn set_host_key(&self, address: Ipv4Addr, key_line: &str) -> Result<(), Error> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(address, key_line.to_string());
        write_host_keys(&self.known_hosts, &entries)
    }
}
