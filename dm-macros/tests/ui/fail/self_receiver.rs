use dm::prelude::*;

struct Fleet;

impl Fleet {
    #[task]
    async fn health(&self, ctx: &Ctx) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
