use dm::prelude::*;

#[task]
async fn deploy(ctx: &Ctx, #[arg(default = "main")] branch: Option<String>) -> Result<()> {
    let _ = (ctx, branch);
    Ok(())
}

fn main() {}
