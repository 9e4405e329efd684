//! The operator's SSH public keys, which every new server authorizes for root: the keys dm logs
//! in with, so the first run after `boot` needs no password and no manual step.

use std::path::{Path, PathBuf};
use std::process::Command;

use dm_core::inventory::Inventory;
use dm_core::ssh::ConnectOptions;

use crate::provision::same_key;

/// The public key lines (`ssh-ed25519 AAAA... comment`) to authorize on new servers, and notes
/// for the operator (a key pair that had to be generated). Keys: the `.pub` next to each `-i`
/// key and `[defaults] identity_file(s)`; when none is configured, `~/.ssh/id_ed25519.pub`
/// (or `id_ecdsa.pub`, `id_rsa.pub`), and when there is none of those either, a new ed25519
/// key pair at `~/.ssh/id_ed25519`, which dm then logs in with. The ssh-agent's keys (dm logs in
/// with them too) are authorized as well; with agent keys and no key file, nothing is generated.
pub async fn operator_public_keys(
    inventory: &Inventory,
    connect: &ConnectOptions,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let configured: Vec<PathBuf> = connect
        .extra_identity_files
        .iter()
        .cloned()
        .chain(inventory.default_identity_files())
        .collect();
    let mut notes = Vec::new();
    let agent = agent_keys(connect, &mut notes).await;
    let mut keys = Vec::new();
    if configured.is_empty() {
        let ssh_dir = home()?.join(".ssh");
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let private = ssh_dir.join(name);
            if public_path(&private).exists() || private.exists() {
                keys.push(public_key_of(&private)?);
            }
        }
        if keys.is_empty() && agent.is_empty() {
            let private = ssh_dir.join("id_ed25519");
            generate(&private)?;
            notes.push(format!(
                "you had no SSH key: generated {} (no passphrase; add one with `ssh-keygen -p -f {}`), \
                 authorized on the new servers",
                private.display(),
                private.display()
            ));
            keys.push(public_key_of(&private)?);
        }
    } else {
        for private in &configured {
            keys.push(public_key_of(private)?);
        }
    }
    keys.dedup();
    for key in agent {
        if !keys.iter().any(|k| same_key(k, &key)) {
            keys.push(key);
        }
    }
    Ok((keys, notes))
}

/// The ssh-agent's public keys when the run uses the agent; a note when it cannot be asked.
async fn agent_keys(connect: &ConnectOptions, notes: &mut Vec<String>) -> Vec<String> {
    if !connect.use_agent {
        return Vec::new();
    }
    dm_core::ssh::env_agent_public_keys()
        .await
        .unwrap_or_else(|e| {
            notes.push(format!(
                "{e}: its keys are not authorized on the new servers"
            ));
            Vec::new()
        })
}

/// The public key line of the private key at `private`: its `.pub`, else derived with
/// `ssh-keygen -y` (which works for keys without a passphrase).
fn public_key_of(private: &Path) -> anyhow::Result<String> {
    let public = public_path(private);
    if let Ok(text) = std::fs::read_to_string(&public)
        && let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty())
    {
        return Ok(line.to_string());
    }
    let output = Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f"])
        .arg(private)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run ssh-keygen to read the public key of {}: {e}",
                private.display()
            )
        })?;
    let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && !line.is_empty() {
        return Ok(line);
    }
    anyhow::bail!(
        "cannot find the public key of {}: {} does not exist and `ssh-keygen -y` failed ({}); \
         write it there with `ssh-keygen -y -f {} > {}`",
        private.display(),
        public.display(),
        String::from_utf8_lossy(&output.stderr).trim(),
        private.display(),
        public.display()
    )
}

/// Generates an ed25519 key pair without a passphrase at `private`.
fn generate(private: &Path) -> anyhow::Result<()> {
    if let Some(dir) = private.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let output = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "dm operator key",
            "-f",
        ])
        .arg(private)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run ssh-keygen to generate {}: {e}",
                private.display()
            )
        })?;
    if !output.status.success() {
        anyhow::bail!(
            "ssh-keygen could not generate {}: {}",
            private.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `PATH.pub`.
fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// The operator's home directory.
fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "HOME is not set, so dm cannot find your SSH key: set `identity_file` in the \
                 inventory's [defaults]"
            )
        })
}
