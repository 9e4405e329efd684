use dm::prelude::*;

#[task(once, local)]
async fn build(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
