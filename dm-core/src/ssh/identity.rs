//! The operator's SSH identity: the home it lives in, the key files dm logs in with, and where
//! their public halves are.
//!
//! One place, so that what dm connects with (`ssh::auth`), what `provision` authorizes for the
//! administrator and what `boot` authorizes for root on a new server are the same keys. The order
//! is ssh's: the `-i` key files, then the host's `identity_file`s (the inventory or
//! `~/.ssh/config`), and only when both are empty the default keys [`DEFAULT_KEY_NAMES`] in
//! `~/.ssh`; the ssh-agent's keys come last.

use std::path::{Path, PathBuf};

/// The private keys tried in `~/.ssh` when no key file is configured, in order (as `ssh` does).
pub const DEFAULT_KEY_NAMES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// The operator's home directory (`$HOME`), if set and not empty.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `~/.ssh`, from `$HOME` (falling back to the current directory when it is unset, as in a bare
/// container, so that paths in messages still make sense).
pub fn ssh_dir() -> PathBuf {
    home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".ssh")
}

/// The default key files in `ssh_dir`: [`DEFAULT_KEY_NAMES`], in order.
pub fn default_key_files(ssh_dir: &Path) -> Vec<PathBuf> {
    DEFAULT_KEY_NAMES.map(|name| ssh_dir.join(name)).to_vec()
}

/// The private key files dm offers to a host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The files: the configured ones, else the defaults.
    pub files: Vec<PathBuf>,
    /// Whether these are the default keys, of which an absent one is normal, not a problem.
    pub defaults: bool,
}

/// The key files to offer a host: the run's `-i` files (`given`, from
/// [`ConnectOptions::extra_identity_files`](super::ConnectOptions::extra_identity_files)), then the
/// host's own `identity_file`s (`host_files`), each once; when there is none, the default keys in
/// [`ssh_dir`].
pub fn key_files(given: &[PathBuf], host_files: &[PathBuf]) -> KeyFiles {
    let mut files: Vec<PathBuf> = Vec::new();
    for f in given.iter().chain(host_files) {
        if !files.contains(f) {
            files.push(f.clone());
        }
    }
    if files.is_empty() {
        return KeyFiles {
            files: default_key_files(&ssh_dir()),
            defaults: true,
        };
    }
    KeyFiles {
        files,
        defaults: false,
    }
}

/// `KEY.pub` for the private key file `KEY`, as ssh-keygen names it.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The first line of a `.pub` file that looks like a public key (`TYPE BASE64 [COMMENT]`).
pub fn parse_public_key(text: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|line| {
        let mut words = line.split_whitespace();
        let kind = words.next()?;
        let blob = words.next()?;
        let known_kind =
            kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
        let blob_ok = blob.len() >= 16
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        (known_kind && blob_ok).then(|| line.to_string())
    })
}

/// Whether two public key lines are the same key (type and blob; comments may differ).
pub fn same_key(a: &str, b: &str) -> bool {
    fn type_and_blob(line: &str) -> Vec<&str> {
        line.split_whitespace().take(2).collect()
    }
    type_and_blob(a) == type_and_blob(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pub_file_is_read_as_its_key_line() {
        let text = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5 alice@laptop\n";
        assert_eq!(
            parse_public_key(text).as_deref(),
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5 alice@laptop")
        );
        assert_eq!(
            parse_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            None
        );
        assert_eq!(parse_public_key(""), None);
    }

    #[test]
    fn a_key_from_a_file_and_from_the_agent_is_one_key_whatever_the_comments() {
        let file = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5 alice@laptop";
        assert!(same_key(
            file,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5 /home/alice/.ssh/id"
        ));
        assert!(same_key(file, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5"));
        assert!(!same_key(
            file,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr6 alice@laptop"
        ));
    }

    #[test]
    fn the_public_half_sits_next_to_the_private_key() {
        assert_eq!(
            public_key_path(Path::new("/home/a/.ssh/id_ed25519")),
            PathBuf::from("/home/a/.ssh/id_ed25519.pub")
        );
    }

    #[test]
    fn configured_files_come_once_before_the_defaults_are_considered() {
        let given: Vec<PathBuf> = vec!["/k/a".into(), "/k/b".into()];
        let files = key_files(&given, &["/k/b".into(), "/k/c".into()]);
        assert_eq!(
            files,
            KeyFiles {
                files: vec!["/k/a".into(), "/k/b".into(), "/k/c".into()],
                defaults: false,
            }
        );
        let defaults = key_files(&[], &[]);
        assert!(defaults.defaults);
        assert_eq!(defaults.files, default_key_files(&ssh_dir()));
    }
}
