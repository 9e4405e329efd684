use dm::prelude::*;

#[task]
async fn greet(ctx: &Ctx, name: impl Into<String>) -> Result<()> {
    let _ = (ctx, name.into());
    Ok(())
}

fn main() {}
