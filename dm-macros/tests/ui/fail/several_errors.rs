use dm::prelude::*;

#[task(serial = 0, colour = "red")]
fn restart(ctx: &Ctx, #[arg(short = 'h')] service: String, (a, b): (u8, u8)) {
    let _ = (ctx, service, a, b);
}

fn main() {}
