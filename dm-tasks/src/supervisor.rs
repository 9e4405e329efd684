//! supervisor: the app's long-running processes, from a short description.
//!
//! Each entry of `app.processes` (see [`ProcessSpec`]: a WSGI server, a worker, a custom
//! command, a periodic job) becomes a supervisor program `<app>-<process>` in
//! `/etc/supervisor/conf.d/<app>-<process>.conf`, running as the app user in
//! `<app.path>/current` with `app.env`. Applying the programs writes only files that differ and
//! then runs `supervisorctl reread` + `update` once, which restarts only the programs whose file
//! changed; programs of the app that are no longer described are removed. A deploy restarts
//! all of the app's programs ([`restart`]) so they run the new release; the `restart-app` task
//! ([`crate::deploy::restart_app`]) restarts them one app node at a time.
//!
//! Variables read: `app` (`name`, `user`, `path`, `port`, `env`, `processes`; see
//! [`AppConfig`]) and `private_address` (the address a `wsgi` process binds to).

mod process;
mod program;

pub use crate::app::{Kind, ProcessSpec};
pub use process::program_name;
pub use program::{CONF_DIR, Program};

use dm_core::ops::{self, StepReport};
use dm_core::{Ctx, shell_quote};
use dm_macros::task;

use crate::app::AppConfig;

/// The reaction that makes supervisor load changed program files.
const UPDATE: &str = "supervisor-update";

/// Waits for supervisord's socket (it may just have been installed), then loads changed files:
/// `update` starts added programs, restarts changed ones and stops removed ones.
const UPDATE_COMMAND: &str = "i=0; until supervisorctl pid >/dev/null 2>&1; do i=$((i+1)); \
     [ $i -lt 100 ] || { echo 'supervisord does not answer on its socket' >&2; exit 1; }; sleep 0.1; done; \
     supervisorctl reread >/dev/null && supervisorctl update";

/// The programs of `app.processes` on this host.
pub fn app_programs(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<Vec<Program>> {
    let bind = format!("{}:{}", crate::private_address(ctx.host()), app.port);
    app.processes
        .iter()
        .map(|(name, spec)| {
            spec.to_program(app, name, &bind)
                .map_err(|e| anyhow::anyhow!("{}: variable `app`: {e}", ctx.name()))
        })
        .collect()
}

/// Installs supervisor (Debian package `supervisor`), keeps it running, writes `programs`
/// (all marked as belonging to `owner`), removes the other programs of `owner`, and makes
/// supervisor load what changed, in one step.
pub async fn apply_programs(
    ctx: &Ctx,
    owner: &str,
    programs: &[Program],
) -> anyhow::Result<StepReport> {
    for program in programs {
        program
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", ctx.name()))?;
    }
    let marker = format!("{}{owner}", program::owner_marker_prefix());
    let listed = ctx
        .sudo(format!(
            "grep -l -x -F {} {CONF_DIR}/*.conf 2>/dev/null || true",
            shell_quote(&marker)
        ))
        .quiet()
        .check_safe()
        .await?;
    let mut step = ctx.step();
    step.add(ops::Apt::present(["supervisor"]));
    step.add(ops::Service::new("supervisor").enabled().running());
    for program in programs {
        let mut program = program.clone();
        program.owner = Some(owner.to_string());
        // 0600: the config carries the program's environment (an app's secrets), and only
        // supervisord, as root, reads it.
        step.add(
            ops::File::bytes(&program.conf_path(), program.render())
                .mode(0o600)
                .notify(UPDATE),
        );
    }
    for stale in listed.stdout.lines().map(str::trim) {
        if !stale.is_empty() && !programs.iter().any(|p| p.conf_path() == stale) {
            step.add(ops::File::absent(stale).notify(UPDATE));
        }
    }
    step.reaction(UPDATE, ops::Command::new(UPDATE_COMMAND));
    Ok(step.apply().await?)
}

/// [`apply_programs`] for the processes of `app`.
pub async fn apply_app_programs(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<StepReport> {
    let programs = app_programs(ctx, app)?;
    apply_programs(ctx, &app.name, &programs).await
}

/// Restarts every process of `programs` (`supervisorctl restart <name>:*`) and fails, with
/// supervisor's words, when one does not start.
pub async fn restart(ctx: &Ctx, programs: &[Program]) -> anyhow::Result<()> {
    if programs.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = programs
        .iter()
        .map(|p| shell_quote(&p.group_pattern()))
        .collect();
    let out = ctx
        .sudo(format!("supervisorctl restart {}", names.join(" ")))
        .quiet()
        .allow_failure()
        .await?;
    if out.skipped {
        // --check: reported as not run; there is nothing to verify.
        return Ok(());
    }
    let text = format!("{}{}", out.stdout, out.stderr);
    if !out.success() || text.contains("ERROR") {
        let logs: Vec<String> = programs
            .iter()
            .map(|p| format!("/var/log/supervisor/{}.log", p.name))
            .collect();
        anyhow::bail!(
            "{}: the app's programs did not restart: {}; see {}",
            ctx.name(),
            text.trim(),
            logs.join(", ")
        );
    }
    ctx.log(text.trim().to_string());
    Ok(())
}

/// Applies the supervisor programs of the app (`app.processes`) on the selected hosts.
#[task(roles = ["appnode", "appbalancer", "dbappbalancer"])]
pub async fn supervisor_programs(ctx: &Ctx) -> anyhow::Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    apply_app_programs(ctx, &app).await?;
    Ok(())
}
