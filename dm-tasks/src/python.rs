//! Python and Django helpers: virtualenvs, pip, and `manage.py` commands run as the app.
//!
//! Commands run as the app user (`app.user`) with the app's environment (`app.env`). A release
//! whose build made a virtualenv in `venv/` (the convention of these helpers) runs `manage.py`
//! with `venv/bin/python`; without one, with the system's `python3`.
//!
//! Variables read: `app` (`name`, `user`, `path`, `env`; see [`crate::deploy`]).

use std::collections::BTreeMap;

use dm_core::ctx::Output;
use dm_core::{Ctx, shell_quote};
use dm_macros::task;

use crate::deploy::{AppConfig, as_user};

/// Makes a virtualenv in `dir` as `user` unless one is there; with `system_site_packages` it
/// sees the system's packages (Debian's `python3-*`), so `pip install --no-index` can be
/// satisfied without reaching a package index. Returns whether it created one.
///
/// Needs Debian's `python3-venv` (the appnode recipe installs it).
pub async fn venv(
    ctx: &Ctx,
    dir: &str,
    user: &str,
    system_site_packages: bool,
) -> anyhow::Result<bool> {
    let d = shell_quote(dir);
    let flag = if system_site_packages {
        " --system-site-packages"
    } else {
        ""
    };
    let parent = dir
        .rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let out = ctx
        .sudo(format!(
            "if [ -x {d}/bin/python ]; then echo exists; else {}; fi",
            as_user(
                user,
                parent,
                &BTreeMap::new(),
                &format!("python3 -m venv{flag} {d} && echo created")
            )
        ))
        .quiet()
        .await?;
    Ok(out.stdout.contains("created"))
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
        &BTreeMap::new(),
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
/// as the app user with the app's environment, and returns its output.
pub async fn manage(
    ctx: &Ctx,
    app: &AppConfig,
    release_dir: &str,
    args: &str,
) -> anyhow::Result<Output> {
    let command = format!(
        "if [ -x venv/bin/python ]; then py=venv/bin/python; else py=python3; fi; \"$py\" manage.py {args}"
    );
    Ok(ctx
        .sudo(as_user(
            app.user(),
            release_dir,
            &app.env_strings(),
            &command,
        ))
        .await?)
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

/// Run a Django `manage.py` command in the live release (`current`), e.g. `manage migrate`.
#[task(roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn manage_py(
    ctx: &Ctx,
    #[arg(help = "the manage.py command and its arguments, e.g. 'migrate --noinput'")]
    command: String,
) -> anyhow::Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    manage(ctx, &app, &app.current(), &command).await?;
    Ok(())
}
