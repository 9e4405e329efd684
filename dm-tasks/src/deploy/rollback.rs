//! [`rollback_app`]: back to the previous good release.

use dm_core::Ctx;

use super::deploy_app::short;
use super::host_releases::{list, log_revision, mark, release_revision, switch_current};
use super::lock::{DeployLock, LockInfo};
use super::release::{now_unix, rollback_target, utc_time};
use crate::app::AppConfig;
use crate::supervisor;

/// What a rollback made live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// The release that was live before.
    pub from: String,
    /// The release live now.
    pub to: String,
    /// Its commit (empty when the release has no `REVISION` file holding a 40-hex-digit commit).
    pub commit: String,
}

/// Under the deploy lock, points `current` at the newest good release older than the live
/// one, restarts the app's programs, and marks the release it left as not good (a later
/// rollback never returns to it; a later deploy's cleanup removes it in time). Under `--check`
/// it changes nothing: it says where it would go and returns that.
pub async fn rollback_app(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<RolledBack> {
    if ctx.check_mode() {
        let plan = plan_rollback(ctx, app).await?;
        ctx.log(format!(
            "check mode: would roll back from release {} to release {}",
            plan.from, plan.to
        ));
        return Ok(plan);
    }
    let lock = DeployLock::acquire(ctx, &app.lock_dir(), "rollback").await?;
    let result = locked_rollback(ctx, app).await;
    let released = lock.release(ctx).await;
    let done = result?;
    released?;
    Ok(done)
}

async fn locked_rollback(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<RolledBack> {
    let plan = plan_rollback(ctx, app).await?;
    switch_current(ctx, app, &plan.to).await?;
    let programs = supervisor::app_programs(ctx, app)?;
    supervisor::restart(ctx, &programs).await?;
    finish_rollback(ctx, app, &plan).await?;
    Ok(plan)
}

/// Where a rollback of the host goes: from the live release to the newest good one before it
/// (with its commit). Reads only; fails, saying why, when there is nothing to roll back to.
pub(crate) async fn plan_rollback(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<RolledBack> {
    let host = ctx.name();
    let (releases, current) = list(ctx, app).await?;
    let Some(current) = current else {
        anyhow::bail!(
            "{host}: nothing to roll back: {} does not exist (no deploy yet)",
            app.current()
        );
    };
    let Some(target) = rollback_target(&releases, &current) else {
        let names: Vec<String> = releases
            .iter()
            .map(|r| format!("{}{}", r.name, if r.good { "" } else { " (not good)" }))
            .collect();
        anyhow::bail!(
            "{host}: no good release older than the live one ({current}) to roll back to; releases: {}",
            names.join(", ")
        );
    };
    let to = target.name.clone();
    let commit = release_revision(ctx, app, &to).await?.unwrap_or_default();
    Ok(RolledBack {
        from: current,
        to,
        commit,
    })
}

/// After `plan.to` went live: marks the release left as not good (a later rollback never
/// returns to it) and logs the rollback.
pub(crate) async fn finish_rollback(
    ctx: &Ctx,
    app: &AppConfig,
    plan: &RolledBack,
) -> anyhow::Result<()> {
    let RolledBack { from, to, commit } = plan;
    mark(ctx, app, from, false).await?;
    let by = LockInfo::for_this_process("rollback", ctx.name()).owner;
    log_revision(
        ctx,
        app,
        &format!(
            "{} rolled back from release {from} to release {to} commit {} by {by}",
            utc_time(now_unix()),
            if commit.is_empty() { "unknown" } else { commit }
        ),
    )
    .await?;
    ctx.log(format!(
        "rolled back from release {from} to release {to} (commit {})",
        if commit.is_empty() {
            "unknown"
        } else {
            short(commit)
        }
    ));
    Ok(())
}
