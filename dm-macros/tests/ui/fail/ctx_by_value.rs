use dm::prelude::*;

#[task]
async fn health(ctx: Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
