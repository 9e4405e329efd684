use dm::prelude::*;

#[task]
async fn restart(ctx: &Ctx, #[arg(help = "unit", env = "SERVICE")] service: String) -> Result<()> {
    let _ = (ctx, service);
    Ok(())
}

fn main() {}
