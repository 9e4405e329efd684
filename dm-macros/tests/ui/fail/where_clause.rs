use dm::prelude::*;

#[task]
async fn restart(ctx: &Ctx) -> Result<()>
where
    String: Clone,
{
    let _ = ctx;
    Ok(())
}

fn main() {}
