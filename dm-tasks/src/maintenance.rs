//! Maintenance mode on the load balancers: while on, every request gets HTTP 503 with a
//! maintenance page; off, requests are proxied again.
//!
//! The load balancer's site ([`crate::loadbalancer`]) checks, in every location, whether the
//! flag file `/var/lib/dm/maintenance/APP` exists, and answers 503 with its maintenance page
//! when it does. Switching is creating or removing that file: it takes effect with the next
//! request, needs no reload (so no configuration can break), and survives re-running the
//! load balancer recipe, which never touches the flag.
//!
//! Reads `app.name` (default `app`), like the load balancer.

use std::str::FromStr;

use dm_core::Ctx;
use dm_core::ops;
use dm_macros::task;

use crate::loadbalancer::LoadBalancerSettings;

/// `on`, `off` or `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceMode {
    /// Every request gets 503 and the maintenance page.
    On,
    /// Requests are proxied to the app nodes.
    Off,
    /// Only say which it is on each load balancer (and since when it is on).
    Status,
}

impl FromStr for MaintenanceMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "on" => Ok(MaintenanceMode::On),
            "off" => Ok(MaintenanceMode::Off),
            "status" => Ok(MaintenanceMode::Status),
            other => Err(format!("`{other}` is not `on`, `off` or `status`")),
        }
    }
}

/// Switch maintenance mode on or off on the load balancers (while on, they answer every request
/// with 503 and a maintenance page), or say whether it is on (`status`).
#[task(roles = ["loadbalancer", "appbalancer", "dbappbalancer"])]
pub async fn maintenance(
    ctx: &Ctx,
    #[arg(
        help = "on: answer 503 with the maintenance page; off: serve the app again; status: say which, and since when it is on"
    )]
    mode: MaintenanceMode,
) -> anyhow::Result<()> {
    match mode {
        MaintenanceMode::Status => maintenance_status(ctx).await,
        mode => set_maintenance(ctx, mode == MaintenanceMode::On).await,
    }
}

/// Says whether maintenance mode is on on the context's load balancer, and since when (the
/// flag file's time: switching on again does not rewrite it). Changes nothing.
pub async fn maintenance_status(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = LoadBalancerSettings::read(ctx.host())?;
    let flag = dm_core::shell_quote(&settings.site.maintenance_flag);
    let out = ctx
        .sudo(format!(
            "if [ -e {flag} ]; then echo on; date -u -r {flag} '+%Y-%m-%d %H:%M:%S UTC'; else echo off; fi"
        ))
        .quiet()
        .check_safe()
        .await?;
    let mut lines = out.stdout.lines();
    let line = match (lines.next(), lines.next()) {
        (Some("on"), Some(since)) => {
            format!("maintenance on for {} since {since}", settings.site.name)
        }
        (Some("on"), None) => format!("maintenance on for {}", settings.site.name),
        _ => format!("maintenance off for {}", settings.site.name),
    };
    ctx.log(line);
    Ok(())
}

/// Switches maintenance mode of the context's load balancer on or off (idempotent: reports a
/// change only when the mode changes), holding the load balancer's deploy lock meanwhile
/// (refused, changing nothing, while another run holds it). Fails, saying what to do, when the host's nginx does not
/// have the load balancer's site (the `loadbalancer` recipe never ran there), since the flag
/// would then change nothing.
pub async fn set_maintenance(ctx: &Ctx, on: bool) -> anyhow::Result<()> {
    let settings = LoadBalancerSettings::read(ctx.host())?;
    let flag = &settings.site.maintenance_flag;
    let checked = ctx
        .sudo(format!(
            "nginx -T 2>/dev/null | grep -qF {}",
            dm_core::shell_quote(&format!("if (-f {flag})"))
        ))
        .quiet()
        .check_safe()
        .allow_failure()
        .await?;
    if !checked.success() {
        anyhow::bail!(
            "{}: nginx here does not serve the load balancer site of `{}` (no maintenance check \
             in `nginx -T`): set the host up with the loadbalancer recipe (launch) first",
            ctx.name(),
            settings.site.name
        );
    }
    // Under the load balancer's deploy lock, like every change of its configuration: refused,
    // naming the holder, while a deploy or `scale` edits its upstream.
    let task = if on {
        "maintenance on"
    } else {
        "maintenance off"
    };
    crate::deploy::with_deploy_lock(ctx, task, || async {
        let mut step = ctx.step();
        if on {
            step.add(ops::File::bytes(flag, "on\n").mode(0o644));
        } else {
            step.add(ops::File::absent(flag));
        }
        step.apply().await?;
        Ok(())
    })
    .await?;
    ctx.log(format!(
        "maintenance {} for {}",
        if on { "on" } else { "off" },
        settings.site.name
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_on_off_and_status_only() {
        assert_eq!("on".parse(), Ok(MaintenanceMode::On));
        assert_eq!("off".parse(), Ok(MaintenanceMode::Off));
        assert_eq!("status".parse(), Ok(MaintenanceMode::Status));
        assert_eq!(
            "maybe".parse::<MaintenanceMode>(),
            Err("`maybe` is not `on`, `off` or `status`".to_string())
        );
    }
}
