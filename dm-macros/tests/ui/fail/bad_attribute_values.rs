use dm::prelude::*;

#[task(name = "two words", roles = "web", once = true)]
async fn restart(
    #[arg(help = "the context")] ctx: &Ctx,
    #[arg(short = "s", long = "--service")] service: String,
    #[arg] wait: u64,
) -> Result<()> {
    let _ = (ctx, service, wait);
    Ok(())
}

fn main() {}
