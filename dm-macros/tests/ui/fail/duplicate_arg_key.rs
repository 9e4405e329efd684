use dm::prelude::*;

#[task]
async fn restart(
    ctx: &Ctx,
    #[arg(help = "unit")]
    #[arg(short = 's', help = "the unit")]
    service: String,
) -> Result<()> {
    let _ = (ctx, service);
    Ok(())
}

fn main() {}
