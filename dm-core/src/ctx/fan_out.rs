//! Fanning out from a task: running work on other hosts, in parallel, from inside a task.
//!
//! `scale appnode=3` boots servers and then provisions and launches them all at once; `provision
//! appnode2` may connect as another user than the inventory's. Such tasks run `local` (or on one
//! host) and start the per-host work themselves with [`Ctx::on_hosts`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Ctx, RunShared};
use crate::events::{Event, Outcome};
use crate::executor::HostResult;
use crate::executor::host_run::{classify, finish};
use crate::host::Host;
use crate::ssh::Session;

/// How the work on one host of [`Ctx::on_hosts`] ended.
#[derive(Debug)]
pub struct HostOutcome {
    /// The host's name.
    pub host: String,
    /// `Ok` when the work finished; the connection error or the work's own error otherwise.
    pub result: anyhow::Result<()>,
}

impl Ctx {
    /// Connects to every host in `hosts` and runs `work` there with that host's own context, all
    /// hosts at once; returns one outcome per host, in the order given.
    ///
    /// The contexts share this run's settings (known hosts, sudo password, `--check`) and see
    /// this context's inventory (see [`Ctx::with_inventory`]); their output is prefixed with
    /// their host's name like any task's, and the run's summary and `--json` report each host.
    /// A failing host never stops the others: check every outcome (e.g. with
    /// [`HostOutcome::all_ok`]).
    ///
    /// ```no_run
    /// # async fn launch_new(ctx: &dm_core::Ctx, new: Vec<dm_core::host::Host>) -> anyhow::Result<()> {
    /// let outcomes = ctx
    ///     .on_hosts(new, |ctx| async move {
    ///         ctx.sudo("apt-get install -y nginx").await?;
    ///         Ok(())
    ///     })
    ///     .await;
    /// dm_core::ctx::HostOutcome::all_ok(outcomes)?;
    /// # Ok(()) }
    /// ```
    pub async fn on_hosts<F, Fut>(&self, hosts: Vec<Host>, work: F) -> Vec<HostOutcome>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let work = Arc::new(work);
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        self.shared.events.send(Event::HostsAdded {
            hosts: names.clone(),
        });
        let mut running = JoinSet::new();
        for (index, host) in hosts.into_iter().enumerate() {
            let (parent, work) = (self.clone(), work.clone());
            running.spawn(async move {
                let shared = parent.shared.clone();
                let start = Instant::now();
                shared.events.send(Event::HostStarted {
                    host: host.name.clone(),
                });
                let host = Arc::new(host);
                let (result, round_trips) = match Session::connect(&host, &shared.connect).await {
                    Ok(session) => {
                        let ctx = parent.for_session(host.clone(), session.clone());
                        let result = work(ctx).await;
                        let trips = session.round_trips();
                        session.close().await;
                        (result, trips)
                    }
                    Err(e) => (Err(anyhow::Error::new(e)), 0),
                };
                let outcome = classify(&result);
                let finished = finish(host.name.clone(), outcome, start, round_trips, &shared);
                record(&shared, finished);
                (index, result)
            });
        }
        let mut results: Vec<Option<anyhow::Result<()>>> = names.iter().map(|_| None).collect();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                // A panic in one host's work is that host's failure; the others go on.
                Err(e) => tracing::error!("work on a host panicked: {e}"),
            }
        }
        names
            .into_iter()
            .zip(results)
            .map(|(host, result)| HostOutcome {
                result: result.unwrap_or_else(|| Err(anyhow::anyhow!("{host}: the work panicked"))),
                host,
            })
            .collect()
    }
}

/// Adds a fanned-out host's result to the run's, merged with an earlier one of the same host
/// (a task may fan out to a host twice, one after the other): times add up.
fn record(shared: &RunShared, result: HostResult) {
    let Ok(mut fanned) = shared.fanned_out.lock() else {
        return;
    };
    merge(&mut fanned, result, |earlier, later| earlier + later);
}

/// Adds the results of hosts a task fanned out to (`ctx.on_hosts`) to the run's own: a host that
/// also ran the task itself stays one entry (one host, counted once in the summary); its time is
/// the longer of the two, which overlap.
pub fn merge_fanned_out(results: &mut Vec<HostResult>, fanned: Vec<HostResult>) {
    for result in fanned {
        merge(results, result, Duration::max);
    }
}

/// Adds `result` to `results`, or merges it into the entry of the same host: the worse ending
/// wins, round trips add up, and `elapsed` says how the two times combine.
fn merge(
    results: &mut Vec<HostResult>,
    result: HostResult,
    elapsed: fn(Duration, Duration) -> Duration,
) {
    match results.iter_mut().find(|r| r.host == result.host) {
        Some(entry) => {
            entry.elapsed = elapsed(entry.elapsed, result.elapsed);
            entry.round_trips += result.round_trips;
            if entry.outcome == Outcome::Ok {
                entry.outcome = result.outcome;
            }
        }
        None => results.push(result),
    }
}

impl HostOutcome {
    /// `Ok` when every host's work finished; otherwise one error naming each failed host and why.
    pub fn all_ok(outcomes: Vec<HostOutcome>) -> anyhow::Result<()> {
        let failures: Vec<String> = outcomes
            .into_iter()
            .filter_map(|o| o.result.err().map(|e| format!("{}: {e:#}", o.host)))
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(anyhow::anyhow!(
            "{} host(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }

    /// This host's result, with the host's name in the error.
    pub fn into_result(self) -> anyhow::Result<()> {
        let host = self.host;
        self.result.map_err(|e| e.context(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(host: &str, outcome: Outcome, secs: u64, round_trips: u64) -> HostResult {
        HostResult {
            host: host.to_string(),
            outcome,
            elapsed: Duration::from_secs(secs),
            round_trips,
        }
    }

    #[test]
    fn a_host_that_ran_the_task_and_was_fanned_out_to_is_one_entry() {
        let mut results = vec![
            result("app1", Outcome::Ok, 10, 6),
            result("lb1", Outcome::Ok, 4, 3),
        ];
        let fanned = vec![
            result("app1", Outcome::Failed("x".into()), 1, 2),
            result("db1", Outcome::Ok, 2, 1),
        ];
        merge_fanned_out(&mut results, fanned);
        let hosts: Vec<&str> = results.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["app1", "lb1", "db1"]);
        assert_eq!(results[0].outcome, Outcome::Failed("x".into()));
        assert_eq!(results[0].round_trips, 8);
        assert_eq!(results[0].elapsed, Duration::from_secs(10));
    }
}
