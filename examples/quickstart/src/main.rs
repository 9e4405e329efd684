//! The quickstart fabfile: the smallest useful dm project.
//!
//! `cargo run -p quickstart -- --list`, then `cargo run -p quickstart -- -H web1 health`.

use dm::prelude::*;

/// Show uptime and free disk on every selected host.
#[task]
async fn health(ctx: &Ctx) -> Result<()> {
    ctx.run("uptime").await?;
    ctx.run("df -h /").await?;
    Ok(())
}

/// Restart a service on app nodes, two at a time.
#[task(roles = ["appnode"], serial = 2)]
async fn restart(
    ctx: &Ctx,
    #[arg(help = "the systemd unit to restart")] service: String,
) -> Result<()> {
    ctx.sudo(format!("systemctl restart {}", shell_quote(&service)))
        .await?;
    Ok(())
}

dm::main!();
