//! dm's errors: one enum, each variant with a message that says what went wrong, where, and what
//! to do about it.
//!
//! The error story, the same in every crate of dm:
//! - a function of the runtime or the standard library that fails returns [`Error`] (or its
//!   crate's own typed error that wraps it, like dm-providers'), whose message names the host,
//!   file or key and says what to do; the task context's accessors ([`crate::Ctx::var`],
//!   [`crate::Ctx::secret`]) as much as its commands and transfers;
//! - a task returns `anyhow::Result<()>`: `?` turns any of these into it, and `.context(...)`
//!   adds what the task was doing;
//! - a check of one value, or a helper, that does not know where the value came from (a server
//!   name, an address, a mode, a recipient, a table of settings, a secret's key) returns
//!   `Result<_, String>`: the reason alone, which its caller puts into the [`Error`] variant that
//!   names the place (the dm.toml line, the `-H` value, the task argument, the host). It never
//!   reaches a user without that place.

use std::path::PathBuf;

/// Everything that can go wrong in dm-core.
///
/// Messages name the file, line, host or task involved and say how to fix the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // -- inventory (dm.toml, ~/.ssh/config) --
    /// The inventory file could not be read.
    #[error("cannot read inventory {}: {source}", path.display())]
    InventoryRead {
        /// The inventory file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The inventory file is not valid: bad TOML, a wrong type, or a reference to something unknown.
    #[error("{}:{line}:{column}: {message}{}", path.display(), key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    InventoryInvalid {
        /// The inventory file.
        path: PathBuf,
        /// 1-based line of the offending item.
        line: usize,
        /// 1-based column of the offending item.
        column: usize,
        /// The dotted key of the offending item, e.g. `servers.appnode1.port`.
        key: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
    /// A host named on the command line is not in the inventory.
    #[error(
        "unknown host `{name}`: it is not a server in {inventory}{}",
        did_you_mean(suggestion)
    )]
    UnknownHost {
        /// The name given.
        name: String,
        /// Where servers are defined (the inventory path, or "the inventory (no dm.toml found)").
        inventory: String,
        /// The closest known server name.
        suggestion: Option<String>,
    },
    /// A server named on the command line is declared in the inventory with a provider but is
    /// not booted (for the run's environment).
    #[error(
        "{}: declared, not booted{} (run `{}boot {}`)",
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
        environment.as_ref().map(|e| format!(" for environment `{e}`")).unwrap_or_default(),
        environment.as_ref().map(|e| format!("-E {e} ")).unwrap_or_default(),
        names.join(" ")
    )]
    NotBooted {
        /// The servers.
        names: Vec<String>,
        /// The run's environment.
        environment: Option<String>,
    },
    /// A role named on the command line or by a task has no servers and is not defined.
    #[error(
        "unknown role `{name}`: no server in {inventory} has it{}",
        did_you_mean(suggestion)
    )]
    UnknownRole {
        /// The role given.
        name: String,
        /// Where servers are defined.
        inventory: String,
        /// The closest known role.
        suggestion: Option<String>,
    },
    /// The environment asked for (`-E`) is not defined in the inventory.
    #[error("unknown environment `{name}`: {inventory} defines {}", if known.is_empty() { "no environments".to_string() } else { known.join(", ") })]
    UnknownEnvironment {
        /// The environment given.
        name: String,
        /// Where environments are defined.
        inventory: String,
        /// The environments that exist.
        known: Vec<String>,
    },
    /// `~/.ssh/config` (or the file given) could not be read or parsed.
    #[error("cannot use ssh config {}: {message}", path.display())]
    SshConfig {
        /// The ssh config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `-H` value is written like an address (`[user@]host[:port]`) but cannot be parsed.
    #[error("invalid host `{spec}`: {message}; write it as [user@]host[:port]")]
    InvalidHost {
        /// The value given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },

    // -- tasks and the command line --
    /// No task has this name.
    #[error(
        "unknown task `{name}`{}; `--list` shows every task",
        did_you_mean(suggestion)
    )]
    UnknownTask {
        /// The name given.
        name: String,
        /// The closest task name.
        suggestion: Option<String>,
    },
    /// Neither the command line nor the task selects any host.
    #[error("task `{task}` selected no hosts: pass -H HOST or -R ROLE{}", if *has_inventory { "" } else { ", or write a dm.toml" })]
    NoHostsSelected {
        /// The task.
        task: String,
        /// Whether an inventory file was found.
        has_inventory: bool,
    },
    /// A command line given to [`crate::cli::run_args`] does not ask for a task run (bad flag or
    /// argument, `--help`, `--list`, no task).
    #[error("bad command line: {message}")]
    Usage {
        /// What clap or dm said about it.
        message: String,
    },

    /// A task argument has a value the task cannot use (e.g. `boot 'app;id'`: not a hostname).
    /// Nothing was done. Exit code 2, like any other bad command line.
    #[error("invalid {argument} `{value}`: {message}")]
    InvalidArgument {
        /// The argument, as the command line names it (`NAME`, `--branch`).
        argument: String,
        /// The value given.
        value: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A task was given a server that exists nowhere it looks (e.g. `destroy` of a name no
    /// provider booted). Nothing was done. Exit code 3, like an unknown host.
    #[error("unknown server `{name}`: {message}")]
    UnknownServer {
        /// The name given.
        name: String,
        /// Where it was looked for, and what to do.
        message: String,
    },

    /// A variable a task reads ([`crate::Ctx::var`]) is not set, or is not of the type asked for.
    #[error("{host}: {message}")]
    Variable {
        /// The host whose variables were read.
        host: String,
        /// The variable's (dotted) name, e.g. `app.port`.
        name: String,
        /// What is wrong and where to set it: `variable `app.port` is not set; set ...`.
        message: String,
    },
    /// A secret a task reads ([`crate::Ctx::secret`]) is not available.
    #[error("{host}: {message}")]
    Secret {
        /// The host the task ran on.
        host: String,
        /// The secret's (dotted) key.
        key: String,
        /// Why there is none and what to do.
        message: String,
    },

    // -- ssh --
    /// The TCP connection or SSH handshake failed or timed out.
    #[error("{host}: cannot connect to {destination}: {message}")]
    Connect {
        /// The host's name.
        host: String,
        /// `user@address:port`.
        destination: String,
        /// Why.
        message: String,
    },
    /// The server's host key is not in known_hosts and the policy is strict.
    #[error(
        "{host}: host key of {address} is not known ({fingerprint}).\n  \
         Check the fingerprint, then either add it to {} (ssh-keyscan -p {port} {address} >> {}) \
         or run once with --accept-new-host-keys to record it.",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyUnknown {
        /// The host's name.
        host: String,
        /// The address connected to.
        address: String,
        /// The SSH port.
        port: u16,
        /// SHA256 fingerprint of the key the server offered.
        fingerprint: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
    },
    /// The server's host key differs from the one recorded: possibly an attack. Always refused.
    #[error(
        "{host}: HOST KEY OF {address} HAS CHANGED ({fingerprint}); it does not match {}:{line}.\n  \
         Someone may be intercepting the connection. If the server was really reinstalled, remove \
         the old key (ssh-keygen -R {address} -f {}) and connect again.",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyChanged {
        /// The host's name.
        host: String,
        /// The address connected to.
        address: String,
        /// SHA256 fingerprint of the key the server offered.
        fingerprint: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// The line of the recorded key.
        line: usize,
    },
    /// The server's host key is marked `@revoked` in a known_hosts file: never accepted.
    #[error(
        "{host}: the host key {address} offered ({fingerprint}) is REVOKED in {}:{line}; dm \
         will not connect with it. The server must get a new host key.",
        known_hosts.display()
    )]
    HostKeyRevoked {
        /// The host's name.
        host: String,
        /// The address connected to.
        address: String,
        /// SHA256 fingerprint of the key the server offered.
        fingerprint: String,
        /// The known_hosts file with the `@revoked` line.
        known_hosts: PathBuf,
        /// The line.
        line: usize,
    },
    /// The server presented a host certificate that an authority trusted for it in known_hosts
    /// does not vouch for (wrong signer, expired, another host's, not a host certificate), and
    /// its key is not recorded on its own either. Always refused.
    #[error(
        "{host}: the host certificate {address} presented ({fingerprint}) is refused: {reason}.\n  \
         Have the server's host key signed for {address} by an authority listed in its \
         @cert-authority line (ssh-keygen -s CA -h -n {address} ...), or fix that line."
    )]
    HostCertificateRefused {
        /// The host's name.
        host: String,
        /// The address connected to.
        address: String,
        /// SHA256 fingerprint of the key inside the certificate.
        fingerprint: String,
        /// Why the certificate does not pass.
        reason: String,
    },
    /// No key, agent identity or password was accepted.
    #[error("{host}: authentication as `{user}` failed (tried: {}); add the key to the server's authorized_keys or pass -i KEYFILE", if tried.is_empty() { "no keys found".to_string() } else { tried.join(", ") })]
    Auth {
        /// The host's name.
        host: String,
        /// The login user.
        user: String,
        /// What was tried, e.g. `~/.ssh/id_ed25519`, `agent key ...`.
        tried: Vec<String>,
    },
    /// A private key file could not be loaded.
    #[error("cannot load private key {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The connection broke or the server refused a channel while a command ran.
    #[error("{host}: connection lost: {message}")]
    Disconnected {
        /// The host's name.
        host: String,
        /// What happened.
        message: String,
    },

    // -- commands and files --
    /// A command exited with a non-zero status.
    #[error("{host}: command failed with {status}: {command}{}", if stderr.trim().is_empty() { String::new() } else { format!("\n{}", stderr.trim_end()) })]
    Command {
        /// The host's name.
        host: String,
        /// The command as given by the task.
        command: String,
        /// `exit status 3` or `signal TERM`.
        status: String,
        /// The command's standard error (also streamed as it ran).
        stderr: String,
    },
    /// sudo needs a password and none was given.
    #[error(
        "{host}: sudo needs a password for `{user}`; run with --ask-sudo-pass (or set DM_SUDO_PASSWORD)"
    )]
    SudoPasswordNeeded {
        /// The host's name.
        host: String,
        /// The login user.
        user: String,
    },
    /// sudo refused the password given for the login user; it was tried once only, so that a
    /// lockout (`pam_faillock`) counts one failure, not sudo's three.
    #[error(
        "{host}: sudo refused the password for `{user}` (incorrect password; tried once, so that \
         an account lockout counts one failure): check DM_SUDO_PASSWORD or what --ask-sudo-pass \
         was given"
    )]
    SudoPasswordRefused {
        /// The host's name.
        host: String,
        /// The login user.
        user: String,
    },
    /// `ctx.env(key, ..)` was given a key that is not a shell variable name.
    #[error(
        "{host}: `{key}` is not a valid environment variable name: use letters, digits and _, not starting with a digit"
    )]
    InvalidEnvName {
        /// The host's name.
        host: String,
        /// The key as given.
        key: String,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    LocalIo {
        /// The local path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file transfer did not complete; nothing was left at the destination.
    #[error("{host}: transfer of {path} failed: {message}")]
    Transfer {
        /// The host's name.
        host: String,
        /// The remote path.
        path: String,
        /// Why.
        message: String,
    },
    /// The run was interrupted (Ctrl-C) before this host's work started or finished.
    #[error("interrupted")]
    Interrupted,

    // -- secrets --
    /// An environment has no secrets file (or no recipients file) yet.
    #[error("no secrets for environment `{environment}`: {} does not exist; create it with `secrets init {environment} --recipient KEY`", path.display())]
    SecretsMissing {
        /// The environment.
        environment: String,
        /// The file that is missing.
        path: PathBuf,
    },
    /// A secrets file or recipients file already exists where a new one was to be created.
    #[error("{} already exists; use `secrets edit`, `secrets set` or `secrets recipients` to change it", path.display())]
    SecretsExist {
        /// The existing file.
        path: PathBuf,
    },
    /// No private key to decrypt with was found.
    #[error(
        "cannot decrypt {}: no private key found (looked for {}); set DM_AGE_IDENTITY=FILE (an age key file or an SSH private key) or pass --identity-file FILE",
        path.display(), looked.join(", ")
    )]
    SecretsNoIdentity {
        /// The secrets file.
        path: PathBuf,
        /// The key files looked for.
        looked: Vec<String>,
    },
    /// None of the private keys tried is a recipient of the file.
    #[error(
        "cannot decrypt {}: none of the keys tried is one of its recipients (tried: {}).\n  \
         To be added, give your public key{} to someone who can decrypt it, and have them run \
         `secrets recipients {environment} add 'PUBLIC KEY'`; `secrets recipients {environment}` lists who can decrypt it now.",
        path.display(), tried.join("; "),
        if public_keys.is_empty() { String::new() } else { format!(" ({})", public_keys.join(" or ")) }
    )]
    SecretsWrongKey {
        /// The secrets file.
        path: PathBuf,
        /// The environment it belongs to.
        environment: String,
        /// The private keys tried, each with what it is.
        tried: Vec<String>,
        /// The public keys of the private keys tried, to hand to a recipient.
        public_keys: Vec<String>,
    },
    /// The secrets file is not a readable age file, or was altered after it was written.
    #[error(
        "{} is damaged and cannot be decrypted ({message}); it was left as it is: restore it from version control (e.g. `git checkout -- {}`)",
        path.display(), path.display()
    )]
    SecretsCorrupt {
        /// The secrets file.
        path: PathBuf,
        /// What is wrong, as far as age could tell.
        message: String,
    },
    /// The decrypted secrets are not valid: bad TOML, or a value that is not a string.
    ///
    /// The message never quotes the secrets themselves.
    #[error("{}:{line}:{column}: {message}", path.display())]
    SecretsInvalid {
        /// The secrets file (or the temporary copy being edited).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A recipient (public key) could not be parsed or used.
    #[error("{}: {message}", place)]
    SecretsRecipient {
        /// Where it was read: `secrets/production.recipients:3` or `--recipient`.
        place: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A private key file for decrypting secrets could not be used.
    #[error("cannot use {} to decrypt secrets: {message}", path.display())]
    SecretsIdentity {
        /// The key file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The editor failed or could not be started; the secrets file was not changed.
    #[error("editor `{editor}` {message}; {} was not changed", path.display())]
    SecretsEditor {
        /// The editor command (`$EDITOR`).
        editor: String,
        /// The secrets file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A `secrets` command was asked for something the store cannot do as it is.
    #[error("{message}")]
    SecretsRefused {
        /// What was refused, and what to do instead.
        message: String,
    },
}

impl Error {
    /// Whether this error refuses the run's input rather than reporting a failure of the work:
    /// a bad command line or argument (exit code 2), or an inventory that is wrong or does not
    /// know a name (exit code 3). `None` for everything else.
    pub fn refusal(&self) -> Option<crate::events::Refusal> {
        use crate::events::Refusal;
        match self {
            Error::UnknownTask { .. }
            | Error::NoHostsSelected { .. }
            | Error::Usage { .. }
            | Error::InvalidArgument { .. } => Some(Refusal::Usage),
            Error::InventoryRead { .. }
            | Error::InventoryInvalid { .. }
            | Error::UnknownHost { .. }
            | Error::UnknownRole { .. }
            | Error::UnknownEnvironment { .. }
            | Error::SshConfig { .. }
            | Error::InvalidHost { .. }
            | Error::UnknownServer { .. }
            | Error::NotBooted { .. } => Some(Refusal::Config),
            _ => None,
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The closest of `candidates` to `name`, if any is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn suggests_a_close_name() {
        assert_eq!(
            suggest("apnode1", ["appnode1", "lb1"]),
            Some("appnode1".into())
        );
    }

    #[test]
    fn suggests_nothing_for_a_distant_name() {
        assert_eq!(suggest("database", ["appnode1", "lb1"]), None);
    }
}
