use dm::prelude::*;

#[task]
async fn ship(
    ctx: &Ctx,
    #[arg(conflicts_with = "tags")] branch: Option<String>,
    tag: Option<String>,
) -> Result<()> {
    let _ = (ctx, branch, tag);
    Ok(())
}

fn main() {}
