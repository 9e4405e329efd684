//! Following what a cloud does after it answers: Hetzner answers a delete or a power-on with an
//! action (`running` → `success` | `error`), DigitalOcean a power-on with an action
//! (`in-progress` → `completed` | `errored`) and a droplet delete with a bare 204, after which
//! the droplet disappears some time later. An answer only says the work was accepted; dm reports
//! a server destroyed or started once the API says the work is done, and a failed action as an
//! error, so a server that still exists (and is billed) is never dropped from the state file.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::ApiClient;
use crate::provider::Server;

/// The answer of a server action (`POST .../actions...`, Hetzner's `DELETE /servers/{id}`,
/// `GET /actions/{id}`): `{"action": {"id", "status", ...}}` at Hetzner Cloud and DigitalOcean
/// alike.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionAnswer {
    /// The action.
    pub(crate) action: Action,
}

/// An action the provider started (only the fields dm reads).
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    /// Its id.
    pub(crate) id: u64,
    /// `running`, `success`, `error` (Hetzner); `in-progress`, `completed`, `errored`
    /// (DigitalOcean).
    pub(crate) status: String,
    /// What it does: Hetzner's `command` (`delete_server`), DigitalOcean's `type` (`power_on`).
    #[serde(alias = "type", default)]
    pub(crate) command: String,
    /// Hetzner's `{code, message}` of a failed action; DigitalOcean gives none.
    #[serde(default)]
    pub(crate) error: Option<ActionError>,
}

/// Why an action failed, in the API's words.
#[derive(Debug, Deserialize)]
pub(crate) struct ActionError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

enum Phase {
    Running,
    Done,
    Failed,
}

fn phase(status: &str) -> Phase {
    match status {
        "success" | "completed" => Phase::Done,
        "error" | "errored" => Phase::Failed,
        // `running`, `in-progress`, and anything new: look again until the deadline.
        _ => Phase::Running,
    }
}

/// Follows `action` on `server` (`GET /actions/{id}` every [`crate::ActionWait::poll_interval`])
/// until the API says it succeeded; an action that fails is [`Error::ActionFailed`], one still
/// running at the deadline [`Error::ActionTimeout`]. Each look goes through the client, so a 429
/// waits as the API asks.
pub(crate) async fn follow(api: &ApiClient, server: &str, mut action: Action) -> Result<()> {
    let wait = api.action_wait();
    let started = Instant::now();
    loop {
        match phase(&action.status) {
            Phase::Done => {
                tracing::info!(server, action = %action.command, id = action.id, "action finished");
                return Ok(());
            }
            Phase::Failed => {
                let message = match &action.error {
                    Some(e) if !e.code.is_empty() => format!("\"{}\" ({})", e.message, e.code),
                    Some(e) => format!("\"{}\"", e.message),
                    None => format!("the API reports status `{}`", action.status),
                };
                return Err(Error::ActionFailed {
                    provider: api.provider(),
                    server: server.to_string(),
                    action: action.command,
                    id: action.id,
                    message,
                });
            }
            Phase::Running => {}
        }
        pause(started, wait.timeout, wait.poll_interval)
            .await
            .ok_or_else(|| Error::ActionTimeout {
                provider: api.provider(),
                server: server.to_string(),
                action: action.command.clone(),
                waited: started.elapsed(),
                last: format!("status `{}`", action.status),
            })?;
        let answer: ActionAnswer = api.get(&format!("/actions/{}", action.id), &[]).await?;
        // The kind is kept from the first answer should a later one leave it out.
        let command = std::mem::take(&mut action.command);
        action = answer.action;
        if action.command.is_empty() {
            action.command = command;
        }
    }
}

/// Looks at `server` (`look`: the provider's `GET` of it) until the API answers 404, for a delete
/// the API carries out later without an action to follow (DigitalOcean's droplet DELETE). Still
/// there at the deadline is [`Error::ActionTimeout`] with `what` as the action.
pub(crate) async fn until_gone<L, F>(
    api: &ApiClient,
    server: &str,
    what: &str,
    look: L,
) -> Result<()>
where
    L: Fn() -> F,
    F: Future<Output = Result<Server>>,
{
    let wait = api.action_wait();
    let started = Instant::now();
    loop {
        let last = match look().await {
            Err(e) if e.is_not_found() => {
                tracing::info!(server, action = what, "gone");
                return Ok(());
            }
            Err(e) => return Err(e),
            Ok(still) => format!("the API still reports it, status `{}`", still.status),
        };
        pause(started, wait.timeout, wait.poll_interval)
            .await
            .ok_or_else(|| Error::ActionTimeout {
                provider: api.provider(),
                server: server.to_string(),
                action: what.to_string(),
                waited: started.elapsed(),
                last,
            })?;
    }
}

/// Sleeps `interval` (less if the deadline comes first); `None` once `timeout` since `started`
/// has passed.
async fn pause(started: Instant, timeout: Duration, interval: Duration) -> Option<()> {
    let left = timeout.checked_sub(started.elapsed())?;
    if left.is_zero() {
        return None;
    }
    tokio::time::sleep(interval.min(left)).await;
    Some(())
}
