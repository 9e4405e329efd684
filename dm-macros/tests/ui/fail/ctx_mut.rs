use dm::prelude::*;

#[task]
async fn health(ctx: &mut Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
