//! The fabfile of dm's benchmarks (`bench/run`): the workloads every tool runs, written the way a
//! dm user would write them.

use dm::prelude::*;

/// Fan-out: `uptime` on every host.
#[task]
async fn uptime(ctx: &Ctx) -> Result<()> {
    ctx.run("uptime").await?;
    Ok(())
}

dm::main!();
