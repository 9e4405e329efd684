//! `facts`: what dm knows about each host.

use dm_core::Ctx;
use dm_macros::task;

/// Show each host's OS, version, architecture, hostname and kernel.
#[task]
pub async fn facts(ctx: &Ctx) -> anyhow::Result<()> {
    let f = ctx.facts().await?;
    ctx.log(format!(
        "{} {} {} hostname={} kernel={}",
        f.os, f.os_version, f.arch, f.hostname, f.kernel
    ));
    Ok(())
}
