//! Work on one host: connect, run the task, and classify how it ended.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::HostResult;
use crate::ctx::{Ctx, RunShared};
use crate::error::Error;
use crate::events::{Event, Outcome, Refusal};
use crate::host::Host;
use crate::operation::OpError;
use crate::ssh::Session;
use crate::task::TaskDef;

/// Connects to `host` and runs `task` there; never fails: every ending is an [`Outcome`].
pub async fn run_on_host(
    task: &'static TaskDef,
    host: Arc<Host>,
    matches: Arc<clap::ArgMatches>,
    shared: Arc<RunShared>,
    abort: CancellationToken,
) -> HostResult {
    let start = Instant::now();
    let name = host.name.clone();
    shared
        .events
        .send(Event::HostStarted { host: name.clone() });
    let work = async {
        let session = match Session::connect(&host, &shared.connect).await {
            Ok(s) => s,
            Err(e) => return (connect_failure(&e), 0),
        };
        let ctx = Ctx::remote(host.clone(), session.clone(), shared.clone());
        let outcome = classify(&(task.run)(&ctx, &matches).await);
        let trips = session.round_trips();
        session.close().await;
        (outcome, trips)
    };
    let (outcome, round_trips) = tokio::select! {
        r = work => r,
        () = abort.cancelled() => (Outcome::Failed("interrupted while running".to_string()), 0),
    };
    finish(name, outcome, start, round_trips, &shared)
}

/// Runs a `local` task once on the controlling machine.
pub async fn run_local(
    task: &'static TaskDef,
    matches: Arc<clap::ArgMatches>,
    shared: Arc<RunShared>,
    abort: CancellationToken,
) -> HostResult {
    let start = Instant::now();
    shared.events.send(Event::HostStarted {
        host: "local".to_string(),
    });
    let ctx = Ctx::local_machine(shared.clone());
    let outcome = tokio::select! {
        r = (task.run)(&ctx, &matches) => classify(&r),
        () = abort.cancelled() => Outcome::Failed("interrupted while running".to_string()),
    };
    finish("local".to_string(), outcome, start, 0, &shared)
}

pub(crate) fn finish(
    host: String,
    outcome: Outcome,
    start: Instant,
    round_trips: u64,
    shared: &RunShared,
) -> HostResult {
    let elapsed = start.elapsed();
    shared.events.send(Event::HostFinished {
        host: host.clone(),
        outcome: outcome.clone(),
        elapsed,
        round_trips,
    });
    HostResult {
        host,
        outcome,
        elapsed,
        round_trips,
    }
}

/// How a failed connection ends a host: a changed host key is [`Outcome::Untrusted`] (a
/// possible interception must not look like a network fault), anything else unreachable.
fn connect_failure(error: &Error) -> Outcome {
    match error {
        Error::HostKeyChanged { .. }
        | Error::HostKeyRevoked { .. }
        | Error::HostCertificateRefused { .. } => Outcome::Untrusted(error.to_string()),
        _ => Outcome::Unreachable(error.to_string()),
    }
}

/// How a task's error ends its host, from the dm errors in its chain: a lost connection makes
/// the host unreachable, a changed host key (met by a task connecting on its own, e.g. `ssh`)
/// untrusted, a bad argument or unknown name a refusal; any other error is the task's failure.
pub(crate) fn classify(result: &anyhow::Result<()>) -> Outcome {
    let Err(e) = result else {
        return Outcome::Ok;
    };
    let message = format!("{e:#}");
    let causes: Vec<&Error> = e.chain().filter_map(dm_error).collect();
    let any = |wanted: fn(&Error) -> bool| causes.iter().any(|c| wanted(c));
    if any(|c| {
        matches!(
            c,
            Error::HostKeyChanged { .. }
                | Error::HostKeyRevoked { .. }
                | Error::HostCertificateRefused { .. }
        )
    }) {
        Outcome::Untrusted(message)
    } else if any(|c| matches!(c, Error::Disconnected { .. } | Error::Connect { .. })) {
        Outcome::Unreachable(message)
    } else if any(|c| c.refusal() == Some(Refusal::Usage)) {
        Outcome::Refused(Refusal::Usage, message)
    } else if any(|c| c.refusal() == Some(Refusal::Config)) {
        Outcome::Refused(Refusal::Config, message)
    } else {
        Outcome::Failed(message)
    }
}

/// The dm error a link of an error chain is or wraps. An operation's [`OpError::Run`] is
/// `#[error(transparent)]`: its `source()` skips the wrapped error, so the chain alone would
/// never show a connection lost inside `step.apply()`.
fn dm_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e Error> {
    if let Some(e) = cause.downcast_ref::<Error>() {
        return Some(e);
    }
    match cause.downcast_ref::<OpError>() {
        Some(OpError::Run(e)) => Some(e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> Error {
        Error::Disconnected {
            host: "app1".to_string(),
            message: "keepalive timed out".to_string(),
        }
    }

    #[test]
    fn connection_lost_inside_a_step_makes_the_host_unreachable() {
        // `OpError::Run` is transparent: its source() skips the wrapped error.
        let err = anyhow::Error::new(OpError::Run(lost())).context("applying the web step");
        assert!(
            matches!(classify(&Err(err)), Outcome::Unreachable(m) if m.contains("connection lost")),
        );
        assert!(matches!(
            classify(&Err(anyhow::Error::new(lost()))),
            Outcome::Unreachable(_)
        ));
    }

    #[test]
    fn a_changed_host_key_is_untrusted_not_unreachable() {
        let changed = Error::HostKeyChanged {
            host: "app1".to_string(),
            address: "10.231.0.5".to_string(),
            fingerprint: "SHA256:x".to_string(),
            known_hosts: "/root/.ssh/known_hosts".into(),
            line: 3,
        };
        assert!(matches!(connect_failure(&changed), Outcome::Untrusted(_)));
        assert!(matches!(
            classify(&Err(anyhow::Error::new(changed).context("ssh app1"))),
            Outcome::Untrusted(_)
        ));
        assert!(matches!(connect_failure(&lost()), Outcome::Unreachable(_)));
    }

    #[test]
    fn bad_arguments_and_unknown_names_are_refusals() {
        let unknown = Error::UnknownHost {
            name: "appnode1;id".to_string(),
            inventory: "dm.toml".to_string(),
            suggestion: None,
        };
        assert!(matches!(
            classify(&Err(anyhow::Error::new(unknown))),
            Outcome::Refused(Refusal::Config, _)
        ));
        let bad = Error::InvalidArgument {
            argument: "NAME".to_string(),
            value: "app;id".to_string(),
            message: "not a hostname".to_string(),
        };
        assert!(matches!(
            classify(&Err(anyhow::Error::new(bad))),
            Outcome::Refused(Refusal::Usage, _)
        ));
        assert!(matches!(
            classify(&Err(anyhow::anyhow!("the build failed"))),
            Outcome::Failed(_)
        ));
        assert_eq!(classify(&Ok(())), Outcome::Ok);
    }
}
