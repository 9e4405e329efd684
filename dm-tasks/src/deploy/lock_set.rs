//! Deploy locks of several hosts held by one run, and the rule every writer of a load
//! balancer's configuration keeps: it holds that load balancer's deploy lock meanwhile.
//!
//! `deploy`, `rollback` and `restart-app` take the locks of their app nodes and of every load
//! balancer; `scale` takes the load balancers'; the load balancer's recipe (`launch`) and
//! `maintenance on|off` take their own host's. So a deploy draining a node and a `scale` or
//! `launch` rewriting the upstream never interleave (one would put the drained node back, or
//! lose the other's change): the second is refused, naming the holder, before it changes
//! anything. Several locks are always taken one host at a time in name order
//! ([`in_lock_order`]), so of two runs that need some of the same hosts, the first shared host
//! is taken by exactly one of them and the other is refused there, holding only hosts the winner
//! does not need (taken all at once, each could win some and both be refused).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use dm_core::Ctx;
use dm_core::ctx::FanOutResult;
use dm_core::host::Host;

use super::lock::{DeployLock, lock_dir};
use crate::app::AppConfig;

/// The deploy locks a run holds, by host.
#[derive(Debug, Default)]
pub(crate) struct HeldLocks(Mutex<BTreeMap<String, DeployLock>>);

impl HeldLocks {
    fn put(&self, host: &str, lock: DeployLock) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_string(), lock);
    }

    fn take(&self, host: &str) -> Option<DeployLock> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(host)
    }

    /// The hosts whose lock is held, by name.
    pub(crate) fn hosts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }
}

/// `hosts` each once, sorted by name: the one order in which every run takes its locks.
pub(crate) fn in_lock_order(mut hosts: Vec<Host>) -> Vec<Host> {
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    hosts.dedup_by(|a, b| a.name == b.name);
    hosts
}

/// Takes the deploy lock of every host of `hosts` (in [`in_lock_order`]) for `task`, runs
/// `work` with the locks held, and gives them back whatever the work did. When a host refuses
/// (another run holds its lock, or it is unreachable), the locks already taken are given back,
/// `work` does not run, and the error names the holder. `which` says in the refusal which
/// hosts the task locks (`its app nodes and the load balancers`).
pub(crate) async fn with_locks<Fut, T>(
    ctx: &Ctx,
    hosts: Vec<Host>,
    task: &'static str,
    which: &str,
    work: impl FnOnce(Arc<HeldLocks>) -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let hosts = in_lock_order(hosts);
    let locks = lock_all(ctx, &hosts, task, which).await?;
    let result = work(locks.clone()).await;
    let released = unlock_all(ctx, &hosts, &locks).await;
    let done = result?;
    released.map_err(|e| {
        e.context(format!(
            "{task} finished, but giving back its deploy locks failed"
        ))
    })?;
    Ok(done)
}

/// Takes the deploy lock of every host of `hosts` for `task`, one at a time in their order, or
/// none: when a host refuses, the locks already taken are given back and the error names the
/// holder.
async fn lock_all(
    ctx: &Ctx,
    hosts: &[Host],
    task: &'static str,
    which: &str,
) -> anyhow::Result<Arc<HeldLocks>> {
    let locks = Arc::new(HeldLocks::default());
    for host in hosts {
        let taking = locks.clone();
        let outcomes = ctx
            .on_hosts(vec![host.clone()], move |ctx| {
                let locks = taking.clone();
                async move {
                    let app = AppConfig::from_ctx(&ctx)?;
                    let dir = lock_dir(ctx.host(), &app);
                    let lock = DeployLock::acquire(&ctx, &dir, task).await?;
                    locks.put(ctx.name(), lock);
                    Ok(())
                }
            })
            .await;
        let Some((name, refused)) = outcomes
            .into_iter()
            .find_map(|o| o.result.err().map(|e| (o.host, e)))
        else {
            continue;
        };
        // The lock's own messages start with the host; others (unreachable) may not.
        let refused = format!("{refused:#}");
        let refused = if refused.starts_with(&name) {
            refused
        } else {
            format!("{name}: {refused}")
        };
        let released = unlock_all(ctx, hosts, &locks).await;
        let note = match released {
            Ok(()) => String::new(),
            Err(e) => format!("\n(giving back the locks taken failed too: {e:#})"),
        };
        anyhow::bail!(
            "{task} refused: {refused}\nnothing was changed on any host: {task} takes the deploy \
             lock of {which} ({}), one at a time in that order, before it changes anything{note}",
            hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(locks)
}

/// Gives back every lock of `locks` (each only if it is still this run's).
async fn unlock_all(ctx: &Ctx, hosts: &[Host], locks: &Arc<HeldLocks>) -> anyhow::Result<()> {
    let held = locks.hosts();
    let hosts: Vec<Host> = hosts
        .iter()
        .filter(|h| held.contains(&h.name))
        .cloned()
        .collect();
    if hosts.is_empty() {
        return Ok(());
    }
    let giving = locks.clone();
    let outcomes = ctx
        .on_hosts(hosts, move |ctx| {
            let locks = giving.clone();
            async move {
                match locks.take(ctx.name()) {
                    Some(lock) => lock.release(&ctx).await,
                    None => Ok(()),
                }
            }
        })
        .await;
    FanOutResult::all_ok(outcomes)
}

/// Runs `work` on `ctx`'s host holding that host's deploy lock for `task` (the lock a deploy
/// holds while it takes app nodes out of this load balancer): refused, naming the holder, and
/// without running `work`, while another run holds it. Under `--check` no lock is taken: a
/// holder is reported (the real run would be refused) and `work` runs (it changes nothing).
///
/// For work on the host's own load balancer configuration (its site, upstream or maintenance
/// flag), which must not interleave with a deploy or `scale` editing the upstream.
pub async fn with_deploy_lock<Fut, T>(
    ctx: &Ctx,
    task: &'static str,
    work: impl FnOnce() -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let app = AppConfig::from_ctx(ctx)?;
    let dir = lock_dir(ctx.host(), &app);
    if ctx.check_mode() {
        if let Some(holder) = DeployLock::holder_now(ctx, &dir).await? {
            ctx.log(format!(
                "check mode: the deploy lock {dir} is held by {holder}: {task} would be refused \
                 now"
            ));
        }
        return work().await;
    }
    let lock = DeployLock::acquire(ctx, &dir, task).await.map_err(|e| {
        e.context(format!(
            "{task} refused on {}: nothing was changed there (the load balancer's configuration \
             changes only under its deploy lock)",
            ctx.name()
        ))
    })?;
    let result = work().await;
    let released = lock.release(ctx).await;
    let done = result?;
    released.map_err(|e| {
        e.context(format!(
            "{}: {task} finished, but giving back the deploy lock {dir} failed",
            ctx.name()
        ))
    })?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_are_taken_in_name_order_each_host_once() {
        let hosts = ["lb1", "appnode2", "appnode1", "lb1", "db1"]
            .into_iter()
            .map(|name| Host::new(name, "10.0.0.1"))
            .collect();
        let names: Vec<String> = in_lock_order(hosts).into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["appnode1", "appnode2", "db1", "lb1"]);
    }
}
