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

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceMode {
    /// Every request gets 503 and the maintenance page.
    On,
    /// Requests are proxied to the app nodes.
    Off,
}

impl FromStr for MaintenanceMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "on" => Ok(MaintenanceMode::On),
            "off" => Ok(MaintenanceMode::Off),
            other => Err(format!("`{other}` is neither `on` nor `off`")),
        }
    }
}

/// Switch maintenance mode on or off on the load balancers: while on, they answer every request
/// with 503 and a maintenance page.
#[task(roles = ["loadbalancer", "appbalancer", "dbappbalancer"])]
pub async fn maintenance(
    ctx: &Ctx,
    #[arg(help = "on: answer 503 with the maintenance page; off: serve the app again")]
    mode: MaintenanceMode,
) -> anyhow::Result<()> {
    set_maintenance(ctx, mode == MaintenanceMode::On).await
}

/// Switches maintenance mode of the context's load balancer on or off (idempotent: reports a
/// change only when the mode changes). Fails, saying what to do, when the host's nginx does not
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
    let mut step = ctx.step();
    if on {
        step.add(ops::File::bytes(flag, "on\n").mode(0o644));
    } else {
        step.add(ops::File::absent(flag));
    }
    step.apply().await?;
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
    fn mode_parses_on_and_off_only() {
        assert_eq!("on".parse(), Ok(MaintenanceMode::On));
        assert_eq!("off".parse(), Ok(MaintenanceMode::Off));
        assert_eq!(
            "maybe".parse::<MaintenanceMode>(),
            Err("`maybe` is neither `on` nor `off`".to_string())
        );
    }
}
