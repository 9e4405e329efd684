//! The operator's public keys, which dm authorizes where it will log in: for the administrator
//! `provision` creates ([`operator_keys`], what `admin.keys` defaults to) and for root on a server
//! `boot` creates ([`operator_public_keys`]), so that the next run needs no password and no manual
//! step. Which key files those are, and where their public halves lie, is dm-core's
//! [`identity`](dm_core::ssh::identity), the same that connecting uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use dm_core::Ctx;
use dm_core::inventory::Inventory;
use dm_core::ssh::ConnectOptions;
use dm_core::ssh::identity::{self, KeyFiles};

/// The public keys this run connects to `ctx`'s host with: of the identity files, and of the
/// ssh-agent (unless the run does not use it).
///
/// Fails, naming the files, when there is none (no readable `.pub` next to a key file, no agent
/// key): then the operator sets `admin.keys` instead.
pub async fn operator_keys(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let KeyFiles { files, defaults } = identity::key_files(
        &ctx.connect_options().extra_identity_files,
        &ctx.host().identity_files,
    );
    let mut keys: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for file in &files {
        let public = identity::public_key_path(file);
        match std::fs::read_to_string(&public) {
            Ok(text) => match identity::parse_public_key(&text) {
                Some(key) if !keys.contains(&key) => keys.push(key),
                Some(_) => {}
                None => problems.push(format!("{} is not an SSH public key", public.display())),
            },
            // Absent default keys are the normal case, as when connecting.
            Err(e) if defaults && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("cannot read {}: {e}", public.display())),
        }
    }
    if ctx.connect_options().use_agent {
        match dm_core::ssh::env_agent_public_keys().await {
            Ok(agent_keys) => add_agent_keys(&mut keys, agent_keys),
            Err(e) => problems.push(e),
        }
    }
    if keys.is_empty() {
        let tried: Vec<String> = files
            .iter()
            .map(|f| identity::public_key_path(f).display().to_string())
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

/// Adds the ssh-agent's keys to `keys`, but those that are there already (comments may differ).
fn add_agent_keys(keys: &mut Vec<String>, agent: Vec<String>) {
    for key in agent {
        if !keys.iter().any(|k| identity::same_key(k, &key)) {
            keys.push(key);
        }
    }
}

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
        for private in identity::default_key_files(&ssh_dir) {
            if identity::public_key_path(&private).exists() || private.exists() {
                keys.push(public_key_of(&private)?);
            }
        }
        if keys.is_empty() && agent.is_empty() {
            let private = ssh_dir.join(identity::DEFAULT_KEY_NAMES[0]);
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
    add_agent_keys(&mut keys, agent);
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
    let public = identity::public_key_path(private);
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

/// The operator's home directory.
fn home() -> anyhow::Result<PathBuf> {
    identity::home_dir().ok_or_else(|| {
        anyhow::anyhow!(
            "HOME is not set, so dm cannot find your SSH key: set `identity_file` in the \
             inventory's [defaults]"
        )
    })
}
