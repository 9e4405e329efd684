//! `destroy NAME...`: remove servers at their provider and from the state file.

use std::sync::Arc;

use dm_core::Ctx;
use dm_providers::Destroyed;
use tokio::task::JoinSet;

use super::providers::{ServerStore, record_of};

/// Destroys servers `names` (all at once) with the provider that booted them, and removes their
/// records; the local provider also removes their host keys from known_hosts. Only servers in
/// the state file can be destroyed: an unknown name fails before anything is destroyed. Every
/// server is attempted even when another fails; the error then lists each failure.
pub async fn destroy_servers(
    ctx: &Ctx,
    store: &ServerStore,
    names: &[String],
) -> anyhow::Result<()> {
    let records = store.state.records();
    // Only this run's environment's servers (see `record_environment`).
    let known: Vec<String> = records
        .iter()
        .filter(|r| record_of(ctx, &records, &r.name) == Some(r))
        .map(|r| r.name.clone())
        .collect();
    for name in names {
        if !known.contains(name) {
            return Err(dm_core::Error::UnknownServer {
                name: name.clone(),
                message: format!(
                    "it is not a server booted by dm{} (the state file {} records: {}); servers \
                     declared only in the inventory are not dm's to destroy",
                    ctx.inventory()
                        .environment()
                        .map(|e| format!(" for environment `{e}`"))
                        .unwrap_or_default(),
                    store.state.path().display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }
            .into());
        }
    }
    let mut running = JoinSet::new();
    for name in names {
        let Some(record) = record_of(ctx, &records, name).cloned() else {
            continue;
        };
        let provider =
            store.provider(&record.provider, &ctx.inventory().provider_settings(name))?;
        let state = Arc::clone(&store.state);
        let (name, log) = (name.clone(), ctx.clone());
        running.spawn(async move {
            log.log(format!("{name}: destroying ({})", provider.name()));
            let outcome = state
                .destroy(provider.as_ref(), &name, record.environment.as_deref())
                .await;
            match &outcome {
                Ok(Destroyed::Deleted) => log.log(format!("{name}: destroyed")),
                Ok(Destroyed::AlreadyGone) => {
                    log.log(format!("{name}: was already gone; record removed"))
                }
                Err(_) => {}
            }
            (name, outcome)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((_, Ok(_))) => {}
            Ok((name, Err(e))) => failures.push(format!("{name}: {e}")),
            Err(e) => failures.push(format!("a destroy stopped unexpectedly: {e}")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "could not destroy every server:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(())
}
