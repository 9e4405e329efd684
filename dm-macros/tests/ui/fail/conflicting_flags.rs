use dm::prelude::*;

#[task]
async fn restart(
    ctx: &Ctx,
    #[arg(short = 'w')] wait: Option<u64>,
    #[arg(short = 'w', long = "wait")] wait_seconds: Option<u64>,
    help: bool,
) -> Result<()> {
    let _ = (ctx, wait, wait_seconds, help);
    Ok(())
}

fn main() {}
