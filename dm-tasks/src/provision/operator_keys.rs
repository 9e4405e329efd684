//! The operator's public keys: what `admin.keys` defaults to.
//!
//! dm offers, in order, the `-i` key files, then the host's `identity_file`s from the inventory
//! or `~/.ssh/config`, and only when both are empty the default keys `~/.ssh/id_ed25519`,
//! `id_ecdsa` and `id_rsa` (dm-core's `ssh::auth`), then the keys of the ssh-agent. The
//! administrator must accept the keys this run logs in with, so the default keys are the `.pub`
//! files next to those same files, and the agent's keys.

use std::path::{Path, PathBuf};

use dm_core::Ctx;

/// The default key files dm-core tries when no identity file is configured.
const DEFAULT_KEYS: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// The public keys this run connects to `ctx`'s host with: of the identity files, and of the
/// ssh-agent (unless the run does not use it).
///
/// Fails, naming the files, when there is none (no readable `.pub` next to a key file, no agent
/// key): then the operator sets `admin.keys` instead.
pub async fn operator_keys(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let configured: Vec<PathBuf> = ctx
        .shared()
        .connect
        .extra_identity_files
        .iter()
        .chain(&ctx.host().identity_files)
        .cloned()
        .collect();
    let (files, defaults) = if configured.is_empty() {
        let ssh_dir = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".ssh");
        (DEFAULT_KEYS.map(|name| ssh_dir.join(name)).to_vec(), true)
    } else {
        (configured, false)
    };
    let mut keys: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for file in &files {
        let public = public_path(file);
        match std::fs::read_to_string(&public) {
            Ok(text) => match parse_public_key(&text) {
                Some(key) if !keys.contains(&key) => keys.push(key),
                Some(_) => {}
                None => problems.push(format!("{} is not an SSH public key", public.display())),
            },
            // Absent default keys are the normal case, as when connecting.
            Err(e) if defaults && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("cannot read {}: {e}", public.display())),
        }
    }
    if ctx.shared().connect.use_agent {
        match dm_core::ssh::env_agent_public_keys().await {
            Ok(agent_keys) => {
                for key in agent_keys {
                    if !keys.iter().any(|k| same_key(k, &key)) {
                        keys.push(key);
                    }
                }
            }
            Err(e) => problems.push(e),
        }
    }
    if keys.is_empty() {
        let tried: Vec<String> = files
            .iter()
            .map(|f| public_path(f).display().to_string())
            .collect();
        let why = if problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", problems.join("; "))
        };
        anyhow::bail!(
            "{}: no public key for the administrator: looked for {}{why}; set `admin.keys` in \
             dm.toml to the public key line(s) that may log in as the administrator",
            ctx.name(),
            tried.join(", ")
        );
    }
    Ok(keys)
}

/// Whether two public key lines are the same key (type and blob; comments may differ).
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    fn type_and_blob(line: &str) -> Vec<&str> {
        line.split_whitespace().take(2).collect()
    }
    type_and_blob(a) == type_and_blob(b)
}

/// `KEY.pub` for the private key file `KEY`, as ssh-keygen names it.
fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The first line of a `.pub` file that looks like a public key (`TYPE BASE64 [COMMENT]`).
pub(super) fn parse_public_key(text: &str) -> Option<String> {
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
            public_path(Path::new("/home/a/.ssh/id_ed25519")),
            PathBuf::from("/home/a/.ssh/id_ed25519.pub")
        );
    }
}
