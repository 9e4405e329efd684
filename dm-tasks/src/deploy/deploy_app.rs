//! [`deploy_app`]: one deploy, from the repository to a live release.

use std::time::Duration;

use dm_core::{Ctx, ops, shell_quote};

use super::as_user::as_user;
use super::host_releases::{cleanup, list, log_revision, mark, remove_releases, switch_current};
use super::lock::{DeployLock, LockInfo};
use super::release::{GOOD_MARKER, now_unix, release_name, utc_time};
use super::source::{Revision, resolve, update_mirror};
use crate::app::AppConfig;
use crate::supervisor;

/// What a deploy made live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The release directory's name (`20260314093005`).
    pub release: String,
    /// The full commit hash deployed.
    pub commit: String,
    /// Old releases removed to keep `app.keep_releases`.
    pub removed: Vec<String>,
}

/// Deploys `revision` of `app.repo` on the context's host: under the deploy lock, fetches the
/// repository into the host's mirror, exports the commit into `releases/<UTC timestamp>`,
/// links the shared dirs and files, runs the build commands, switches `current`, applies and
/// restarts the app's supervisor programs, marks the release good and removes old releases.
///
/// Until `current` switches nothing live changes: a failed build removes its release and leaves
/// the live one serving. Fails in check mode (a deploy cannot be simulated).
pub async fn deploy_app(
    ctx: &Ctx,
    app: &AppConfig,
    revision: &Revision,
) -> anyhow::Result<Deployed> {
    let host = ctx.name();
    let Some(repo) = app.repo.clone() else {
        anyhow::bail!(
            "{host}: variable `app.repo` is not set: set it to a git URL or to a local repository directory"
        );
    };
    anyhow::ensure!(
        !ctx.check_mode(),
        "{host}: deploy changes the host and has no check mode; run it without --check"
    );
    ensure_user(ctx, app).await?;
    let lock = DeployLock::acquire(ctx, &app.lock_dir(), "deploy").await?;
    let result = locked_deploy(ctx, app, &repo, revision).await;
    let released = lock.release(ctx).await;
    let deployed = result?;
    released?;
    Ok(deployed)
}

/// Fails clearly when the app user is missing (the appnode recipe creates it).
pub(super) async fn ensure_user(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<()> {
    let probe = ctx
        .run(format!("id -u {}", shell_quote(app.user())))
        .quiet()
        .check_safe()
        .allow_failure()
        .await?;
    anyhow::ensure!(
        probe.success(),
        "{}: the app user `{}` does not exist: run the appnode recipe first (`launch`), or create the user",
        ctx.name(),
        app.user()
    );
    Ok(())
}

async fn locked_deploy(
    ctx: &Ctx,
    app: &AppConfig,
    repo: &str,
    revision: &Revision,
) -> anyhow::Result<Deployed> {
    let built = build_new_release(ctx, app, repo, revision).await?;
    activate(ctx, app, &built.name)
        .await
        .map_err(|e| e.context("`rollback` goes back to the previous good release"))?;
    finish_release(ctx, app, &built, revision).await
}

/// A release built and not yet live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Built {
    /// The release directory's name.
    pub(crate) name: String,
    /// The full commit hash it holds.
    pub(crate) commit: String,
    /// The release live when it was built, if any.
    pub(crate) previous: Option<String>,
}

/// Updates the mirror, resolves `revision` and builds it into a new release that is not live.
/// A failed build removes its release and says that `current` still serves the live one.
pub(crate) async fn build_new_release(
    ctx: &Ctx,
    app: &AppConfig,
    repo: &str,
    revision: &Revision,
) -> anyhow::Result<Built> {
    let host = ctx.name();
    app_dirs(ctx, app).await?;
    update_mirror(ctx, app, repo).await?;
    let commit = resolve(ctx, app, revision).await?;

    // Names are per second; a deploy right after another waits for the next second.
    let mut name = release_name(now_unix());
    let (existing, previous) = list(ctx, app).await?;
    while existing.iter().any(|r| r.name == name) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        name = release_name(now_unix());
    }
    let dir = format!("{}/{name}", app.releases_dir());
    ctx.log(format!(
        "deploying {} ({}) of {repo} as release {name}",
        short(&commit),
        revision.describe()
    ));
    if let Err(e) = build_release(ctx, app, &commit, &dir).await {
        let removed = remove_releases(ctx, app, std::slice::from_ref(&name)).await;
        let live = previous
            .as_deref()
            .unwrap_or("nothing (no earlier release)");
        let cleanup_note = match removed {
            Ok(_) => format!("release {name} was removed"),
            Err(r) => format!("removing release {name} failed too: {r}"),
        };
        anyhow::bail!(
            "{host}: deploy failed, `current` was not switched and still serves {live}; {cleanup_note}:\n{e}"
        );
    }
    Ok(Built {
        name,
        commit,
        previous,
    })
}

/// Makes `release` live: switches `current`, applies the app's supervisor programs and
/// restarts them.
pub(crate) async fn activate(ctx: &Ctx, app: &AppConfig, release: &str) -> anyhow::Result<()> {
    switch_current(ctx, app, release).await?;
    supervisor::apply_app_programs(ctx, app).await?;
    let programs = supervisor::app_programs(ctx, app)?;
    supervisor::restart(ctx, &programs).await.map_err(|e| {
        anyhow::anyhow!("release {release} is live but its programs did not restart: {e}")
    })
}

/// After `built` went live: marks it good, logs the deploy, removes old releases.
pub(crate) async fn finish_release(
    ctx: &Ctx,
    app: &AppConfig,
    built: &Built,
    revision: &Revision,
) -> anyhow::Result<Deployed> {
    let host = ctx.name();
    let (name, commit) = (&built.name, &built.commit);
    mark(ctx, app, name, true).await?;
    let by = LockInfo::for_this_process("deploy", host).owner;
    log_revision(
        ctx,
        app,
        &format!(
            "{} release {name} commit {commit} ({}) deployed by {by}",
            utc_time(now_unix()),
            revision.describe()
        ),
    )
    .await?;
    let removed = cleanup(ctx, app).await?;
    ctx.log(format!(
        "deployed commit {commit} ({}) as release {name}{}",
        revision.describe(),
        if removed.is_empty() {
            String::new()
        } else {
            format!("; removed old releases {}", removed.join(", "))
        }
    ));
    Ok(Deployed {
        release: name.clone(),
        commit: commit.clone(),
        removed,
    })
}

/// The app's directories, owned by the app user: the app path, `releases/`, `shared/` with its
/// shared dirs and the parents of its shared files.
async fn app_dirs(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<()> {
    let mut step = ctx.step();
    for dir in app_dir_list(app) {
        step.add(ops::Directory::new(&dir).owner(app.user()).mode(0o755));
    }
    step.apply().await?;
    Ok(())
}

/// Every directory [`app_dirs`] makes, parents first.
pub(crate) fn app_dir_list(app: &AppConfig) -> Vec<String> {
    let shared = app.shared_dir();
    let mut dirs = vec![app.path(), app.releases_dir(), shared.clone()];
    let mut add = |dir: String| {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    };
    for entry in &app.shared_dirs {
        let mut prefix = shared.clone();
        for part in entry.split('/').filter(|p| !p.is_empty()) {
            prefix = format!("{prefix}/{part}");
            add(prefix.clone());
        }
    }
    for entry in &app.shared_files {
        let parts: Vec<&str> = entry.split('/').filter(|p| !p.is_empty()).collect();
        let mut prefix = shared.clone();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            prefix = format!("{prefix}/{part}");
            add(prefix.clone());
        }
    }
    dirs
}

/// Exports `commit` into `dir`, links the shared entries and runs the build commands, all as
/// the app user. Any error leaves `dir` for the caller to remove.
async fn build_release(ctx: &Ctx, app: &AppConfig, commit: &str, dir: &str) -> anyhow::Result<()> {
    let user = app.user();
    let d = shell_quote(dir);
    let mirror = shell_quote(&app.mirror_dir());
    ctx.sudo(as_user(
        user,
        &app.path(),
        &format!(
            "mkdir {d} && git -c safe.directory='*' --git-dir={mirror} archive --format=tar {commit} | tar -x -C {d} \
             && rm -f -- {d}/{GOOD_MARKER} {d}/REVISION && printf '%s\\n' {commit} > {d}/REVISION"
        ),
    ))
    .quiet()
    .await?;

    let shared = app.shared_dir();
    let mut links = Vec::new();
    for entry in &app.shared_dirs {
        let (target, link) = (
            shell_quote(&format!("{shared}/{entry}")),
            shell_quote(&format!("{dir}/{entry}")),
        );
        links.push(format!(
            "rm -rf {link} && mkdir -p \"$(dirname {link})\" && ln -s {target} {link}"
        ));
    }
    for entry in &app.shared_files {
        let (target, link) = (
            shell_quote(&format!("{shared}/{entry}")),
            shell_quote(&format!("{dir}/{entry}")),
        );
        links.push(format!(
            "if [ ! -e {target} ]; then echo \"shared file {shared}/{entry} is missing on {host}: put it there before deploying (e.g. with the put command)\" >&2; exit 1; fi\n\
             rm -rf {link} && mkdir -p \"$(dirname {link})\" && ln -s {target} {link}",
            host = ctx.name()
        ));
    }
    if !links.is_empty() {
        ctx.sudo(as_user(user, dir, &links.join("\n")))
            .quiet()
            .await?;
    }

    let with_env = ctx.envs(app.env_strings());
    for command in &app.build {
        ctx.log(format!("build: {command}"));
        with_env
            .sudo(as_user(user, dir, command))
            .await
            .map_err(|e| anyhow::anyhow!("build command `{command}` failed: {e}"))?;
    }
    Ok(())
}

/// The first 10 characters of a commit hash.
pub(super) fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_dirs_include_shared_parents_once() {
        let app: AppConfig = serde_json::from_value(serde_json::json!({
            "name": "shop",
            "shared_dirs": ["media", "var/log"],
            "shared_files": ["config/.env", "var/x.conf", "top.cfg"]
        }))
        .expect("app");
        assert_eq!(
            app_dir_list(&app),
            vec![
                "/srv/shop",
                "/srv/shop/releases",
                "/srv/shop/shared",
                "/srv/shop/shared/media",
                "/srv/shop/shared/var",
                "/srv/shop/shared/var/log",
                "/srv/shop/shared/config",
            ]
        );
    }
}
