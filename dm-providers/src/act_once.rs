//! Doing something to a cloud server that must not happen twice, the same way for every cloud and
//! every action: look first (maybe it is done already), act, and after a 5xx or a lost answer
//! look again before acting again. A create whose answer was lost would otherwise make a second
//! server (an API may accept two of the same name); a second power-on may be refused while the
//! first is pending.

use std::future::Future;

use crate::action::{Action, ActionAnswer};
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::provider::{Server, ServerStatus};

/// Acts on server `name` at most once in effect: `look` says whether the work is done already
/// (`Some(server)`: returned as it is), else `act` does it and returns the server. After a 5xx
/// or a transport error, waits as `retry` says and looks again. `what` names the action in logs.
pub(crate) async fn look_then_act<L, A>(
    what: &str,
    name: &str,
    retry: &RetryPolicy,
    look: impl Fn() -> L,
    act: impl Fn() -> A,
) -> Result<Server>
where
    L: Future<Output = Result<Option<Server>>>,
    A: Future<Output = Result<Server>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(done) = look().await? {
            tracing::info!(server = name, id = %done.id, status = %done.status, "{what}: nothing to do");
            return Ok(done);
        }
        match act().await {
            Ok(server) => {
                tracing::info!(server = name, id = %server.id, "{what}: done");
                return Ok(server);
            }
            Err(e @ (Error::ServerError { .. } | Error::Transport { .. }))
                if attempt < retry.max_attempts =>
            {
                let wait = retry.backoff(attempt);
                tracing::warn!(server = name, error = %e, wait_ms = wait.as_millis() as u64, "{what} failed; looking at the server again before trying again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Powers a server on: `status` reads it, `power_on` sends the provider's power-on action and
/// `follow` follows that action until the API says it finished (a failed action is an error). A
/// server that runs or starts already is returned as it is; else the server as `status` reads it
/// after the action (possibly still off or starting).
pub(crate) async fn power_on<S, P, F>(
    name: &str,
    retry: &RetryPolicy,
    status: impl Fn() -> S,
    power_on: impl Fn() -> P,
    follow: impl Fn(Action) -> F,
) -> Result<Server>
where
    S: Future<Output = Result<Server>>,
    P: Future<Output = Result<ActionAnswer>>,
    F: Future<Output = Result<()>>,
{
    let look = || async {
        let server = status().await?;
        Ok(matches!(
            server.status,
            ServerStatus::Running | ServerStatus::Starting
        )
        .then_some(server))
    };
    let act = || async {
        let answer = power_on().await?;
        tracing::debug!(server = name, action = answer.action.id, status = %answer.action.status, "power-on action");
        follow(answer.action).await?;
        status().await
    };
    look_then_act("power on", name, retry, look, act).await
}
