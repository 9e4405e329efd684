use dm::prelude::*;

#[task]
async fn twice(
    ctx: &Ctx,
    #[arg(positional)] names: Vec<String>,
    #[arg(positional)] more: Vec<String>,
) -> Result<()> {
    let _ = (ctx, names, more);
    Ok(())
}

#[task]
async fn with_hosts(
    ctx: &Ctx,
    #[arg(hosts)] servers: Vec<String>,
    #[arg(positional)] names: Vec<String>,
) -> Result<()> {
    let _ = (ctx, servers, names);
    Ok(())
}

#[task]
async fn hosts_after(
    ctx: &Ctx,
    #[arg(positional)] names: Vec<String>,
    #[arg(hosts)] servers: Vec<String>,
) -> Result<()> {
    let _ = (ctx, names, servers);
    Ok(())
}

#[task]
async fn plain_after(
    ctx: &Ctx,
    #[arg(positional)] names: Vec<String>,
    size: String,
    #[arg(default = "1")] count: u32,
    #[arg(long = "zone")] region: String,
) -> Result<()> {
    let _ = (ctx, names, size, count, region);
    Ok(())
}

fn main() {}
