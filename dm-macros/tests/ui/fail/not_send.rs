use dm::prelude::*;

use std::rc::Rc;

#[task]
async fn restart(ctx: &Ctx) -> Result<()> {
    let shared = Rc::new(1);
    let _ = ctx;
    std::future::ready(()).await;
    drop(shared);
    Ok(())
}

fn main() {}
