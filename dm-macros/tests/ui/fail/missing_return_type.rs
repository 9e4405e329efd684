use dm::prelude::*;

#[task]
async fn health(ctx: &Ctx) {
    let _ = ctx;
}

fn main() {}
