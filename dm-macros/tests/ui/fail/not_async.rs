use dm::prelude::*;

#[task]
fn health(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
