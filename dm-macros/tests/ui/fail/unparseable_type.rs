use dm::prelude::*;

struct Unit;

#[task]
async fn restart(ctx: &Ctx, unit: Unit) -> Result<()> {
    let _ = (ctx, unit);
    Ok(())
}

fn main() {}
