//! `launch SERVER|ROLE...`: apply the recipe of each role of the selected servers.
//!
//! Server types and the recipes they stand for:
//!
//! | role            | recipes                                          |
//! |-----------------|--------------------------------------------------|
//! | `dbserver`      | PostgreSQL ([`crate::postgres::dbserver`])       |
//! | `cachenode`     | Redis ([`crate::redis::cachenode`])              |
//! | `appnode`       | the app ([`crate::appnode::appnode`]) and its database connection ([`crate::postgres::client`]) |
//! | `loadbalancer`  | nginx in front of every app node ([`crate::loadbalancer::loadbalancer`]) |
//! | `appbalancer`   | load balancer + app node + cache node            |
//! | `dbappbalancer` | all four                                         |
//!
//! (The combined roles are defined once, in [`crate::roles`].)
//!
//! On one server the recipes run in that order: database, cache, app, load balancer, so that what
//! a recipe may use on the same machine is there first. Servers run in parallel. Every recipe is
//! idempotent: launching again changes nothing, and launching after a change to the inventory
//! (a new app node) brings every server to the new state (the load balancer's upstream, the
//! database's allowed clients).
//!
//! With a `[dns]` table, once every selected server has been launched and one of them is a load
//! balancer, the name's A records are made the load balancers' addresses, once for the run, after
//! every server finished (see [`crate::servers`](mod@crate::servers) and
//! `dm_core::Ctx::after_all_hosts`), leaving out load balancers whose launch failed.

use dm_core::Ctx;
use dm_core::host::Host;
use dm_macros::task;

/// One building block of a server, in the order they are applied on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recipe {
    /// PostgreSQL: [`crate::postgres::dbserver`].
    DbServer,
    /// Redis: [`crate::redis::cachenode`].
    CacheNode,
    /// The application: [`crate::appnode::appnode`], then its database connection
    /// ([`crate::postgres::client`]) when the inventory has a database server.
    AppNode,
    /// nginx balancing the app nodes: [`crate::loadbalancer::loadbalancer`], under the load
    /// balancer's deploy lock ([`crate::deploy::with_deploy_lock`]).
    LoadBalancer,
}

impl Recipe {
    /// Every recipe, in launch order.
    pub const ALL: [Recipe; 4] = [
        Recipe::DbServer,
        Recipe::CacheNode,
        Recipe::AppNode,
        Recipe::LoadBalancer,
    ];

    /// The recipe of the base role `role` (`dbserver`, ...), or `None` for any other role.
    pub fn of_base_role(role: &str) -> Option<Recipe> {
        Recipe::ALL.into_iter().find(|recipe| recipe.role() == role)
    }

    /// The basic role this recipe is named after (`dbserver`, `appnode`, ...).
    pub fn role(self) -> &'static str {
        match self {
            Recipe::DbServer => "dbserver",
            Recipe::CacheNode => "cachenode",
            Recipe::AppNode => "appnode",
            Recipe::LoadBalancer => "loadbalancer",
        }
    }

    /// Applies this recipe on `ctx`'s host.
    pub async fn apply(self, ctx: &Ctx) -> anyhow::Result<()> {
        match self {
            Recipe::DbServer => crate::postgres::dbserver(ctx).await,
            Recipe::CacheNode => crate::redis::cachenode(ctx).await,
            Recipe::AppNode => {
                crate::appnode::appnode(ctx).await?;
                crate::postgres::client(ctx).await
            }
            // Its site and upstream change only under the load balancer's deploy lock: a deploy
            // draining a node, or `scale`, holds it (and is not undone halfway).
            Recipe::LoadBalancer => {
                crate::deploy::with_deploy_lock(ctx, "launch", || {
                    crate::loadbalancer::loadbalancer(ctx)
                })
                .await
            }
        }
    }
}

/// The recipes role `role` stands for (its base roles', see [`crate::roles`]), in launch
/// order, or `None` for a role `launch` does not know.
pub fn recipes_of_role(role: &str) -> Option<Vec<Recipe>> {
    crate::roles::base_roles_of(role).map(|bases| {
        bases
            .iter()
            .filter_map(|b| Recipe::of_base_role(b))
            .collect()
    })
}

/// The recipes of every role of `host`, in launch order, each once.
///
/// Fails, naming the server and listing the known roles, when one of its roles is unknown, and
/// when it has no role at all.
pub fn recipes_of_host(host: &Host) -> anyhow::Result<Vec<Recipe>> {
    let known = || {
        crate::roles::ROLES
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if host.roles.is_empty() {
        anyhow::bail!(
            "{}: the server has no role, so launch does not know what to set up; give it roles \
             in dm.toml (roles = [\"appnode\"]; known roles: {})",
            host.name,
            known()
        );
    }
    let mut recipes = Vec::new();
    for role in &host.roles {
        let Some(of_role) = recipes_of_role(role) else {
            anyhow::bail!(
                "{}: launch does not know role `{role}`; known roles: {}. Fix the server's roles \
                 in dm.toml, or launch only the servers with known roles (`launch appnode ...`)",
                host.name,
                known()
            );
        };
        recipes.extend(of_role);
    }
    recipes.sort();
    recipes.dedup();
    Ok(recipes)
}

/// Applies the recipe of each role of `ctx`'s host, in launch order (database, cache, app, load
/// balancer). Stops at the first recipe that fails.
pub async fn launch_host(ctx: &Ctx) -> anyhow::Result<()> {
    for recipe in recipes_of_host(ctx.host())? {
        recipe.apply(ctx).await?;
    }
    Ok(())
}

/// Set up servers for their roles: `launch` (every server), `launch appnode`, `launch db1 lb1`.
///
/// Each server gets the recipe of each of its roles (dbserver: PostgreSQL, cachenode: Redis,
/// appnode: the app, loadbalancer: nginx; appbalancer and dbappbalancer combine them). Run it
/// again at any time: it changes only what differs. With a `[dns]` table, once every server is
/// launched and one of them is a load balancer, the name's A records point at the load
/// balancers, but for those whose launch failed.
#[task]
pub async fn launch(
    ctx: &Ctx,
    #[arg(hosts, help = "servers or roles to launch (default: every server)")] targets: Vec<String>,
) -> anyhow::Result<()> {
    // The values select the hosts this runs on (done by the command line); nothing else to do.
    let _ = targets;
    let launched = launch_host(ctx).await;
    crate::servers::follow_launch(ctx, launched.is_ok());
    launched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, roles: &[&str]) -> Host {
        let mut host = Host::new(name, "10.231.0.2");
        host.roles = roles.iter().map(|r| r.to_string()).collect();
        host
    }

    #[test]
    fn combined_roles_apply_in_launch_order() {
        let recipes = recipes_of_host(&host("all", &["dbappbalancer"])).expect("known");
        assert_eq!(
            recipes,
            [
                Recipe::DbServer,
                Recipe::CacheNode,
                Recipe::AppNode,
                Recipe::LoadBalancer
            ]
        );
        let recipes =
            recipes_of_host(&host("ab", &["loadbalancer", "appbalancer"])).expect("known");
        assert_eq!(
            recipes,
            [Recipe::CacheNode, Recipe::AppNode, Recipe::LoadBalancer]
        );
    }

    #[test]
    fn an_unknown_role_is_named() {
        let err = recipes_of_host(&host("web1", &["appnode", "webserver"])).expect_err("unknown");
        let message = err.to_string();
        assert!(message.contains("web1"), "{message}");
        assert!(message.contains("`webserver`"), "{message}");
        assert!(message.contains("dbappbalancer"), "{message}");
    }
}
