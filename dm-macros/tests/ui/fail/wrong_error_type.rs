use dm::prelude::*;

#[task]
async fn restart(ctx: &Ctx) -> std::result::Result<(), String> {
    let _ = ctx;
    Ok(())
}

fn main() {}
