use dm::prelude::*;

#[task]
async fn copy(ctx: &Ctx, (from, to): (String, String)) -> Result<()> {
    let _ = (ctx, from, to);
    Ok(())
}

fn main() {}
