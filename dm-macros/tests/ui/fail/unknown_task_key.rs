use dm::prelude::*;

#[task(roles = ["web"], retries = 3)]
async fn health(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
