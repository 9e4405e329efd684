//! The dispatcher: starts hosts batch by batch within the parallel limit, and stops starting them
//! on `--fail-fast` or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::host_run::{run_local, run_on_host};
use super::{HostResult, Plan};
use crate::ctx::RunShared;
use crate::events::{Event, EventSender, Outcome};

/// The two stages of an interruption: the first Ctrl-C stops new work and lets running hosts
/// finish; the second aborts them.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    /// No new host starts.
    pub stop_new: CancellationToken,
    /// Running hosts are abandoned.
    pub abort: CancellationToken,
}

impl Interrupt {
    /// Wires Ctrl-C to the two stages; returns the handle that the dispatcher watches.
    pub fn on_ctrl_c(events: EventSender) -> Interrupt {
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.stop_new.cancel();
                events.send(Event::Interrupted);
                if tokio::signal::ctrl_c().await.is_ok() {
                    handle.abort.cancel();
                }
            }
        });
        interrupt
    }
}

/// Runs `plan`: every host gets a result, in host order, whatever happens to the others.
pub async fn run(
    plan: &Plan,
    matches: Arc<clap::ArgMatches>,
    shared: Arc<RunShared>,
    interrupt: &Interrupt,
) -> Vec<HostResult> {
    if plan.task.local {
        shared.events.send(Event::RunStarted {
            task: plan.task.name.to_string(),
            hosts: vec!["local".to_string()],
        });
        return vec![run_local(plan.task, matches, shared, interrupt.abort.clone()).await];
    }
    let batches = plan.batches();
    shared.events.send(Event::RunStarted {
        task: plan.task.name.to_string(),
        hosts: batches.iter().flatten().map(|h| h.name.clone()).collect(),
    });
    let failed = Arc::new(AtomicBool::new(false));
    let limit = Arc::new(Semaphore::new(plan.parallel.max(1)));
    let mut results = Vec::new();
    for batch in batches {
        let mut running = JoinSet::new();
        for (index, host) in batch.iter().cloned().enumerate() {
            let (matches, shared, limit, failed) = (
                matches.clone(),
                shared.clone(),
                limit.clone(),
                failed.clone(),
            );
            let (stop_new, abort) = (interrupt.stop_new.clone(), interrupt.abort.clone());
            let (task, fail_fast) = (plan.task, plan.fail_fast);
            running.spawn(async move {
                let permit = tokio::select! {
                    p = limit.acquire_owned() => p.ok(),
                    () = stop_new.cancelled() => None,
                };
                let skip = if permit.is_none() || stop_new.is_cancelled() {
                    Some("interrupted before it started")
                } else if fail_fast && failed.load(Ordering::SeqCst) {
                    Some("not started: another host failed and --fail-fast is set")
                } else {
                    None
                };
                let result = match skip {
                    Some(why) => skipped(&host.name, why, &shared),
                    None => run_on_host(task, host, matches, shared, abort).await,
                };
                if !matches!(result.outcome, Outcome::Ok | Outcome::Skipped(_)) {
                    failed.store(true, Ordering::SeqCst);
                }
                drop(permit);
                (index, result)
            });
        }
        let mut batch_results: Vec<Option<HostResult>> = vec![None; batch.len()];
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((index, result)) => batch_results[index] = Some(result),
                // A panicking task is that host's failure; the others go on.
                Err(e) => tracing::error!("a host's task panicked: {e}"),
            }
        }
        for (host, result) in batch.iter().zip(batch_results) {
            results.push(result.unwrap_or_else(|| HostResult {
                host: host.name.clone(),
                outcome: Outcome::Failed("the task panicked".to_string()),
                elapsed: std::time::Duration::ZERO,
                round_trips: 0,
            }));
        }
    }
    results
}

fn skipped(host: &str, why: &str, shared: &RunShared) -> HostResult {
    let result = HostResult {
        host: host.to_string(),
        outcome: Outcome::Skipped(why.to_string()),
        elapsed: std::time::Duration::ZERO,
        round_trips: 0,
    };
    shared.events.send(Event::HostFinished {
        host: host.to_string(),
        outcome: result.outcome.clone(),
        elapsed: result.elapsed,
        round_trips: 0,
    });
    result
}
