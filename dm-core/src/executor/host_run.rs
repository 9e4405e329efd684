//! Work on one host: connect, run the task (or a fan-out's work), and classify how it ended.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ctx::{Ctx, RunShared};
use crate::error::Error;
use crate::events::{Event, Outcome, Refusal};
use crate::host::Host;
use crate::operation::OpError;
use crate::ssh::Session;
use crate::task::TaskDef;

/// Connects to `host` and runs `task` there; never fails: every ending is an [`Outcome`].
pub(crate) async fn run_task_on_host(
    task: &'static TaskDef,
    host: Arc<Host>,
    matches: Arc<clap::ArgMatches>,
    shared: Arc<RunShared>,
) -> Done {
    let (connect, on_host) = (shared.connect.clone(), host.clone());
    let (connected, round_trips) = connected(&host, &connect, |session| async move {
        let ctx = Ctx::remote(on_host, session, shared);
        (task.run)(&ctx, &matches).await
    })
    .await;
    match connected {
        Ok(result) => Done {
            outcome: classify(&result),
            result,
            round_trips,
        },
        Err(e) => Done {
            outcome: connect_failure(&e),
            result: Err(anyhow::Error::new(e)),
            round_trips,
        },
    }
}

/// Connects to `host`, runs `work` over the connection and closes it. Returns the work's result
/// and the round trips it took, or why the connection failed.
pub(crate) async fn connected<W, Fut>(
    host: &Host,
    connect: &crate::ssh::ConnectOptions,
    work: W,
) -> (Result<anyhow::Result<()>, Error>, u64)
where
    W: FnOnce(Session) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let session = match Session::connect(host, connect).await {
        Ok(s) => s,
        Err(e) => return (Err(e), 0),
    };
    let result = work(session.clone()).await;
    let trips = session.round_trips();
    session.close().await;
    (Ok(result), trips)
}

/// Runs a `local` task once on the controlling machine, as the run's one "host", `local`.
pub(crate) async fn run_local(
    task: &'static TaskDef,
    matches: Arc<clap::ArgMatches>,
    shared: Arc<RunShared>,
) {
    let start = Instant::now();
    shared.events.send(Event::HostStarted {
        host: "local".to_string(),
    });
    let ctx = Ctx::local_machine(shared.clone());
    let outcome = tokio::select! {
        r = (task.run)(&ctx, &matches) => classify(&r),
        () = shared.interrupt.abort.cancelled() => interrupted_while_running().outcome,
    };
    finished(&shared, "local", outcome, start.elapsed(), 0, false);
}

/// How a host's work ended: its ending for the report, and the work's own result for a task
/// that fanned out.
pub(crate) struct Done {
    /// The ending, as the report shows it.
    pub(crate) outcome: Outcome,
    /// What the work returned (its connection's error when it could not connect).
    pub(crate) result: anyhow::Result<()>,
    /// SSH channels opened on the host.
    pub(crate) round_trips: u64,
}

/// The ending of a host abandoned by the second Ctrl-C.
pub(crate) fn interrupted_while_running() -> Done {
    let why = "interrupted while running";
    Done {
        outcome: Outcome::Failed(why.to_string()),
        result: Err(anyhow::anyhow!("{why}")),
        round_trips: 0,
    }
}

/// Tells the reporter how a host ended.
pub(crate) fn finished(
    shared: &RunShared,
    host: &str,
    outcome: Outcome,
    elapsed: Duration,
    round_trips: u64,
    fanned_out: bool,
) {
    shared.events.send(Event::HostFinished {
        host: host.to_string(),
        outcome,
        elapsed,
        round_trips,
        fanned_out,
    });
}

/// How a failed connection ends a host: a changed host key is [`Outcome::Untrusted`] (a
/// possible interception must not look like a network fault), anything else unreachable.
pub(crate) fn connect_failure(error: &Error) -> Outcome {
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
