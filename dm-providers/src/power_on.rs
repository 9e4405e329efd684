//! Powering a cloud server on (`Provider::start`), the same way for every cloud: look at the
//! server first, power it on only if it is off, and after a 5xx or a lost answer look again
//! before powering on again (powering on twice is harmless, but an API may refuse a second
//! action while the first is pending).

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::provider::{Server, ServerStatus};

/// The answer of a server action (`POST .../actions...`): 201 `{"action": {"id", "status", ...}}`
/// at Hetzner Cloud and DigitalOcean alike (only the fields dm logs).
#[derive(Debug, Deserialize)]
pub(crate) struct ActionAnswer {
    /// The action.
    pub(crate) action: Action,
}

/// An action the provider started.
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    /// Its id.
    pub(crate) id: u64,
    /// `running`, `in-progress`, `success`, ...
    pub(crate) status: String,
}

/// Powers a server on: `status` reads it, `power_on` sends the provider's power-on action.
/// Returns the server as `status` reads it afterwards (possibly still off or starting), or
/// right away when it runs or starts already. `provider` names the provider in logs.
pub(crate) async fn power_on<S, P>(
    provider: &str,
    retry: &RetryPolicy,
    status: impl Fn() -> S,
    power_on: impl Fn() -> P,
) -> Result<Server>
where
    S: Future<Output = Result<Server>>,
    P: Future<Output = Result<ActionAnswer>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let server = status().await?;
        if matches!(
            server.status,
            ServerStatus::Running | ServerStatus::Starting
        ) {
            tracing::debug!(provider, server = %server.name, status = %server.status, "server is not off; not powering it on");
            return Ok(server);
        }
        match power_on().await {
            Ok(answer) => {
                tracing::info!(provider, server = %server.name, action = answer.action.id, action_status = %answer.action.status, "server powering on");
                return status().await;
            }
            Err(e @ (Error::ServerError { .. } | Error::Transport { .. }))
                if attempt < retry.max_attempts =>
            {
                let wait = retry.backoff(attempt);
                tracing::warn!(provider, server = %server.name, error = %e, wait_ms = wait.as_millis() as u64, "power on failed; checking the server's status before trying again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}
