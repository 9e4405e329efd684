use dm::prelude::*;

#[task]
async fn single(ctx: &Ctx, #[arg(positional)] name: String) -> Result<()> {
    let _ = (ctx, name);
    Ok(())
}

#[task]
async fn optional(ctx: &Ctx, #[arg(positional)] name: Option<String>) -> Result<()> {
    let _ = (ctx, name);
    Ok(())
}

#[task]
async fn flagged(ctx: &Ctx, #[arg(positional, short = 'n')] names: Vec<String>) -> Result<()> {
    let _ = (ctx, names);
    Ok(())
}

#[task]
async fn renamed(ctx: &Ctx, #[arg(long = "name", positional)] names: Vec<String>) -> Result<()> {
    let _ = (ctx, names);
    Ok(())
}

#[task]
async fn defaulted(ctx: &Ctx, #[arg(positional, default = "a")] names: Vec<String>) -> Result<()> {
    let _ = (ctx, names);
    Ok(())
}

#[task]
async fn both(ctx: &Ctx, #[arg(hosts, positional)] servers: Vec<String>) -> Result<()> {
    let _ = (ctx, servers);
    Ok(())
}

#[task]
async fn valued(ctx: &Ctx, #[arg(positional = true)] names: Vec<String>) -> Result<()> {
    let _ = (ctx, names);
    Ok(())
}

fn main() {}
