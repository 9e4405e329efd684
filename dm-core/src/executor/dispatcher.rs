//! The dispatcher: starts hosts within the parallel limit, and stops starting them on
//! `--fail-fast` or Ctrl-C. One loop starts every host: the run's own, batch by batch, and those
//! a task fans out to ([`crate::Ctx::on_hosts`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::RunPlan;
use super::host_run::{
    Done, classify, finished, interrupted_while_running, run_local, run_task_on_host,
};
use crate::ctx::{AfterAllHosts, AfterHostsWork, RunShared};
use crate::events::{Event, Outcome};
use crate::host::Host;

/// Runs `plan`: every host gets an ending, told to the reporter as an event, whatever happens to
/// the others.
pub async fn run(plan: &RunPlan, matches: Arc<clap::ArgMatches>, shared: Arc<RunShared>) {
    if plan.task.local {
        shared.events.send(Event::RunStarted {
            task: plan.task.name.to_string(),
            hosts: vec!["local".to_string()],
            local: true,
        });
        run_local(plan.task, matches, shared.clone()).await;
        after_all_hosts(&shared).await;
        return;
    }
    let batches = plan.batches();
    shared.events.send(Event::RunStarted {
        task: plan.task.name.to_string(),
        hosts: batches.iter().flatten().map(|h| h.name.clone()).collect(),
        local: false,
    });
    let gate = Gate {
        limit: Arc::new(Semaphore::new(plan.parallel.max(1))),
        fail_fast: plan.fail_fast.then(|| Arc::new(AtomicBool::new(false))),
    };
    let task = plan.task;
    for batch in batches {
        let matches = matches.clone();
        start_hosts(&batch, &gate, &shared, false, move |host, shared| {
            run_task_on_host(task, host, matches.clone(), shared)
        })
        .await;
    }
    after_all_hosts(&shared).await;
}

/// The point after every host finished (the run's own and those tasks fanned out to): runs the
/// work tasks left for it ([`crate::Ctx::after_all_hosts`]), one after the other in the order
/// asked, each in the context it was given, and tells the reporter how each ended. Nothing runs
/// once a second Ctrl-C abandoned the run.
pub(crate) async fn after_all_hosts(shared: &RunShared) {
    let pending = shared.run_state.get::<AfterAllHosts>();
    // Work may ask for more work: it runs too, after it.
    loop {
        let work = pending.take();
        if work.is_empty() {
            return;
        }
        for AfterHostsWork { name, ctx, work } in work {
            if shared.interrupt.abort.is_cancelled() {
                return;
            }
            let (host, start) = (ctx.name().to_string(), Instant::now());
            let outcome = tokio::select! {
                result = work(ctx) => classify(&result),
                () = shared.interrupt.abort.cancelled() => interrupted_while_running().outcome,
            };
            shared.events.send(Event::AfterAllHostsDone {
                host,
                name: name.to_string(),
                outcome,
                elapsed: start.elapsed(),
            });
        }
    }
}

/// What lets a host start: a slot within the parallel limit and, with `--fail-fast`, no host
/// having failed yet. (Ctrl-C, the run's [`crate::ctx::Interrupt`], stops every start.)
pub(crate) struct Gate {
    /// The slots: one per host running at once.
    pub(crate) limit: Arc<Semaphore>,
    /// With `--fail-fast`: whether a host failed.
    pub(crate) fail_fast: Option<Arc<AtomicBool>>,
}

impl Gate {
    /// The gate of a fan-out: its own `parallel` slots (never the slots of the host that fans
    /// out, which it holds while it waits), and no fail-fast (a failing host never stops the
    /// others: the task sees every host's result).
    pub(crate) fn fan_out(parallel: usize) -> Gate {
        Gate {
            limit: Arc::new(Semaphore::new(parallel.max(1))),
            fail_fast: None,
        }
    }
}

/// Starts `work` on each of `hosts` as `gate` lets them, and waits for all of them: the one loop
/// that starts hosts. A host that may not start (Ctrl-C, or `--fail-fast` after a failure) is
/// skipped; the second Ctrl-C abandons running ones. Every host's start and ending is sent as an
/// event (`fanned_out` says whether a task fanned out to it). Returns each host's result, in the
/// order of `hosts`.
pub(crate) async fn start_hosts<W, Fut>(
    hosts: &[Arc<Host>],
    gate: &Gate,
    shared: &Arc<RunShared>,
    fanned_out: bool,
    work: W,
) -> Vec<anyhow::Result<()>>
where
    W: Fn(Arc<Host>, Arc<RunShared>) -> Fut,
    Fut: Future<Output = Done> + Send + 'static,
{
    let mut running = JoinSet::new();
    for (index, host) in hosts.iter().cloned().enumerate() {
        let (limit, failed) = (gate.limit.clone(), gate.fail_fast.clone());
        let interrupt = shared.interrupt.clone();
        let shared = shared.clone();
        let work = work(host.clone(), shared.clone());
        running.spawn(async move {
            let permit = tokio::select! {
                p = limit.acquire_owned() => p.ok(),
                () = interrupt.stop_new.cancelled() => None,
            };
            let skip = if permit.is_none() || interrupt.stop_new.is_cancelled() {
                Some("interrupted before it started")
            } else if failed.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                Some("not started: another host failed and --fail-fast is set")
            } else {
                None
            };
            let start = Instant::now();
            let done = match skip {
                Some(why) => Done {
                    outcome: Outcome::Skipped(why.to_string()),
                    result: Err(anyhow::anyhow!("{why}")),
                    round_trips: 0,
                },
                None => {
                    shared.events.send(Event::HostStarted {
                        host: host.name.clone(),
                    });
                    tokio::select! {
                        done = work => done,
                        () = interrupt.abort.cancelled() => interrupted_while_running(),
                    }
                }
            };
            let elapsed = if skip.is_some() {
                Duration::ZERO
            } else {
                start.elapsed()
            };
            if let Some(failed) = &failed
                && !matches!(done.outcome, Outcome::Ok | Outcome::Skipped(_))
            {
                failed.store(true, Ordering::SeqCst);
            }
            drop(permit);
            finished(
                &shared,
                &host.name,
                done.outcome,
                elapsed,
                done.round_trips,
                fanned_out,
            );
            (index, done.result)
        });
    }
    let mut results: Vec<Option<anyhow::Result<()>>> = hosts.iter().map(|_| None).collect();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = Some(result),
            // A panicking host's work is that host's failure; the others go on.
            Err(e) => tracing::error!("a host's work panicked: {e}"),
        }
    }
    hosts
        .iter()
        .zip(results)
        .map(|(host, result)| {
            result.unwrap_or_else(|| {
                let panicked = "the task panicked";
                let outcome = Outcome::Failed(panicked.to_string());
                finished(shared, &host.name, outcome, Duration::ZERO, 0, fanned_out);
                Err(anyhow::anyhow!("{panicked}"))
            })
        })
        .collect()
}
