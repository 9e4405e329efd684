//! git deploys with releases, Capistrano's model.
//!
//! On each app node, under `app.path` (default `/srv/<app.name>`):
//!
//! ```text
//! releases/20260314093005/   one directory per deploy, named by its UTC time
//! releases/20260315101500/   (REVISION holds the commit; .dm-release-ok marks a good release)
//! current -> releases/20260315101500   the live release, switched atomically
//! shared/                    app.shared_dirs and app.shared_files, linked into every release
//! repo/                      a bare mirror of the repository: deploys fetch only new objects
//! revisions.log              who deployed or rolled back what, and when
//! .deploy-lock/              present while a deploy or rollback runs (who, since when)
//! ```
//!
//! A deploy ([`deploy_app`], task `deploy [--branch B | --tag T | --commit SHA]`):
//! takes the deploy lock (a concurrent deploy is refused, naming who holds it and since when);
//! updates the mirror — from `app.repo` fetched by the host when it is a URL, or, when
//! `app.repo` is a directory on the controller, from a `git bundle` of what the host lacks,
//! uploaded atomically; exports the commit into a new release; links the shared entries; runs
//! `app.build` in it as the app user with `app.env`; switches `current` (a symlink under a
//! temporary name, renamed with `mv -T`); applies and restarts the app's supervisor programs;
//! marks the release good; keeps `app.keep_releases` releases and prints the deployed commit.
//! A failing build never switches `current`, and its release directory is removed.
//!
//! `rollback` ([`rollback_app`]) goes back to the newest good release older than the live one.
//! `deploy-unlock` ([`break_lock`]) removes a stale lock left by a deploy that died; a lock
//! whose dm process ended on this same machine is cleared by the next deploy by itself.
//!
//! The tasks `deploy`, `rollback` and `restart-app` work on all selected app nodes together,
//! from the controller: they take the deploy lock of every node and of every load balancer
//! before changing anything, one host at a time in name order, so that of two concurrent runs
//! exactly one goes on (a refusal changes nothing anywhere), do what does not touch the live release on all nodes
//! at once (build; find the rollback target), stop when the nodes disagree (different commits),
//! and then go live one node at a time, each out of the load balancers until its app answers
//! `app.health_path` — so that no request fails with two or more app nodes.
//!
//! # Variables read
//! The `app` table ([`AppConfig`]): `name` ("app"), `repo` (a git URL or a local repository
//! directory on the controller), `branch` ("main"), `port` (8000), `user` (= name), `path`
//! (`/srv/<name>`), `keep_releases` (5), `shared_dirs`, `shared_files`, `build` (shell commands
//! run in the new release, e.g. `python3 -m venv --system-site-packages venv` and
//! `venv/bin/pip install --no-index -r requirements.txt`), `env` (environment of builds and
//! processes), `processes` (supervisor programs, see [`crate::supervisor`]), `static_dir`,
//! `packages` (extra Debian packages, installed by [`crate::appnode`]), `health_path` ("/": what
//! a node's app server must answer, below status 500, before it serves again after a deploy,
//! rollback or restart). Also `private_address`.

mod as_user;
mod deploy_app;
mod fleet;
mod host_releases;
mod lock;
mod lock_set;
mod release;
mod rollback;
mod rolling;
mod source;
mod switch;

pub use as_user::as_user;
pub use deploy_app::{Deployed, deploy_app};
pub use fleet::{FirstDeployCommit, live_commit};
pub use host_releases::{cleanup, list as list_releases, switch_current};
pub use lock::{DeployLock, Holder, LockInfo, break_lock, lock_dir};
pub use lock_set::with_deploy_lock;
pub(crate) use lock_set::with_locks;
pub use release::{GOOD_MARKER, ReleaseInfo, release_name, releases_to_remove, rollback_target};
pub use rollback::{RolledBack, rollback_app};
pub use source::{Revision, resolve, update_mirror};
pub use switch::SwitchCurrent;

pub(crate) use deploy_app::app_dir_list;

use dm_core::Ctx;
use dm_macros::task;

use crate::app::AppConfig;

/// Deploy the app (`app.repo`) at a branch, tag or commit as a new release and make it live.
///
/// Takes the deploy lock of every selected app node first (refused, changing nothing, while
/// another deploy holds one), builds the release on all of them, then puts it live one node at
/// a time, each out of the load balancers until its app answers. A failing build leaves the
/// live release serving everywhere.
#[task(local, roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn deploy(
    ctx: &Ctx,
    // One way to name the revision: the parser refuses two (exit code 2) before any host is
    // contacted.
    #[arg(
        help = "deploy the tip of this branch (default: app.branch)",
        conflicts_with = "tag"
    )]
    branch: Option<String>,
    #[arg(help = "deploy this tag", conflicts_with = "commit")] tag: Option<String>,
    #[arg(
        help = "deploy this commit (7 to 40 hex digits)",
        conflicts_with = "branch"
    )]
    commit: Option<String>,
) -> anyhow::Result<()> {
    let nodes = fleet::targets(ctx, "deploy")?;
    let wanted = fleet::Wanted {
        branch,
        tag,
        commit,
    };
    fleet::deploy_fleet(ctx, &nodes, wanted).await
}

/// Go back to the previous good release of the app, one app node at a time.
///
/// Every selected node must have a previous good release of the same commit, or nothing
/// changes.
#[task(local, roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn rollback(ctx: &Ctx) -> anyhow::Result<()> {
    let nodes = fleet::targets(ctx, "rollback")?;
    fleet::rollback_fleet(ctx, &nodes).await
}

/// Restart every supervisor program of the app (`app.processes`), one app node at a time.
///
/// Each node is out of the load balancers while it restarts, until its app answers.
#[task(local, roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn restart_app(ctx: &Ctx) -> anyhow::Result<()> {
    let nodes = fleet::targets(ctx, "restart-app")?;
    fleet::restart_fleet(ctx, &nodes).await
}

/// Break the app's deploy lock, left behind by a deploy that died. Make sure none is running.
///
/// App nodes and load balancers have one (a deploy holds the load balancers' while it takes
/// nodes out of their upstream).
#[task(roles = ["appnode", "appbalancer", "dbappbalancer", "loadbalancer"])]
pub async fn deploy_unlock(ctx: &Ctx) -> anyhow::Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    match break_lock(ctx, &lock_dir(ctx.host(), &app)).await? {
        Some(holder) if ctx.check_mode() => ctx.log(format!(
            "check mode: would break the deploy lock held by {holder}"
        )),
        Some(holder) => ctx.log(format!("broke the deploy lock held by {holder}")),
        None => ctx.log("no deploy lock was held"),
    }
    Ok(())
}
