//! Python and Django helpers: virtualenvs, pip, and `manage.py` commands run as the app.
//!
//! Commands run as the app user (`app.user`) with the app's environment (`app.env`). A release
//! whose build made a virtualenv in `venv/` (the convention of these helpers) runs `manage.py`
//! with `venv/bin/python`; without one, with the system's `python3`.
//!
//! Variables read: `app` (`name`, `user`, `path`, `env`; see [`AppConfig`]).

use dm_core::ctx::Output;
use dm_core::{Ctx, shell_quote};
use dm_macros::task;

use crate::app::AppConfig;
use crate::deploy::as_user;

/// Makes a virtualenv in `dir` as `user` unless one is there; with `system_site_packages` it
/// sees the system's packages (Debian's `python3-*`), so `pip install --no-index` can be
/// satisfied without reaching a package index. Returns whether it created one.
///
/// A virtualenv counts as there when it has both `bin/python` and `bin/pip`: `python3 -m venv`
/// makes `bin/python` before it installs pip, so a run that failed half-way (e.g. without
/// `python3-venv`) is completed by the next call instead of being taken for a finished one.
///
/// Needs Debian's `python3-venv` (the appnode recipe installs it).
pub async fn venv(
    ctx: &Ctx,
    dir: &str,
    user: &str,
    system_site_packages: bool,
) -> anyhow::Result<bool> {
    anyhow::ensure!(
        dir.starts_with('/') && dir.trim_end_matches('/').len() > 1,
        "{}: virtualenv directory `{dir}` must be an absolute path such as /srv/app/releases/<release>/venv",
        ctx.name()
    );
    let dir = dir.trim_end_matches('/');
    let d = shell_quote(dir);
    let flag = if system_site_packages {
        " --system-site-packages"
    } else {
        ""
    };
    let parent = match dir.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    };
    let out = ctx
        .sudo(format!(
            "if [ -x {d}/bin/python ] && [ -x {d}/bin/pip ]; then echo exists; else {}; fi",
            as_user(
                user,
                parent,
                &format!("python3 -m venv{flag} {d} && echo created")
            )
        ))
        .quiet()
        .allow_failure()
        .await?;
    // Python's venv explains a missing ensurepip on standard output: show both streams.
    anyhow::ensure!(
        out.success(),
        "{}: making the virtualenv {dir} as {user} failed ({}); is Debian's python3-venv installed \
         (the appnode recipe installs it)?\n{}{}",
        ctx.name(),
        match (&out.status.code, &out.status.signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "no exit status".to_string(),
        },
        out.stdout.trim_end(),
        if out.stderr.trim().is_empty() {
            String::new()
        } else {
            format!("\n{}", out.stderr.trim_end())
        }
    );
    Ok(out.stdout.lines().last() == Some("created"))
}

/// `pip install -r requirements` (a path relative to `dir`, or absolute) with the virtualenv
/// `venv`, as `user` in `dir`; `no_index` keeps pip off package indexes (only installed
/// packages and local files satisfy the requirements).
pub async fn pip_install(
    ctx: &Ctx,
    venv: &str,
    dir: &str,
    user: &str,
    requirements: &str,
    no_index: bool,
) -> anyhow::Result<()> {
    let index = if no_index { " --no-index" } else { "" };
    ctx.sudo(as_user(
        user,
        dir,
        &format!(
            "{}/bin/pip install -q --disable-pip-version-check{index} -r {}",
            shell_quote(venv),
            shell_quote(requirements)
        ),
    ))
    .await?;
    Ok(())
}

/// Runs `manage.py <args>` (args: a shell fragment, e.g. `migrate --noinput`) in `release_dir`
/// as the app user with the app's environment, and returns its output. Its output is shown as
/// it runs; when it fails, the error names the command and directory and carries Django's
/// standard error.
pub async fn manage(
    ctx: &Ctx,
    app: &AppConfig,
    release_dir: &str,
    args: &str,
) -> anyhow::Result<Output> {
    let command = format!(
        "if [ -x venv/bin/python ]; then py=venv/bin/python; else py=python3; fi; \"$py\" manage.py {args}"
    );
    ctx.envs(app.env_strings())
        .sudo(as_user(app.user(), release_dir, &command))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: `manage.py {args}` failed in {release_dir}: {e}",
                ctx.name()
            )
        })
}

/// `manage.py migrate --noinput` in `release_dir`.
pub async fn migrate(ctx: &Ctx, app: &AppConfig, release_dir: &str) -> anyhow::Result<Output> {
    manage(ctx, app, release_dir, "migrate --noinput").await
}

/// `manage.py collectstatic --noinput` in `release_dir`.
pub async fn collectstatic(
    ctx: &Ctx,
    app: &AppConfig,
    release_dir: &str,
) -> anyhow::Result<Output> {
    manage(ctx, app, release_dir, "collectstatic --noinput").await
}

/// Run a Django `manage.py` command in the live release (`current`), e.g.
/// `manage-py 'migrate --noinput'`.
///
/// The command may change the database, so `--check` only says what would run.
#[task(roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn manage_py(
    ctx: &Ctx,
    #[arg(help = "the manage.py command and its arguments, e.g. 'migrate --noinput'")]
    command: String,
) -> anyhow::Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let current = app.current();
    if ctx.check_mode() {
        ctx.log(format!(
            "check mode: would run `manage.py {command}` in {current}"
        ));
        return Ok(());
    }
    // Without a live release `cd` would fail with a bare shell error; say what to do instead.
    let live = ctx
        .sudo(format!("test -f {}/manage.py", shell_quote(&current)))
        .quiet()
        .check_safe()
        .allow_failure()
        .await?;
    anyhow::ensure!(
        live.success(),
        "{}: no live release with a manage.py ({current}/manage.py is missing): deploy the app first (`deploy`)",
        ctx.name()
    );
    manage(ctx, &app, &current, &command).await?;
    Ok(())
}
