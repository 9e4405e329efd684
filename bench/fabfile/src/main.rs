//! The fabfile of dm's benchmarks (`bench/run`): the workloads every tool runs, written the way a
//! dm user would write them. The anchors' versions are in `bench/anchors/`.

use dm::ops;
use dm::prelude::*;

/// Where the converge workload lives on every host (a private tmpfs per host in the benchmark).
const ROOT: &str = "/srv/dmbench";
/// How many directories, and files, the converge workload wants.
const COUNT: usize = 10;

/// Fan-out: `uptime` on every host.
#[task]
async fn uptime(ctx: &Ctx) -> Result<()> {
    ctx.run("uptime").await?;
    Ok(())
}

/// Converge: 10 directories (mode 755) holding one small file each (mode 644), changing only what
/// differs.
#[task]
async fn converge(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    for i in 0..COUNT {
        step.add(ops::Directory::new(&format!("{ROOT}/d{i:02}")).mode(0o755));
    }
    for i in 0..COUNT {
        let path = format!("{ROOT}/d{i:02}/file.txt");
        step.add(ops::File::bytes(&path, format!("dm bench file {i:02}\n")).mode(0o644));
    }
    step.apply().await?;
    Ok(())
}

dm::main!();
