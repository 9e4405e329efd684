use dm::prelude::*;

#[task]
async fn deploy(ctx: &Ctx, #[arg(default = "true")] force: bool) -> Result<()> {
    let _ = (ctx, force);
    Ok(())
}

fn main() {}
