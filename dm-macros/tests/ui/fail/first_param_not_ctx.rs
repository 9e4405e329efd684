use dm::prelude::*;

#[task]
async fn restart(service: String) -> Result<()> {
    let _ = service;
    Ok(())
}

fn main() {}
