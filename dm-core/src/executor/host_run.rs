//! Work on one host: connect, run the task, and classify how it ended.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::HostResult;
use super::events::{Event, Outcome};
use crate::ctx::{Ctx, RunShared};
use crate::error::Error;
use crate::host::Host;
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
            Err(e) => return (Outcome::Unreachable(e.to_string()), 0),
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

/// A lost connection makes the host unreachable; any other error is the task's failure.
pub(crate) fn classify(result: &anyhow::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            let lost = e.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<Error>(),
                    Some(Error::Disconnected { .. } | Error::Connect { .. })
                )
            });
            let message = format!("{e:#}");
            if lost {
                Outcome::Unreachable(message)
            } else {
                Outcome::Failed(message)
            }
        }
    }
}
