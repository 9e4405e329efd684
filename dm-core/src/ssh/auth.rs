//! Public-key authentication: key files (decrypted once per run), then the ssh-agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::{Algorithm, HashAlg};
use russh::keys::{self, PrivateKey, PrivateKeyWithHashAlg};

use super::host_keys::Client;
use super::identity::{self, KeyFiles};
use super::options::{ConnectOptions, Prompt};
use crate::error::Error;
use crate::host::Host;

/// What became of a key file this run. Kept for the whole process so that every host of a run
/// reuses a decrypted key and the user is asked for a passphrase at most once per file.
#[derive(Clone)]
enum KeyState {
    Loaded(Arc<PrivateKey>),
    Unusable(String),
}

static KEYS: Mutex<BTreeMap<PathBuf, KeyState>> = Mutex::new(BTreeMap::new());
/// Held while asking for a passphrase: hosts connecting in parallel wait for the one prompt
/// instead of each asking.
static PROMPTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cached(path: &Path) -> Option<KeyState> {
    KEYS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(path)
        .cloned()
}

fn remember(path: &Path, state: KeyState) {
    KEYS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_path_buf(), state);
}

/// Loads a key file, from the cache if it was loaded before. `Err` is a reason to skip the key.
async fn load_key(
    path: &Path,
    prompt: Option<&Arc<dyn Prompt>>,
) -> Result<Arc<PrivateKey>, String> {
    if let Some(state) = cached(path) {
        return match state {
            KeyState::Loaded(k) => Ok(k),
            KeyState::Unusable(why) => Err(why),
        };
    }
    let owned = path.to_path_buf();
    let first = tokio::task::spawn_blocking(move || keys::load_secret_key(&owned, None))
        .await
        .map_err(|e| format!("cannot load: {e}"))?;
    match first {
        Ok(key) => {
            let key = Arc::new(key);
            remember(path, KeyState::Loaded(key.clone()));
            Ok(key)
        }
        Err(keys::Error::KeyIsEncrypted) => match prompt {
            Some(prompt) => decrypt(path, prompt.clone()).await,
            None => Err(
                "encrypted, and no passphrase prompt is available: run interactively or add it \
                 to ssh-agent"
                    .to_string(),
            ),
        },
        Err(keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("not found".to_string())
        }
        Err(e) => {
            let why = format!("cannot load: {e}");
            remember(path, KeyState::Unusable(why.clone()));
            Err(why)
        }
    }
}

/// Asks for the passphrase of an encrypted key (once per run) and decrypts it.
async fn decrypt(path: &Path, prompt: Arc<dyn Prompt>) -> Result<Arc<PrivateKey>, String> {
    let _one_prompt_at_a_time = PROMPTING.lock().await;
    // Another host may have asked while we waited.
    if let Some(state) = cached(path) {
        return match state {
            KeyState::Loaded(k) => Ok(k),
            KeyState::Unusable(why) => Err(why),
        };
    }
    tracing::debug!(key = %path.display(), "asking for the key's passphrase");
    let owned = path.to_path_buf();
    let state = tokio::task::spawn_blocking(move || match prompt.passphrase(&owned) {
        None => KeyState::Unusable("encrypted, and no passphrase was given".to_string()),
        Some(passphrase) => match keys::load_secret_key(&owned, Some(&passphrase)) {
            Ok(key) => KeyState::Loaded(Arc::new(key)),
            Err(_) => KeyState::Unusable("wrong passphrase".to_string()),
        },
    })
    .await
    .unwrap_or_else(|e| KeyState::Unusable(format!("passphrase prompt failed: {e}")));
    remember(path, state.clone());
    match state {
        KeyState::Loaded(k) => Ok(k),
        KeyState::Unusable(why) => Err(why),
    }
}

/// Authenticates `handle` as `host.user`: key files first, then the agent.
///
/// Fails with [`Error::Auth`] listing everything tried (paths and fingerprints, never secrets).
pub(crate) async fn authenticate(
    handle: &mut Handle<Client>,
    host: &Host,
    opts: &ConnectOptions,
) -> Result<(), Error> {
    let mut tried: Vec<String> = Vec::new();
    let fail = |tried: Vec<String>| Error::Auth {
        host: host.name.clone(),
        user: host.user.clone(),
        tried,
    };
    let lost = |e: russh::Error| Error::Connect {
        host: host.name.clone(),
        destination: host.destination(),
        message: format!("connection lost during authentication: {e}"),
    };
    // `None` means the server does not tell; OpenSSH >= 8.8 refuses SHA-1, so SHA-2 is the safe guess.
    let rsa_hash = match handle.best_supported_rsa_hash().await {
        Ok(Some(hash)) => hash,
        Ok(None) => Some(HashAlg::Sha256),
        Err(e) => return Err(lost(e)),
    };

    let KeyFiles { files, defaults } =
        identity::key_files(&opts.extra_identity_files, &host.identity_files);
    for path in &files {
        let key = match load_key(path, opts.prompt.as_ref()).await {
            Ok(key) => key,
            // Absent default keys are the normal case, not worth listing.
            Err(why) if defaults && why == "not found" => continue,
            Err(why) => {
                tracing::debug!(host = %host.name, key = %path.display(), %why, "skipping key");
                tried.push(format!("{} ({why})", path.display()));
                continue;
            }
        };
        tracing::debug!(host = %host.name, key = %path.display(), "offering key file");
        let offered = PrivateKeyWithHashAlg::new(key, rsa_hash);
        match handle.authenticate_publickey(&host.user, offered).await {
            Ok(result) if result.success() => {
                tracing::debug!(host = %host.name, key = %path.display(), "authenticated");
                return Ok(());
            }
            Ok(_) => tried.push(format!("{} (refused)", path.display())),
            Err(e) => {
                tried.push(format!(
                    "{} (server closed the connection: {e})",
                    path.display()
                ));
                return Err(fail(tried));
            }
        }
    }

    if opts.use_agent {
        match agent(handle, host, rsa_hash, &mut tried).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(()) => return Err(fail(tried)),
        }
    }
    Err(fail(tried))
}

/// Offers the agent's keys. `Ok(true)` when one was accepted, `Err(())` when the connection is gone.
async fn agent(
    handle: &mut Handle<Client>,
    host: &Host,
    rsa_hash: Option<HashAlg>,
    tried: &mut Vec<String>,
) -> Result<bool, ()> {
    let mut agent = match AgentClient::connect_env().await {
        Ok(agent) => agent,
        // No agent configured: nothing to try, nothing worth listing.
        Err(keys::Error::EnvVar(_)) => return Ok(false),
        Err(e) => {
            tried.push(format!("ssh-agent ({e})"));
            return Ok(false);
        }
    };
    if let Some(binding) = handle.agent_session_binding() {
        // Needed by agents holding destination-constrained keys; older agents refuse it harmlessly.
        let _ = agent.bind_session(binding, false).await;
    }
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("ssh-agent (cannot list keys: {e})"));
            return Ok(false);
        }
    };
    if identities.is_empty() {
        tried.push("ssh-agent (no keys)".to_string());
    }
    for identity in identities {
        let AgentIdentity::PublicKey { key, comment } = identity else {
            continue;
        };
        let label = format!("agent key {} {}", key.fingerprint(HashAlg::Sha256), comment);
        let hash = if matches!(key.algorithm(), Algorithm::Rsa { .. }) {
            rsa_hash
        } else {
            None
        };
        tracing::debug!(host = %host.name, key = %label, "offering agent key");
        match handle
            .authenticate_publickey_with(&host.user, key, hash, &mut agent)
            .await
        {
            Ok(result) if result.success() => return Ok(true),
            Ok(_) => tried.push(format!("{} (refused)", label.trim_end())),
            Err(russh::AgentAuthError::Key(e)) => {
                tried.push(format!("{} (agent could not sign: {e})", label.trim_end()));
            }
            Err(russh::AgentAuthError::Send(_)) => {
                tried.push(format!(
                    "{} (server closed the connection)",
                    label.trim_end()
                ));
                return Err(());
            }
        }
    }
    Ok(false)
}
