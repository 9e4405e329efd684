use dm::prelude::*;

#[task]
async fn one(ctx: &Ctx, #[arg(hosts)] server: String) -> Result<()> {
    let _ = (ctx, server);
    Ok(())
}

#[task]
async fn flagged(ctx: &Ctx, #[arg(hosts, long = "on")] servers: Vec<String>) -> Result<()> {
    let _ = (ctx, servers);
    Ok(())
}

#[task]
async fn twice(
    ctx: &Ctx,
    #[arg(hosts)] servers: Vec<String>,
    #[arg(hosts)] more: Vec<String>,
) -> Result<()> {
    let _ = (ctx, servers, more);
    Ok(())
}

#[task]
async fn valued(ctx: &Ctx, #[arg(hosts = "x")] servers: Vec<String>) -> Result<()> {
    let _ = (ctx, servers);
    Ok(())
}

fn main() {}
