use dm::prelude::*;

#[task(serial = 2)]
#[task]
async fn restart(ctx: &Ctx) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
