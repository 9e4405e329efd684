//! How to connect: the known_hosts policy, which keys to offer, timeouts and the channel cap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to do with a server whose host key is not in known_hosts.
///
/// A key that *differs* from the recorded one is refused under every policy: that is the case
/// host-key checking exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse servers whose key is not recorded (OpenSSH `StrictHostKeyChecking yes`).
    #[default]
    Strict,
    /// Record the key of a server seen for the first time, then go on
    /// (OpenSSH `StrictHostKeyChecking accept-new`).
    AcceptNew,
}

/// Asks the user for the passphrase of an encrypted private key.
///
/// dm asks at most once per key file and run: the decrypted key is kept in memory for the other
/// hosts, so a run on 50 hosts does not prompt 50 times.
pub trait Prompt: Send + Sync {
    /// The passphrase for `key`, or `None` if the user declines (the key is then skipped).
    fn passphrase(&self, key: &Path) -> Option<String>;
}

/// Everything [`Session::connect`](super::Session::connect) needs besides the [`Host`](crate::host::Host).
///
/// One value is meant to be shared by all hosts of a run.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The known_hosts file checked (and appended to under [`HostKeyPolicy::AcceptNew`]).
    pub known_hosts: PathBuf,
    /// Whether `known_hosts` was chosen for this run (`--known-hosts`, the inventory's
    /// `[defaults] known_hosts`): then it wins over a host's `UserKnownHostsFile` in ssh config,
    /// as `ssh -o` wins over the config file.
    pub known_hosts_given: bool,
    /// What to do with unknown host keys.
    pub host_key_policy: HostKeyPolicy,
    /// Key files from `-i`, tried before the host's own `identity_files`. When both are empty the
    /// default keys (`~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`) are tried; the agent comes last.
    pub extra_identity_files: Vec<PathBuf>,
    /// Whether to offer the keys of the ssh-agent at `SSH_AUTH_SOCK`.
    pub use_agent: bool,
    /// Time allowed for TCP connect, SSH handshake and authentication, per hop.
    pub connect_timeout: Duration,
    /// How often an idle connection is probed. A server that stops answering is given up after
    /// three intervals, so a dead host turns into an error instead of a hang.
    pub keepalive_interval: Duration,
    /// Per-connection cap on concurrent channels (commands). Further commands wait for a free
    /// slot. Keep it below the server's `MaxSessions` (OpenSSH default 10), which refuses more.
    pub max_channels: usize,
    /// Asks for passphrases of encrypted keys; `None` skips encrypted keys (the authentication
    /// error then says so).
    pub prompt: Option<Arc<dyn Prompt>>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            known_hosts: super::identity::ssh_dir().join("known_hosts"),
            known_hosts_given: false,
            host_key_policy: HostKeyPolicy::Strict,
            extra_identity_files: Vec::new(),
            use_agent: true,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            max_channels: 8,
            prompt: None,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("known_hosts", &self.known_hosts)
            .field("known_hosts_given", &self.known_hosts_given)
            .field("host_key_policy", &self.host_key_policy)
            .field("extra_identity_files", &self.extra_identity_files)
            .field("use_agent", &self.use_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("max_channels", &self.max_channels)
            .field("prompt", &self.prompt.as_ref().map(|_| "..."))
            .finish()
    }
}
