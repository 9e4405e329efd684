use dm::prelude::*;

#[task(serial = 2, roles = ["web"], serial = 3)]
async fn restart(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
