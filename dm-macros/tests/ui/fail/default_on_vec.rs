use dm::prelude::*;

#[task]
async fn deploy(ctx: &Ctx, #[arg(help = "tags", default = "web")] tag: Vec<String>) -> Result<()> {
    let _ = (ctx, tag);
    Ok(())
}

fn main() {}
