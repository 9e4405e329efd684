//! The point after every host of a run finished: work a task leaves for the end of the run.
//!
//! A task that runs on many hosts sometimes has one thing to do for the whole run once all of them
//! are done: `launch` points DNS at the load balancers that launched. A task asks for it with
//! [`Ctx::after_all_hosts`]; the executor runs it once every host of the run has finished (the
//! hosts tasks fanned out to included), before the report is made, unless a second Ctrl-C
//! abandoned the run. Hooks at the end of a run stand on the same point.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use super::{Ctx, Target};

/// Work for after every host finished, as [`Ctx::after_all_hosts`] gave it.
type Work = Box<dyn FnOnce(Ctx) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send>;

/// The work this run's tasks left for after every host finished: one per run
/// ([`Ctx::run_state`]).
#[derive(Default)]
pub(crate) struct AfterAllHosts(Mutex<Pending>);

/// The names asked for in this run, and the work not run yet, in the order asked.
#[derive(Default)]
struct Pending {
    names: Vec<&'static str>,
    work: Vec<AfterHostsWork>,
}

/// One piece of work left for after every host finished.
pub(crate) struct AfterHostsWork {
    /// What it is called (each name runs once per run).
    pub(crate) name: &'static str,
    /// The context it runs in: the asking host's, on the controlling machine.
    pub(crate) ctx: Ctx,
    /// The work.
    pub(crate) work: Work,
}

impl AfterAllHosts {
    /// The work asked for and not taken yet, in the order asked.
    pub(crate) fn take(&self) -> Vec<AfterHostsWork> {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut pending.work)
    }
}

impl Ctx {
    /// Asks for `work` to run once for this run, after every host of it finished (the hosts
    /// tasks fanned out to included), e.g. to do something for all of them together: `launch`
    /// points DNS at the load balancers once they are all launched.
    ///
    /// `name` says what it is: the first ask of a name in a run counts, later ones of the same
    /// name are ignored (every host of a run may ask; it runs once). The work gets a context of
    /// this host that runs its commands on the controlling machine (the host's connection is
    /// closed by then: reach hosts with [`Ctx::on_hosts`]); its output is this host's, and so
    /// is its failure: a failing one makes this host's entry of the report failed. It does not
    /// run when a second Ctrl-C abandoned the run.
    ///
    /// ```no_run
    /// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
    /// ctx.after_all_hosts("notify", |ctx| async move {
    ///     ctx.log("every host is done");
    ///     Ok(())
    /// });
    /// # Ok(()) }
    /// ```
    pub fn after_all_hosts<F, Fut>(&self, name: &'static str, work: F)
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let pending = self.run_state::<AfterAllHosts>();
        let mut pending = pending.0.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.names.contains(&name) {
            return;
        }
        pending.names.push(name);
        let ctx = Ctx::new(
            self.host.clone(),
            Target::Local,
            self.shared.clone(),
            self.inventory.clone(),
        );
        pending.work.push(AfterHostsWork {
            name,
            ctx,
            work: Box::new(move |ctx| Box::pin(work(ctx))),
        });
    }
}
