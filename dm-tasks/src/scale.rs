//! `scale ROLE=N`: grow or shrink a role, keeping the load balancer right at every moment.
//!
//! Up: new app nodes start on the commit live on the others (read first: after a `rollback` that
//! is not the branch tip; nodes that disagree stop the run before anything is booted); boot the
//! new servers in parallel; let the database and cache servers admit them
//! (firewall and `pg_hba` follow the inventory, which now lists them); provision and launch them
//! in parallel; and only then add them to every load balancer's upstream. Until that last step
//! no request reaches a server that is not ready.
//!
//! Down: remove the servers from every load balancer's upstream first (a graceful nginx reload:
//! requests in flight finish), drain them (wait until no request is open on them), then destroy
//! them, then let the database and cache servers forget them. Only servers dm booted (in the
//! state file) are removed, the highest-numbered first; servers declared in the inventory alone
//! are never destroyed.
//!
//! Either way, with a `[dns]` table the name's A records then follow the load balancers (see
//! [`crate::servers`](mod@crate::servers)); load balancers scaled down leave DNS before they are destroyed.

use std::str::FromStr;
use std::time::Duration;

use dm_core::Ctx;
use dm_core::ctx::FanOutResult;
use dm_core::host::Host;
use dm_core::inventory::{Inventory, natural_cmp};
use dm_macros::task;

use crate::deploy::with_locks;
use crate::launch::Recipe;
use crate::loadbalancer::{drain, update_load_balancers};
use crate::roles::{plays, servers_with_role};
use crate::servers::{
    ServerStore, boot_servers, check_local_access, destroy_servers, follow_load_balancers,
    recorded, sync_dns,
};

/// `ROLE=N`: how many servers role `ROLE` should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleTarget {
    /// The role, e.g. `appnode`.
    pub role: String,
    /// How many servers it should have.
    pub count: usize,
}

impl FromStr for ScaleTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<ScaleTarget, String> {
        let (role, count) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not ROLE=N; write e.g. appnode=3"))?;
        let role = role.trim();
        let valid_role = !role.is_empty()
            && role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_role {
            return Err(format!("`{role}` is not a role name; write e.g. appnode=3"));
        }
        let count = count.trim().parse().map_err(|_| {
            format!(
                "`{}` is not a number of servers; write e.g. {role}=3",
                count.trim()
            )
        })?;
        Ok(ScaleTarget {
            role: role.to_string(),
            count,
        })
    }
}

/// Scale a role up or down: `scale appnode=3`.
///
/// Up: boots the new servers (named ROLE1, ROLE2, ... skipping names in use), provisions and
/// launches them in parallel, and only then adds them to the load balancers. Down: removes the
/// highest-numbered servers dm booted from the load balancers, drains them, then destroys them.
/// With a `[dns]` table, the name's A records then point at the load balancers. With --check,
/// says which servers it would boot or destroy and changes nothing.
#[task(local)]
pub async fn scale(
    ctx: &Ctx,
    #[arg(help = "ROLE=N: how many servers the role should have, e.g. appnode=3")]
    target: ScaleTarget,
    #[arg(
        help = "seconds to wait, when scaling down, for requests in flight on the removed servers",
        default = "30"
    )]
    drain_timeout: u64,
) -> anyhow::Result<()> {
    scale_role(
        ctx,
        &target.role,
        target.count,
        Duration::from_secs(drain_timeout),
    )
    .await
}

/// Scales role `role` to `count` servers (see the module docs); `drain_timeout` bounds the wait
/// for requests in flight when scaling down.
pub async fn scale_role(
    ctx: &Ctx,
    role: &str,
    count: usize,
    drain_timeout: Duration,
) -> anyhow::Result<()> {
    check_local_access(ctx, &[format!("{role}1")])?;
    // The servers as they are now (the state file may list servers booted since the run began).
    let now = ctx.with_inventory(ctx.inventory().reload()?);
    let current: Vec<Host> = servers_with_role(now.inventory(), role)
        .into_iter()
        .cloned()
        .collect();
    if count == current.len() {
        ctx.log(format!("{role}: already {count} server(s); nothing to do"));
        return Ok(());
    }
    if ctx.check_mode() {
        return check_scale(&now, role, &current, count);
    }
    let store = ServerStore::open(ctx).await?;
    let balancers = |except: &[String]| -> Vec<Host> {
        servers_with_role(now.inventory(), "loadbalancer")
            .into_iter()
            .filter(|h| !except.contains(&h.name))
            .cloned()
            .collect()
    };
    // The load balancers' deploy locks are held from before anything is booted or taken out
    // until the upstream is right again: a deploy (which takes them too) never drains a node
    // meanwhile, never puts a removed one back, and never changes the commit new nodes start on.
    let (now, store) = (&now, &store);
    if count > current.len() {
        let more = count - current.len();
        with_locks(now, balancers(&[]), "scale", LOCKED, |held| async move {
            scale_up(now, store, role, more, &held.hosts()).await
        })
        .await?;
    } else {
        let victims = victims(now, store, role, &current, current.len() - count)?;
        let names: Vec<String> = victims.iter().map(|h| h.name.clone()).collect();
        // Load balancers being removed need no lock: their upstream is not changed.
        with_locks(now, balancers(&names), "scale", LOCKED, |held| async move {
            scale_down(now, store, role, &victims, drain_timeout, &held.hosts()).await
        })
        .await?;
    }
    // The `[dns]` name follows the load balancers now in service (nothing without `[dns]`).
    follow_load_balancers(ctx).await
}

/// `--check`: says which servers scaling `role` from `current` to `count` would boot or
/// destroy, and touches nothing (no state file lock, no provider, no host).
fn check_scale(ctx: &Ctx, role: &str, current: &[Host], count: usize) -> anyhow::Result<()> {
    if count > current.len() {
        let names = new_names(ctx.inventory(), role, count - current.len());
        ctx.log(format!(
            "check mode: {role}: would boot {}, provision and launch them, then add them to the \
             load balancers",
            names.join(", ")
        ));
        return Ok(());
    }
    let records = recorded(ctx)?;
    let removable = removable(ctx, &records, current);
    let fewer = current.len() - count;
    if removable.len() < fewer {
        anyhow::bail!(
            "{role}: cannot remove {fewer} server(s): only {} of its servers were booted by dm",
            removable.len()
        );
    }
    let names: Vec<&str> = removable[removable.len() - fewer..]
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    ctx.log(format!(
        "check mode: {role}: would take {} out of the load balancers, drain and destroy them",
        names.join(", ")
    ));
    Ok(())
}

/// Which hosts `scale` locks, as its refusal says.
const LOCKED: &str = "the load balancers";

/// Adds `more` servers to `role`; `ctx` sees the servers as they were before. The run holds
/// the deploy locks of the load balancers named in `held`.
async fn scale_up(
    ctx: &Ctx,
    store: &ServerStore,
    role: &str,
    more: usize,
    held: &[String],
) -> anyhow::Result<()> {
    let names = new_names(ctx.inventory(), role, more);
    if let Some(root) = servers_with_role(ctx.inventory(), role)
        .into_iter()
        .find(|h| h.user == "root")
    {
        anyhow::bail!(
            "{role}: its servers log in as root ({} does), and provisioning the new ones would \
             refuse root logins from then on: set `user = \"admin\"` (the `admin.user`) under \
             [defaults] in dm.toml; scale provisions new servers as root by itself",
            root.name
        );
    }
    if crate::roles::base_roles_of(role).is_some_and(|bases| bases.contains(&"appnode")) {
        // New app nodes start on the release the others serve (e.g. after a rollback), never
        // on a branch tip the fleet does not run; nodes that disagree stop the run here.
        let app_nodes: Vec<Host> = servers_with_role(ctx.inventory(), "appnode")
            .into_iter()
            .cloned()
            .collect();
        let live = crate::deploy::live_commit(ctx, &app_nodes)
            .await
            .map_err(|e| e.context(format!("{role}: nothing was booted")))?;
        if let Some(commit) = live {
            ctx.log(format!(
                "{role}: the new servers start on commit {commit}, live on {}",
                app_nodes
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            ctx.run_state::<crate::deploy::FirstDeployCommit>()
                .set(commit);
        }
    }
    ctx.log(format!("{role}: adding {}", names.join(", ")));
    boot_servers(ctx, store, &names).await?;
    let not_ready = |step: &str| {
        format!(
            "{role}: {} booted, but {step} failed, so the load balancers were not changed; fix \
             the cause, then run `provision {names}`, `launch {names}` and `launch loadbalancer`",
            names.join(", "),
            names = names.join(" ")
        )
    };
    // From here on, with the servers just booted: recipes that read the inventory (a database
    // admitting app nodes, a firewall, the load balancers' upstream) see them.
    let grown = ctx.with_inventory(ctx.inventory().reload()?);
    let inventory = grown.inventory();
    let new_hosts: Vec<Host> = names
        .iter()
        .filter_map(|name| inventory.server(name).cloned())
        .collect();
    if new_hosts.len() != names.len() {
        anyhow::bail!(
            "the new servers {} are booted but not in the inventory's environment `{}`; add them \
             to its `servers` list, or scale without -E",
            names.join(", "),
            inventory.environment().unwrap_or("-")
        );
    }
    // The database and cache servers admit the new servers before these use them.
    admit(&grown, &names).await.map_err(|e| {
        e.context(not_ready(
            "admitting them on the database and cache servers",
        ))
    })?;
    ctx.log(format!(
        "{role}: provisioning and launching {}",
        names.join(", ")
    ));
    // A bare server lets only root in: provision logs in as root when the inventory's user
    // (the administrator it creates) is refused, as the `provision` task does.
    let mut logins = Vec::new();
    for host in &new_hosts {
        let login = crate::provision::choose_login(host, ctx.connect_options(), "root")
            .await
            .map_err(|e| e.context(not_ready("logging in to provision them")))?;
        logins.push(login.host);
    }
    let outcomes = grown
        .on_hosts(logins, |ctx| async move {
            crate::provision::provision_host(&ctx).await
        })
        .await;
    FanOutResult::all_ok(outcomes).map_err(|e| e.context(not_ready("provisioning")))?;
    let outcomes = grown
        .on_hosts(new_hosts.clone(), |ctx| async move {
            crate::launch::launch_host(&ctx).await
        })
        .await;
    FanOutResult::all_ok(outcomes).map_err(|e| e.context(not_ready("launching")))?;
    if new_hosts.iter().any(|h| plays(h, "appnode")) {
        let app_nodes: Vec<Host> = servers_with_role(inventory, "appnode")
            .into_iter()
            .cloned()
            .collect();
        update_load_balancers(&grown, &app_nodes, &names, held).await?;
    }
    ctx.log(format!("{role}: {} server(s) added", names.len()));
    Ok(())
}

/// The servers of `current` that dm booted for this run's environment (the only ones scaling
/// down may remove), in natural name order: the last ones go first.
fn removable<'h>(
    ctx: &Ctx,
    records: &[dm_providers::Record],
    current: &'h [Host],
) -> Vec<&'h Host> {
    let booted: Vec<&str> = records
        .iter()
        .filter(|r| crate::servers::record_of(ctx, records, &r.name) == Some(*r))
        .map(|r| r.name.as_str())
        .collect();
    let mut removable: Vec<&Host> = current
        .iter()
        .filter(|h| booted.contains(&h.name.as_str()))
        .collect();
    removable.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    removable
}

/// The `fewer` servers of `current` (the servers of `role`) that scaling down removes: the
/// last ones dm booted. Fails when dm booted fewer.
fn victims(
    ctx: &Ctx,
    store: &ServerStore,
    role: &str,
    current: &[Host],
    fewer: usize,
) -> anyhow::Result<Vec<Host>> {
    let records = store.state.records();
    let removable = removable(ctx, &records, current);
    if removable.len() < fewer {
        anyhow::bail!(
            "{role}: cannot remove {fewer} server(s): only {} of its servers were booted by dm \
             ({}); servers declared only in the inventory are not removed",
            removable.len(),
            removable
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(removable[removable.len() - fewer..]
        .iter()
        .map(|h| (*h).clone())
        .collect())
}

/// Removes `victims` (servers of `role`); `ctx` sees the servers as they are. The run holds the
/// deploy locks of the load balancers named in `held`.
async fn scale_down(
    ctx: &Ctx,
    store: &ServerStore,
    role: &str,
    victims: &[Host],
    drain_timeout: Duration,
    held: &[String],
) -> anyhow::Result<()> {
    let names: Vec<String> = victims.iter().map(|h| h.name.clone()).collect();
    ctx.log(format!("{role}: removing {}", names.join(", ")));
    let inventory = ctx.inventory();
    if victims.iter().any(|h| plays(h, "appnode")) {
        let remaining: Vec<Host> = servers_with_role(inventory, "appnode")
            .into_iter()
            .filter(|h| !names.contains(&h.name))
            .cloned()
            .collect();
        if remaining.is_empty() && !servers_with_role(inventory, "loadbalancer").is_empty() {
            anyhow::bail!(
                "{role}: removing {} would leave the load balancers without an app node; keep at \
                 least one",
                names.join(", ")
            );
        }
        update_load_balancers(ctx, &remaining, &names, held).await?;
        ctx.log(format!("{role}: draining {}", names.join(", ")));
        let outcomes = ctx
            .on_hosts(victims.to_vec(), move |ctx| async move {
                let port = crate::app::AppConfig::from_ctx(&ctx)?.port;
                drain(&ctx, port, drain_timeout).await?;
                Ok(())
            })
            .await;
        FanOutResult::all_ok(outcomes)?;
    }
    if victims.iter().any(|h| plays(h, "loadbalancer")) {
        // Out of DNS before they go, so clients are not sent to a destroyed server.
        sync_dns(ctx, inventory, &names).await?;
    }
    destroy_servers(ctx, store, &names).await?;
    // Without the destroyed servers, so the database and cache servers forget them.
    let shrunk = ctx.with_inventory(ctx.inventory().reload()?);
    admit(&shrunk, &[]).await?;
    ctx.log(format!("{role}: {} server(s) removed", names.len()));
    Ok(())
}

/// Brings the database and cache servers (but those in `except`, which are being set up) in
/// line with `ctx`'s inventory: firewall (provision) and their own recipes, which admit
/// exactly the inventory's app nodes.
async fn admit(ctx: &Ctx, except: &[String]) -> anyhow::Result<()> {
    let services: Vec<Host> = ctx
        .inventory()
        .servers()
        .filter(|h| !except.contains(&h.name))
        .filter(|h| plays(h, "dbserver") || plays(h, "cachenode"))
        .cloned()
        .collect();
    if services.is_empty() {
        return Ok(());
    }
    let outcomes = ctx
        .on_hosts(services, |ctx| async move {
            crate::provision::provision_host(&ctx).await?;
            if plays(ctx.host(), "dbserver") {
                Recipe::DbServer.apply(&ctx).await?;
            }
            if plays(ctx.host(), "cachenode") {
                Recipe::CacheNode.apply(&ctx).await?;
            }
            Ok(())
        })
        .await;
    FanOutResult::all_ok(outcomes)
}

/// `count` unused names `ROLE1`, `ROLE2`, ...: the lowest numbers no server of the inventory
/// (in any environment of its state) has.
fn new_names(inventory: &Inventory, role: &str, count: usize) -> Vec<String> {
    (1..)
        .map(|n| format!("{role}{n}"))
        .filter(|name| inventory.server(name).is_none())
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_mistakes_say_what_to_write() {
        assert_eq!(
            "appnode=3".parse::<ScaleTarget>(),
            Ok(ScaleTarget {
                role: "appnode".into(),
                count: 3
            })
        );
        assert!(
            "appnode"
                .parse::<ScaleTarget>()
                .unwrap_err()
                .contains("ROLE=N")
        );
        assert!(
            "appnode=x"
                .parse::<ScaleTarget>()
                .unwrap_err()
                .contains("appnode=3")
        );
        assert!("=3".parse::<ScaleTarget>().is_err());
    }
}
