//! The quickstart fabfile: the smallest useful dm project.
//!
//! `cargo run -p quickstart -- --list`, then `cargo run -p quickstart -- -H web1 health`.
//!
//! The tasks live in this library rather than in `main.rs` so that the fabfile's own tests
//! (`tests/`, run with `sudo -E cargo test -p quickstart`) link them too: an integration test
//! cannot link a binary's `main.rs`. `main.rs` only names this library and calls `dm::main!()`.

use dm::prelude::*;

/// Show uptime and free disk on every selected host.
#[task]
pub async fn health(ctx: &Ctx) -> Result<()> {
    ctx.run("uptime").await?;
    ctx.run("df -h /").await?;
    Ok(())
}

/// Restart a service on app nodes, two at a time.
#[task(roles = ["appnode"], serial = 2)]
pub async fn restart(
    ctx: &Ctx,
    #[arg(help = "the systemd unit to restart")] service: String,
) -> Result<()> {
    ctx.sudo(format!("systemctl restart {}", shell_quote(&service)))
        .await?;
    Ok(())
}
