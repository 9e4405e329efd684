//! Fanning out from a task: running work on other hosts, in parallel, from inside a task.
//!
//! `scale appnode=3` boots servers and then provisions and launches them all at once; `provision
//! appnode2` may connect as another user than the inventory's. Such tasks run `local` (or on one
//! host) and start the per-host work themselves with [`Ctx::on_hosts`], which the dispatcher
//! starts like the run's own hosts.

use std::future::Future;
use std::sync::Arc;

use super::dispatcher::{Gate, start_hosts};
use super::host_run::{Done, classify, connected};
use crate::ctx::{Ctx, FanOutResult};
use crate::events::Event;
use crate::host::Host;

impl Ctx {
    /// Connects to every host in `hosts` and runs `work` there with that host's own context, all
    /// hosts at once (up to the run's `-p`); returns one result per host, in the order given.
    ///
    /// The contexts share this run's settings (known hosts, sudo password, `--check`) and see
    /// this context's inventory (see [`Ctx::with_inventory`]); their output is prefixed with
    /// their host's name like any task's, and the run's summary and `--json` report each host
    /// (once, also when the run's task ran there too). After the first Ctrl-C, hosts not started
    /// yet are skipped, with an error. A failing host never stops the others: check every result
    /// (e.g. with [`FanOutResult::all_ok`]).
    ///
    /// ```no_run
    /// # async fn launch_new(ctx: &dm_core::Ctx, new: Vec<dm_core::host::Host>) -> anyhow::Result<()> {
    /// let results = ctx
    ///     .on_hosts(new, |ctx| async move {
    ///         ctx.sudo("apt-get install -y nginx").await?;
    ///         Ok(())
    ///     })
    ///     .await;
    /// dm_core::ctx::FanOutResult::all_ok(results)?;
    /// # Ok(()) }
    /// ```
    pub async fn on_hosts<F, Fut>(&self, hosts: Vec<Host>, work: F) -> Vec<FanOutResult>
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shared = self.shared().clone();
        let hosts: Vec<Arc<Host>> = hosts.into_iter().map(Arc::new).collect();
        shared.events.send(Event::HostsAdded {
            hosts: hosts.iter().map(|h| h.name.clone()).collect(),
        });
        let work = Arc::new(work);
        let gate = Gate::fan_out(shared.parallel);
        let results = start_hosts(&hosts, &gate, &shared, true, |host, shared| {
            let (parent, work) = (self.clone(), work.clone());
            async move {
                let (connected, round_trips) = connected(&host, &shared.connect, |session| {
                    work(parent.for_session(host.clone(), session))
                })
                .await;
                // A fanned-out host's failed connection is classified like its work's error.
                let result = connected.unwrap_or_else(|e| Err(anyhow::Error::new(e)));
                Done {
                    outcome: classify(&result),
                    result,
                    round_trips,
                }
            }
        })
        .await;
        hosts
            .iter()
            .zip(results)
            .map(|(host, result)| FanOutResult {
                host: host.name.clone(),
                result,
            })
            .collect()
    }
}
