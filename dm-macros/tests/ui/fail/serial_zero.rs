use dm::prelude::*;

#[task(serial = 0)]
async fn restart(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
