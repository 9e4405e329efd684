use dm::prelude::*;

#[task]
struct Health;

fn main() {}
