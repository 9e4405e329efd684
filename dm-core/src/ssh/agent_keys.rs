//! The public keys an ssh-agent holds, as authorized_keys lines. dm logs in with them (after the
//! key files), so what it authorizes on servers must include them too: an operator whose keys
//! live only in an agent (a hardware key, a password manager's agent) is otherwise locked out
//! once `provision` turns root and passwords off.

use std::path::Path;

use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;

/// The public keys of the ssh-agent listening at `socket` (what `SSH_AUTH_SOCK` names), as
/// `TYPE BASE64 COMMENT` lines in the agent's order; certificates are left out. `Err` says why
/// the agent could not be asked (not running, refused the request).
pub async fn agent_public_keys(socket: &Path) -> Result<Vec<String>, String> {
    let mut agent = AgentClient::connect_uds(socket)
        .await
        .map_err(|e| format!("cannot reach the ssh-agent at {}: {e}", socket.display()))?;
    let identities = agent.request_identities().await.map_err(|e| {
        format!(
            "the ssh-agent at {} cannot list its keys: {e}",
            socket.display()
        )
    })?;
    let mut lines = Vec::new();
    for identity in identities {
        let AgentIdentity::PublicKey { key, comment } = identity else {
            continue;
        };
        let mut key = key.clone();
        key.set_comment(comment);
        match key.to_openssh() {
            Ok(line) => lines.push(line.trim().to_string()),
            Err(e) => {
                tracing::debug!(error = %e, "an agent key cannot be written as a public key line")
            }
        }
    }
    Ok(lines)
}

/// [`agent_public_keys`] of the agent in `SSH_AUTH_SOCK`; no keys when it is unset.
pub async fn env_agent_public_keys() -> Result<Vec<String>, String> {
    match std::env::var_os("SSH_AUTH_SOCK") {
        Some(socket) if !socket.is_empty() => agent_public_keys(Path::new(&socket)).await,
        _ => Ok(Vec::new()),
    }
}
