//! What `boot`, `destroy` and `scale` would do, for `--check`: they read the state file without
//! locking or reconciling it, ask no provider anything, and change nothing anywhere.

use dm_core::Ctx;
use dm_providers::{Record, ServerStatus, State};

use super::providers::{project_and_state_path, record_of};

/// The records of the state file next to the run's inventory, read without locking it.
pub(crate) fn recorded(ctx: &Ctx) -> anyhow::Result<Vec<Record>> {
    let (_, path) = project_and_state_path(ctx);
    Ok(State::read(&path)?)
}

/// The provider the inventory gives server `name` (`local` when it names none).
fn provider_of(ctx: &Ctx, name: &str) -> String {
    ctx.inventory()
        .provider_settings(name)
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("local")
        .to_string()
}

/// Says what `boot names` would do with each server.
pub(crate) fn boot(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let records = recorded(ctx)?;
    for name in names {
        let what = match record_of(ctx, &records, name).map(|r| &r.status) {
            Some(ServerStatus::Running) => "already booted; would leave it as it is".to_string(),
            Some(ServerStatus::Off) => "is off; would start it with its disk as it was".to_string(),
            Some(other) => format!("recorded as `{other}`; would settle its record, then boot it"),
            None => format!("would boot it with provider {}", provider_of(ctx, name)),
        };
        ctx.log(format!("check mode: {name}: {what}"));
    }
    Ok(())
}

/// Says what `destroy names` would do; fails, as `destroy` would, for a name dm did not boot.
pub(crate) fn destroy(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let records = recorded(ctx)?;
    for name in names {
        if record_of(ctx, &records, name).is_none() {
            return Err(dm_core::Error::UnknownServer {
                name: name.clone(),
                message: format!(
                    "it is not a server booted by dm{} (the state file {} does not record it); \
                     servers declared only in the inventory are not dm's to destroy",
                    ctx.inventory()
                        .environment()
                        .map(|e| format!(" for environment `{e}`"))
                        .unwrap_or_default(),
                    project_and_state_path(ctx).1.display()
                ),
            }
            .into());
        }
    }
    for name in names {
        ctx.log(format!("check mode: {name}: would destroy it"));
    }
    Ok(())
}
