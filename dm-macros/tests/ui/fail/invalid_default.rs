use dm::prelude::*;

#[task]
async fn restart(ctx: &Ctx, #[arg(default = "five")] wait: u64) -> Result<()> {
    let _ = (ctx, wait);
    Ok(())
}

fn main() {}
