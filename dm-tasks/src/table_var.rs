//! Reading an optional table of inventory variables (`[vars.postgres]`, `[vars.redis]`) into a
//! settings struct whose fields all have defaults.

use dm_core::Ctx;
use serde::de::DeserializeOwned;

/// The variable `name` converted to `T`, or `T::default()` when the inventory does not set it.
///
/// Fails, naming the host and the variable, when it is set with the wrong shape (a string where
/// a table is expected, a field of the wrong type).
pub(crate) fn table_var<T: DeserializeOwned + Default>(ctx: &Ctx, name: &str) -> anyhow::Result<T> {
    if ctx.vars().contains_key(name) {
        Ok(ctx.var(name)?)
    } else {
        Ok(T::default())
    }
}
