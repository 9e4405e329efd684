use dm::prelude::*;

#[task]
async fn greet(ctx: &Ctx, name: &str) -> Result<()> {
    let _ = (ctx, name);
    Ok(())
}

fn main() {}
