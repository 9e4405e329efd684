//! The `appnode` role: a server that runs the app.
//!
//! [`appnode`] converges, in one step: the Debian packages apps need (`git`, `python3`,
//! `python3-venv`, `supervisor`; `gunicorn` when a process is `wsgi`; plus `app.packages`), the
//! app user (a system user whose home is `app.path`) and the app's directories. Then it makes a
//! first deploy when `app.repo` is set and the host has no live release yet (later deploys are
//! the `deploy` task's job) — of the commit live on the other app nodes (for a node `scale`
//! adds, the one it chose: [`crate::deploy::FirstDeployCommit`]; other nodes that disagree stop
//! it), or of the tip of `app.branch` when no other node has a release — and applies the app's
//! supervisor programs. A second run changes nothing.
//!
//! Variables read: `app` (see [`AppConfig`]) and `private_address`.

use dm_core::host::Host;
use dm_core::{Ctx, ops, shell_quote};

use crate::app::{AppConfig, Kind};
use crate::deploy::{FirstDeployCommit, Revision, app_dir_list, deploy_app};
use crate::supervisor;

/// The Debian packages an app node of `app` needs.
pub fn packages(app: &AppConfig) -> Vec<String> {
    let mut packages: Vec<String> = ["git", "python3", "python3-venv", "supervisor"]
        .into_iter()
        .map(String::from)
        .collect();
    if app
        .processes
        .values()
        .any(|p| p.kind == Kind::Wsgi && p.command.is_none())
    {
        packages.push("gunicorn".to_string());
    }
    for extra in &app.packages {
        if !packages.contains(extra) {
            packages.push(extra.clone());
        }
    }
    packages
}

/// What the first deploy of a new app node puts live: the commit `scale` chose for the run;
/// else the commit live on the other app nodes of the inventory (a node launched alone after a
/// rollback joins the fleet's release, not the branch tip rolled back from); else, when none
/// has a release, the tip of `app.branch`. Fails, deploying nothing, when the other nodes run
/// different commits or one cannot be asked.
async fn first_revision(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<Revision> {
    if let Some(commit) = ctx.run_state::<FirstDeployCommit>().get() {
        return Ok(Revision::Commit(commit));
    }
    let others: Vec<Host> = crate::roles::servers_with_role(ctx.inventory(), "appnode")
        .into_iter()
        .filter(|h| h.name != ctx.name())
        .cloned()
        .collect();
    let live = crate::deploy::live_commit(ctx, &others)
        .await
        .map_err(|e| {
            e.context(format!(
                "{}: the first deploy was not made: a new app node starts on the release live \
                 on the other app nodes",
                ctx.name()
            ))
        })?;
    Ok(match live {
        Some(commit) => {
            ctx.log(format!(
                "first deploy: commit {commit}, live on the other app nodes ({})",
                others
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            Revision::Commit(commit)
        }
        None => Revision::Branch(app.branch.clone()),
    })
}

/// Applies the appnode role to the context's host (see the module docs).
pub async fn appnode(ctx: &Ctx) -> anyhow::Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let mut step = ctx.step();
    step.add(ops::Apt::present(packages(&app)));
    step.add(ops::Service::new("supervisor").enabled().running());
    step.add(
        ops::User::new(app.user())
            .system()
            .home(&app.path())
            .shell("/usr/sbin/nologin")
            .comment(&format!("{} app", app.name)),
    );
    for dir in app_dir_list(&app) {
        step.add(ops::Directory::new(&dir).owner(app.user()).mode(0o755));
    }
    step.apply().await?;

    if app.repo.is_some() {
        let current = ctx
            .sudo(format!("test -e {}", shell_quote(&app.current())))
            .quiet()
            .check_safe()
            .allow_failure()
            .await?;
        if !current.success() {
            let revision = first_revision(ctx, &app).await?;
            if ctx.check_mode() {
                ctx.log(format!(
                    "check mode: would make the first deploy of the app: {}",
                    revision.describe()
                ));
            } else {
                deploy_app(ctx, &app, &revision).await?;
            }
        }
    }
    supervisor::apply_app_programs(ctx, &app).await?;
    Ok(())
}
