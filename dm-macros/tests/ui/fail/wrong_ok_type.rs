use dm::prelude::*;

#[task]
async fn restart(ctx: &Ctx) -> Result<u32> {
    let _ = ctx;
    Ok(1)
}

fn main() {}
