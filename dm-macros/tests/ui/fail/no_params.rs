use dm::prelude::*;

#[task]
async fn health() -> Result<()> {
    Ok(())
}

fn main() {}
