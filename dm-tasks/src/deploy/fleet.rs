//! `deploy`, `rollback` and `restart-app` across the selected app nodes, keeping the fleet on
//! one version and every request answered.
//!
//! 1. Everything that can be checked without the hosts is (the revision, `app.repo`).
//! 2. The deploy lock is taken on every node and every load balancer before anything changes,
//!    one host at a time in name order ([`lock_order`]); when one refuses (another run holds
//!    it, or it is unreachable), the locks taken are given back and the run stops, having
//!    changed nothing anywhere, naming the holder.
//! 3. The work that does not touch the live release runs on all nodes at once (a deploy builds
//!    its release everywhere; a rollback finds its target everywhere). A failure anywhere, or
//!    nodes that disagree (a branch resolved to different commits, rollback targets of
//!    different commits), stops the run before anything goes live.
//! 4. The nodes go live one at a time behind the load balancers ([`super::rolling`]).
//! 5. The locks are given back, also when a step failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use dm_core::Ctx;
use dm_core::ctx::FanOutResult;
use dm_core::host::Host;

use super::deploy_app::{Built, activate, build_new_release, ensure_user, finish_release, short};
use super::host_releases::{self, list, release_revision};
use super::lock::{DeployLock, lock_dir};
use super::lock_set::{HeldLocks, in_lock_order, with_locks};
use super::rollback::{RolledBack, finish_rollback, plan_rollback};
use super::rolling::roll;
use super::source::Revision;
use crate::app::AppConfig;
use crate::roles::servers_with_role;
use crate::supervisor;

/// The hosts a fleet task works on: the selection (`-H`, `-R`, else the task's roles).
pub(crate) fn targets(ctx: &Ctx, task: &str) -> anyhow::Result<Vec<Host>> {
    let hosts: Vec<Host> = ctx
        .selected_hosts()
        .iter()
        .map(|h| h.as_ref().clone())
        .collect();
    anyhow::ensure!(
        !hosts.is_empty(),
        "{task}: no app node selected: the inventory has no server with role {} (or select \
         servers with -H / -R)",
        crate::roles::roles_playing("appnode").join(", ")
    );
    Ok(hosts)
}

/// The hosts whose deploy lock a run of `nodes` takes: those app nodes and every load balancer
/// of the inventory (whose upstream the run edits while a node is out), in the one lock order
/// ([`in_lock_order`]). (Two runs on different app nodes, `-H appnode1` and `-H appnode2`,
/// would otherwise both take their node out of the load balancers: an outage.)
fn lock_order(ctx: &Ctx, nodes: &[Host]) -> Vec<Host> {
    let mut hosts: Vec<Host> = nodes.to_vec();
    hosts.extend(
        servers_with_role(ctx.inventory(), "loadbalancer")
            .into_iter()
            .cloned(),
    );
    in_lock_order(hosts)
}

/// Runs `work` holding the deploy locks of `nodes` and of every load balancer (see
/// [`super::lock_set`]): refused, changing nothing anywhere, while another run holds one; the
/// locks are given back whatever the work did.
async fn locked<Fut>(
    ctx: &Ctx,
    nodes: &[Host],
    task: &'static str,
    work: impl FnOnce(Arc<HeldLocks>) -> Fut,
) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    with_locks(
        ctx,
        lock_order(ctx, nodes),
        task,
        "its app nodes and of the load balancers",
        work,
    )
    .await
}

/// The command line's choice of revision, resolved per node against its `app.branch`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wanted {
    /// `--branch`.
    pub(crate) branch: Option<String>,
    /// `--tag`.
    pub(crate) tag: Option<String>,
    /// `--commit`.
    pub(crate) commit: Option<String>,
}

impl Wanted {
    /// The node's app settings, its repository and the revision to deploy there.
    fn for_node(&self, host: &Host) -> anyhow::Result<(AppConfig, String, Revision)> {
        let app = AppConfig::of_host(host)?;
        let Some(repo) = app.repo.clone() else {
            anyhow::bail!(
                "{}: variable `app.repo` is not set: set it to a git URL or to a local repository \
                 directory",
                host.name
            );
        };
        let revision = Revision::choose(
            &app,
            self.branch.clone(),
            self.tag.clone(),
            self.commit.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", host.name))?;
        Ok((app, repo, revision))
    }
}

/// Deploys `wanted` to `nodes` (see the module docs): built everywhere, then live one node at
/// a time; nothing goes live unless every node built the same commit.
pub(crate) async fn deploy_fleet(ctx: &Ctx, nodes: &[Host], wanted: Wanted) -> anyhow::Result<()> {
    for node in nodes {
        let (app, repo, revision) = wanted.for_node(node)?;
        if ctx.check_mode() {
            ctx.log(format!(
                "check mode: would deploy {} of {repo} to {} ({})",
                revision.describe(),
                node.name,
                app.path()
            ));
        }
    }
    if ctx.check_mode() {
        return report_held_locks(ctx, nodes, "deploy").await;
    }
    let wanted = Arc::new(wanted);
    locked(ctx, nodes, "deploy", |held| async move {
        let built = build_everywhere(ctx, nodes, wanted.clone()).await?;
        let commits: Vec<&str> = built.values().map(|b| b.commit.as_str()).collect();
        ctx.log(format!(
            "deploy: commit {} built on {}; going live one node at a time",
            short(commits.first().copied().unwrap_or_default()),
            nodes
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let built = Arc::new(built);
        roll(ctx, nodes, &held, "deploy", move |ctx, health| {
            let (built, wanted) = (built.clone(), wanted.clone());
            async move {
                let (app, _, revision) = wanted.for_node(ctx.host())?;
                let Some(release) = built.get(ctx.name()).cloned() else {
                    anyhow::bail!("{}: no release was built", ctx.name());
                };
                let live = match activate(&ctx, &app, &release.name).await {
                    Ok(()) => health.wait(&ctx, &app).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = live {
                    let back = go_back(&ctx, &app, release.previous.as_deref(), health).await;
                    anyhow::bail!("release {} failed: {e:#}; {back}", release.name);
                }
                finish_release(&ctx, &app, &release, &revision).await?;
                Ok(())
            }
        })
        .await
    })
    .await
}

/// Builds the release on every node at once; the releases by node. When a build fails, or the
/// nodes built different commits, the releases built are removed and nothing went live.
async fn build_everywhere(
    ctx: &Ctx,
    nodes: &[Host],
    wanted: Arc<Wanted>,
) -> anyhow::Result<BTreeMap<String, Built>> {
    let built: Arc<Mutex<BTreeMap<String, Built>>> = Arc::default();
    let building = built.clone();
    let outcomes = ctx
        .on_hosts(nodes.to_vec(), move |ctx| {
            let (built, wanted) = (building.clone(), wanted.clone());
            async move {
                let (app, repo, revision) = wanted.for_node(ctx.host())?;
                ensure_user(&ctx, &app).await?;
                let release = build_new_release(&ctx, &app, &repo, &revision).await?;
                built
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(ctx.name().to_string(), release);
                Ok(())
            }
        })
        .await;
    let built = std::mem::take(&mut *built.lock().unwrap_or_else(PoisonError::into_inner));
    let failed = FanOutResult::all_ok(outcomes).err();
    let mut commits: Vec<String> = built
        .iter()
        .map(|(host, b)| format!("{host}: {}", b.commit))
        .collect();
    let agree = built
        .values()
        .all(|b| Some(&b.commit) == built.values().next().map(|f| &f.commit));
    if failed.is_none() && agree {
        return Ok(built);
    }
    let removed = remove_releases(ctx, nodes, &built).await;
    let why = match failed {
        Some(e) => format!("{e:#}"),
        None => {
            commits.sort();
            format!(
                "the nodes resolved the revision to different commits ({}): the repository \
                 changed during the deploy; deploy again, or deploy one commit with --commit",
                commits.join(", ")
            )
        }
    };
    anyhow::bail!("deploy stopped before any node went live: {why}\n{removed}")
}

/// Removes the releases `built` (none of them live); says what it did.
async fn remove_releases(ctx: &Ctx, nodes: &[Host], built: &BTreeMap<String, Built>) -> String {
    if built.is_empty() {
        return "no release was left behind".to_string();
    }
    let hosts: Vec<Host> = nodes
        .iter()
        .filter(|h| built.contains_key(&h.name))
        .cloned()
        .collect();
    let names: Arc<BTreeMap<String, String>> = Arc::new(
        built
            .iter()
            .map(|(host, b)| (host.clone(), b.name.clone()))
            .collect(),
    );
    let outcomes = ctx
        .on_hosts(hosts, move |ctx| {
            let names = names.clone();
            async move {
                let app = AppConfig::from_ctx(&ctx)?;
                if let Some(name) = names.get(ctx.name()) {
                    host_releases::remove_releases(&ctx, &app, std::slice::from_ref(name)).await?;
                }
                Ok(())
            }
        })
        .await;
    match FanOutResult::all_ok(outcomes) {
        Ok(()) => format!(
            "the releases built were removed ({})",
            built
                .iter()
                .map(|(host, b)| format!("{host}: {}", b.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => format!("removing the releases built failed: {e:#}"),
    }
}

/// After a release failed to go live on a node: puts `previous` back live and checks it;
/// says what happened.
async fn go_back(
    ctx: &Ctx,
    app: &AppConfig,
    previous: Option<&str>,
    health: super::rolling::Health,
) -> String {
    let Some(previous) = previous else {
        return "there is no earlier release to go back to".to_string();
    };
    let back = match activate(ctx, app, previous).await {
        Ok(()) => health.wait(ctx, app).await,
        Err(e) => Err(e),
    };
    match back {
        Ok(()) => format!("went back to release {previous}, which answers"),
        Err(e) => format!("going back to release {previous} failed too: {e:#}"),
    }
}

/// Where each of `nodes` would roll back to (reads only); fails, saying `stop`, when a node has
/// nothing to roll back to or the nodes would go back to different commits.
async fn plan_everywhere(
    ctx: &Ctx,
    nodes: &[Host],
    stop: &str,
) -> anyhow::Result<BTreeMap<String, RolledBack>> {
    let plans: Arc<Mutex<BTreeMap<String, RolledBack>>> = Arc::default();
    let planning = plans.clone();
    let outcomes = ctx
        .on_hosts(nodes.to_vec(), move |ctx| {
            let plans = planning.clone();
            async move {
                let app = AppConfig::from_ctx(&ctx)?;
                let plan = plan_rollback(&ctx, &app).await?;
                plans
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(ctx.name().to_string(), plan);
                Ok(())
            }
        })
        .await;
    FanOutResult::all_ok(outcomes).map_err(|e| e.context(stop.to_string()))?;
    let plans = std::mem::take(&mut *plans.lock().unwrap_or_else(PoisonError::into_inner));
    let first = plans.values().next().map(|p| p.commit.clone());
    if plans.values().any(|p| Some(&p.commit) != first.as_ref()) {
        let targets: Vec<String> = plans
            .iter()
            .map(|(host, p)| format!("{host}: release {} commit {}", p.to, p.commit))
            .collect();
        anyhow::bail!(
            "{stop}: the nodes would go back to different commits ({}), leaving the fleet on two \
             versions; deploy one commit to all of them instead (`deploy --commit SHA`)",
            targets.join(", ")
        );
    }
    Ok(plans)
}

/// Under `--check`: says, for every host whose deploy lock a run of `task` on `nodes` would
/// take, who holds it now (the run would be refused). Reads only.
async fn report_held_locks(ctx: &Ctx, nodes: &[Host], task: &'static str) -> anyhow::Result<()> {
    let outcomes = ctx
        .on_hosts(lock_order(ctx, nodes), move |ctx| async move {
            let app = AppConfig::from_ctx(&ctx)?;
            let dir = lock_dir(ctx.host(), &app);
            if let Some(holder) = DeployLock::holder_now(&ctx, &dir).await? {
                ctx.log(format!(
                    "check mode: the deploy lock {dir} is held by {holder}: {task} would be \
                     refused now"
                ));
            }
            Ok(())
        })
        .await;
    FanOutResult::all_ok(outcomes)
}

/// Rolls `nodes` back to their previous good release (see the module docs): every node must
/// have one, holding the same commit, before any node changes. Under `--check` it only says
/// where each node would go (and stops the same way when they disagree).
pub(crate) async fn rollback_fleet(ctx: &Ctx, nodes: &[Host]) -> anyhow::Result<()> {
    for node in nodes {
        AppConfig::of_host(node)?;
    }
    if ctx.check_mode() {
        let plans = plan_everywhere(
            ctx,
            nodes,
            "check mode: rollback would stop before any node changed",
        )
        .await?;
        for (host, plan) in &plans {
            ctx.log(format!(
                "check mode: would roll {host} back from release {} to release {} (commit {}), \
                 one node at a time behind the load balancers",
                plan.from,
                plan.to,
                if plan.commit.is_empty() {
                    "unknown"
                } else {
                    short(&plan.commit)
                }
            ));
        }
        return report_held_locks(ctx, nodes, "rollback").await;
    }
    locked(ctx, nodes, "rollback", |held| async move {
        let plans = plan_everywhere(ctx, nodes, "rollback stopped before any node changed").await?;
        let plans = Arc::new(plans);
        roll(ctx, nodes, &held, "rollback", move |ctx, health| {
            let plans = plans.clone();
            async move {
                let app = AppConfig::from_ctx(&ctx)?;
                let Some(plan) = plans.get(ctx.name()).cloned() else {
                    anyhow::bail!("{}: no rollback was planned", ctx.name());
                };
                let live = match activate(&ctx, &app, &plan.to).await {
                    Ok(()) => health.wait(&ctx, &app).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = live {
                    let back = go_back(&ctx, &app, Some(&plan.from), health).await;
                    anyhow::bail!("rolling back to release {} failed: {e:#}; {back}", plan.to);
                }
                finish_rollback(&ctx, &app, &plan).await
            }
        })
        .await
    })
    .await
}

/// Restarts the app's programs on `nodes`, one node at a time behind the load balancers, each
/// answering before the next.
pub(crate) async fn restart_fleet(ctx: &Ctx, nodes: &[Host]) -> anyhow::Result<()> {
    for node in nodes {
        let app = AppConfig::of_host(node)?;
        if ctx.check_mode() {
            ctx.log(format!(
                "check mode: would restart the programs of {} on {}",
                app.name, node.name
            ));
        }
    }
    if ctx.check_mode() {
        return report_held_locks(ctx, nodes, "restart-app").await;
    }
    locked(ctx, nodes, "restart-app", |held| async move {
        roll(ctx, nodes, &held, "restart-app", |ctx, health| async move {
            let app = AppConfig::from_ctx(&ctx)?;
            supervisor::restart(&ctx, &supervisor::app_programs(&ctx, &app)?).await?;
            health.wait(&ctx, &app).await
        })
        .await
    })
    .await
}

/// The commit that a new app node's first deploy puts live, set for the run by `scale` (the
/// commit live on the other app nodes, e.g. after a rollback) and read by the appnode recipe
/// ([`crate::appnode::appnode`]) through [`Ctx::run_state`]. Unset: the tip of `app.branch`.
#[derive(Debug, Default)]
pub struct FirstDeployCommit(Mutex<Option<String>>);

impl FirstDeployCommit {
    /// Makes new app nodes of this run start with `commit`.
    pub fn set(&self, commit: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(commit);
    }

    /// The commit new app nodes of this run start with, if one was set.
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The commit live on `nodes` (`current/REVISION`), ignoring nodes without a release; `None`
/// when none has one. Fails, naming each node's commit, when they disagree, and when a node
/// cannot be asked.
pub async fn live_commit(ctx: &Ctx, nodes: &[Host]) -> anyhow::Result<Option<String>> {
    if nodes.is_empty() {
        return Ok(None);
    }
    let live: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let reading = live.clone();
    let outcomes = ctx
        .on_hosts(nodes.to_vec(), move |ctx| {
            let live = reading.clone();
            async move {
                let app = AppConfig::from_ctx(&ctx)?;
                // Read as the app user, never through a link root would follow.
                let commit = match list(&ctx, &app).await?.1 {
                    Some(release) => release_revision(&ctx, &app, &release)
                        .await?
                        .unwrap_or_default(),
                    None => String::new(),
                };
                if !commit.is_empty() {
                    live.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(ctx.name().to_string(), commit);
                }
                Ok(())
            }
        })
        .await;
    FanOutResult::all_ok(outcomes)
        .map_err(|e| e.context("cannot read the release live on the app nodes"))?;
    let live = std::mem::take(&mut *live.lock().unwrap_or_else(PoisonError::into_inner));
    let mut commits: Vec<&String> = live.values().collect();
    commits.sort();
    commits.dedup();
    if commits.len() > 1 {
        anyhow::bail!(
            "the app nodes run different commits ({}): deploy or roll back so that they agree, \
             then try again",
            live.iter()
                .map(|(host, commit)| format!("{host}: {}", short(commit)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(commits.first().map(|c| (*c).clone()))
}
