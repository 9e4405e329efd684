use dm::prelude::*;

#[task]
async fn restart<T: std::str::FromStr>(ctx: &Ctx, service: T) -> Result<()> {
    let _ = (ctx, service);
    Ok(())
}

fn main() {}
