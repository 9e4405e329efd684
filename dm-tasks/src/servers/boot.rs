//! `boot NAME...`: bring up new servers with their provider, in parallel, and wait until each
//! answers SSH.

use std::sync::Arc;

use dm_core::Ctx;
use dm_core::inventory::inferred_role;
use dm_providers::{Provider, Record, ServerSpec, ServerStatus, Wait};
use tokio::task::JoinSet;

use super::providers::{ServerStore, wait_for};
use crate::operator_keys::operator_public_keys;

/// Boots servers `names` (each with the provider the inventory gives it, see
/// [`crate::servers`](mod@crate::servers)), all at once, and returns their records once every one answers on its
/// SSH port. A name that is booted already is returned as it is. Every server is attempted even
/// when another fails; the error then lists each failure.
pub async fn boot_servers(
    ctx: &Ctx,
    store: &ServerStore,
    names: &[String],
) -> anyhow::Result<Vec<Record>> {
    Ok(boot_servers_noting_new(ctx, store, names)
        .await?
        .into_iter()
        .map(|booted| booted.record)
        .collect())
}

/// A server [`boot_servers_noting_new`] brought up.
#[derive(Debug, Clone)]
pub struct Booted {
    /// Its record, as in the state file.
    pub record: Record,
    /// Whether this boot created it: `false` for a server that was booted already (running, or
    /// off and started again with its disk as it was), which may be serving already.
    pub created: bool,
}

/// [`boot_servers`], saying of each server whether this boot created it (a new server has
/// nothing set up on it yet: a load balancer serves nothing until it is launched).
pub async fn boot_servers_noting_new(
    ctx: &Ctx,
    store: &ServerStore,
    names: &[String],
) -> anyhow::Result<Vec<Booted>> {
    let (keys, notes) = operator_public_keys(ctx.inventory(), ctx.connect_options()).await?;
    for note in notes {
        ctx.log(note);
    }
    let mut running = JoinSet::new();
    for (index, name) in names.iter().enumerate() {
        let (provider, settings) = store.provider_for(ctx, name)?;
        let spec = spec_for(ctx, name, &settings, &keys)?;
        let wait = wait_for(provider.as_ref(), &settings)?;
        let state = Arc::clone(&store.state);
        let log = ctx.clone();
        running.spawn(async move {
            let booted = boot_one(&log, &state, provider, spec, wait).await;
            (index, booted)
        });
    }
    let mut results: Vec<Option<anyhow::Result<Booted>>> = names.iter().map(|_| None).collect();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, booted)) => results[index] = Some(booted),
            Err(e) => {
                anyhow::bail!("a boot stopped unexpectedly: {e} (a bug in dm: please report it)")
            }
        }
    }
    let mut records = Vec::new();
    let mut failures = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match result {
            Some(Ok(record)) => records.push(record),
            Some(Err(e)) => failures.push(format!("{name}: {e:#}")),
            None => failures.push(format!("{name}: its boot did not report back")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("could not boot every server:\n  {}", failures.join("\n  "));
    }
    Ok(records)
}

/// Creates one server (write-ahead in the state file), waits until it answers, records it.
async fn boot_one(
    ctx: &Ctx,
    state: &dm_providers::State,
    provider: Arc<dyn Provider>,
    spec: ServerSpec,
    wait: Wait,
) -> anyhow::Result<Booted> {
    let known = state
        .get(&spec.name, spec.environment.as_deref())
        .map(|r| r.status);
    let already = known == Some(ServerStatus::Running);
    // Booted before, now off: it comes back with its disk (and its setup) as it was.
    let created = !matches!(known, Some(ServerStatus::Running | ServerStatus::Off));
    ctx.log(format!(
        "{}: {} with provider {}",
        spec.name,
        if already { "already booted" } else { "booting" },
        provider.name()
    ));
    let record = state.create(provider.as_ref(), &spec).await?;
    let id = record.id.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the provider returned no id for the new server",
            spec.name
        )
    })?;
    // A server that is off will not come up by waiting (a local machine after this host
    // rebooted, a cloud server powered off): start it, with its disk as it was.
    if provider.status(&id).await?.status == ServerStatus::Off {
        ctx.log(format!("{}: is off, starting it", spec.name));
        provider.start(&id).await?;
    }
    let server = provider.wait_ready(&id, &wait).await?;
    let record = state.update(&server)?;
    ctx.log(format!(
        "{}: up at {} (roles: {})",
        record.name,
        record
            .address()
            .map_or_else(|| "no address".to_string(), |a| a.to_string()),
        if record.roles.is_empty() {
            "none".to_string()
        } else {
            record.roles.join(", ")
        }
    ));
    Ok(Booted { record, created })
}

/// The spec of server `name`: its roles (the inventory's for that name, else inferred from the
/// name), the operator's keys, the provider settings' size, image, region and tags, and the
/// environment it is booted for (see [`super::providers::record_environment`]).
fn spec_for(
    ctx: &Ctx,
    name: &str,
    settings: &toml::Table,
    keys: &[String],
) -> anyhow::Result<ServerSpec> {
    let text = |key: &str, local_default: &str| -> anyhow::Result<String> {
        match settings.get(key) {
            Some(toml::Value::String(value)) => Ok(value.clone()),
            Some(other) => {
                anyhow::bail!("{name}: provider setting `{key}` must be a string, not {other}")
            }
            None => Ok(local_default.to_string()),
        }
    };
    let is_local = settings
        .get("name")
        .and_then(|v| v.as_str())
        .is_none_or(|n| n == "local");
    // The local provider has one size, one image and one region; the clouds need them given.
    let default = |value: &'static str| if is_local { value } else { "" };
    let declared = ctx
        .inventory()
        .server(name)
        .or_else(|| ctx.inventory().unbooted_server(name));
    let roles = match declared {
        Some(host) => host.roles.clone(),
        None => inferred_role(name).into_iter().collect(),
    };
    let tags = match settings.get("tags") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    anyhow::anyhow!("{name}: provider setting `tags` must list strings, not {item}")
                })
            })
            .collect::<anyhow::Result<_>>()?,
        Some(other) => anyhow::bail!("{name}: provider setting `tags` must be a list, not {other}"),
    };
    let mut spec = ServerSpec::new(
        name,
        text("size", default("local"))?,
        text("image", default("debian-12"))?,
        text("region", default("local"))?,
    );
    spec.ssh_keys = keys.to_vec();
    spec.roles = roles;
    spec.tags = tags;
    // The run's environment, or the one of another environment's server that the run's
    // environment lists (then it is that server, booted already).
    spec.environment = super::providers::record_environment(ctx, name);
    Ok(spec)
}
