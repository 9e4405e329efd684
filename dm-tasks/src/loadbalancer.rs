//! The `loadbalancer` role: nginx as a reverse proxy in front of every app node of the inventory.
//!
//! [`loadbalancer`] installs nginx and a site that proxies to an upstream of every server with
//! role `appnode` (or the combined `appbalancer` / `dbappbalancer`) of the active environment, at
//! its private address ([`crate::private_address`]) and its `app.port`. Passive health checks
//! (`max_fails`, `fail_timeout`) and `proxy_next_upstream` move requests off a node that fails,
//! so a removed or dead node does not fail requests. [`update_upstream`] rewrites only the
//! upstream and reloads gracefully (scaling: no request is dropped). Every configuration change
//! is tested with `nginx -t` before it goes live ([`crate::nginx::ValidatedConfig`]).
//!
//! # Variables
//! - `app.name` (default `app`): names the site (`/etc/nginx/sites-enabled/NAME.conf`), the
//!   upstream (`/etc/nginx/conf.d/NAME-upstream.conf`, `upstream NAME_app`) and the maintenance
//!   flag. Letters, digits, `-` and `_`.
//! - `app.port` (default 8000), read from each app node's own vars: where its app server listens.
//! - `app.path` (default `/srv/NAME`) and `app.static_dir`: on a load balancer that is also an
//!   app node, `/static/` is served from `PATH/current/STATIC_DIR`.
//! - `nginx.domain` (default `_`, any name): `server_name`.
//! - `nginx.tls` (or a top-level `tls`; default false): also listen on 443 with TLS. Without
//!   `nginx.tls_certificate` and `nginx.tls_certificate_key` (paths on the host), a self-signed
//!   certificate for the domain (or the host's name) is generated on the host with openssl.
//! - `nginx.static_root`, `nginx.media_root`: directories on the load balancer served at
//!   `/static/` and `/media/` (override the default above).
//! - `nginx.client_max_body_size` (default `10m`), `nginx.max_fails` (default 3),
//!   `nginx.fail_timeout` (default `10s`).
//!
//! Maintenance mode is not a variable: it is state on the load balancer, toggled by the
//! `maintenance on|off` task ([`crate::maintenance`](mod@crate::maintenance)).

mod drain;
mod settings;

use std::sync::Arc;

use dm_core::Ctx;
use dm_core::ctx::FanOutResult;
use dm_core::host::Host;
use dm_core::ops;

use crate::nginx::{self, Backend, ValidatedConfig};
use crate::roles;
pub(crate) use drain::drain;
pub use settings::LoadBalancerSettings;

/// Whether `host` runs the app (and so is an upstream server): it plays `appnode`, itself or
/// through `appbalancer` or `dbappbalancer` ([`crate::roles::plays`]).
pub fn is_app_node(host: &Host) -> bool {
    roles::plays(host, "appnode")
}

/// The app nodes of the context's inventory (active environment), in inventory order.
pub fn app_nodes(ctx: &Ctx) -> Vec<Host> {
    roles::servers_with_role(ctx.inventory(), "appnode")
        .into_iter()
        .cloned()
        .collect()
}

/// The upstream servers for `app_nodes`: each at its private address and its own `app.port`.
pub fn backends(app_nodes: &[Host]) -> anyhow::Result<Vec<Backend>> {
    app_nodes
        .iter()
        .map(|host| {
            let port = settings::app_port(host)?;
            // Written unquoted into the upstream file: `10.0.0.5:80; include /etc/shadow` would
            // add a directive.
            let address = crate::private_address(host);
            dm_core::inventory::check_address(&address).map_err(|why| {
                anyhow::anyhow!(
                    "{}: its address for the load balancer's upstream (variable \
                     `private_address`, else its address) is wrong: {why}",
                    host.name
                )
            })?;
            Ok(Backend::new(&host.name, &address, port))
        })
        .collect()
}

/// Sets up the context's host as the load balancer of every app node of the inventory: nginx,
/// the site with its upstream, TLS when asked, the maintenance page. Idempotent: a second run
/// changes nothing.
pub async fn loadbalancer(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = LoadBalancerSettings::read(ctx.host())?;
    let nodes = app_nodes(ctx);
    let upstream = upstream_text(ctx, &settings, &nodes)?;
    let mut step = ctx.step();
    nginx::add_install(&mut step);
    let mut site = settings.site.clone();
    if site.tls && settings.generate_certificate {
        let files =
            nginx::self_signed_certificate(&mut step, &site.name, &settings.certificate_name);
        site.tls_certificate = files.certificate;
        site.tls_certificate_key = files.key;
    }
    let site_text = nginx::render_site(&site)?;
    let page = nginx::render_maintenance_page(&site)?;
    if let Some(flag_dir) = std::path::Path::new(&site.maintenance_flag).parent() {
        // nginx's workers test the flag: its directories must be searchable by them.
        step.add(ops::Directory::new(&flag_dir.display().to_string()).mode(0o755));
    }
    step.add(ops::Directory::new(&site.maintenance_root).mode(0o755));
    step.add(
        ops::File::bytes(
            &format!("{}/dm-maintenance.html", site.maintenance_root),
            page,
        )
        .mode(0o644),
    );
    step.add(
        ValidatedConfig::new()
            .bytes(&settings.upstream_path(), upstream)
            .bytes(&settings.site_path(), site_text)
            .notify(nginx::RELOAD),
    );
    step.apply().await?;
    Ok(())
}

/// Rewrites only the upstream of the context's load balancer to `app_nodes` (each at its private
/// address and `app.port`), tests the configuration and reloads nginx gracefully: requests in
/// flight finish on the old workers, new ones go to the new list. Nothing changes (and nothing
/// reloads) when the list is already right.
pub async fn update_upstream(ctx: &Ctx, app_nodes: &[Host]) -> anyhow::Result<()> {
    let settings = LoadBalancerSettings::read(ctx.host())?;
    let upstream = upstream_text(ctx, &settings, app_nodes)?;
    let mut step = ctx.step();
    step.add(
        ValidatedConfig::new()
            .bytes(&settings.upstream_path(), upstream)
            .notify(nginx::RELOAD),
    );
    step.reaction(nginx::RELOAD, nginx::reload_reaction());
    step.apply().await?;
    Ok(())
}

/// The upstream file for `nodes`, after saying which nodes it lists.
fn upstream_text(
    ctx: &Ctx,
    settings: &LoadBalancerSettings,
    nodes: &[Host],
) -> anyhow::Result<String> {
    if nodes.is_empty() {
        anyhow::bail!(
            "{}: no app nodes to balance: the inventory{} has no server with role {}; add one \
             (or run the load balancer once there is one)",
            ctx.name(),
            ctx.inventory()
                .environment()
                .map(|e| format!(" (environment {e})"))
                .unwrap_or_default(),
            roles::roles_playing("appnode").join(", ")
        );
    }
    let upstream = settings.upstream(backends(nodes)?);
    let list: Vec<String> = upstream
        .backends
        .iter()
        .map(|b| format!("{} ({})", b.name, b.endpoint))
        .collect();
    ctx.log(format!("upstream {}: {}", upstream.name, list.join(", ")));
    Ok(nginx::render_upstream(&upstream)?)
}

/// Points every load balancer of `ctx`'s inventory (but those in `leaving`) at `app_nodes`.
///
/// The caller holds the deploy lock of each of them (`held` names the hosts whose lock it
/// holds; see `crate::deploy::lock_set`), so that no deploy, `scale` or `launch` edits their
/// configuration meanwhile: a load balancer missing from `held` is a mistake of the caller, and
/// nothing is changed.
pub(crate) async fn update_load_balancers(
    ctx: &Ctx,
    app_nodes: &[Host],
    leaving: &[String],
    held: &[String],
) -> anyhow::Result<()> {
    let balancers: Vec<Host> = roles::servers_with_role(ctx.inventory(), "loadbalancer")
        .into_iter()
        .filter(|h| !leaving.contains(&h.name))
        .cloned()
        .collect();
    if balancers.is_empty() {
        return Ok(());
    }
    let unlocked: Vec<&str> = balancers
        .iter()
        .filter(|h| !held.contains(&h.name))
        .map(|h| h.name.as_str())
        .collect();
    anyhow::ensure!(
        unlocked.is_empty(),
        "the upstream of {} was not changed: this run does not hold their deploy lock, which \
         every change of a load balancer's upstream takes (a bug in the task: please report it)",
        unlocked.join(", ")
    );
    ctx.log(format!(
        "load balancers {}: upstream now {}",
        balancers
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        app_nodes
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let nodes = Arc::new(app_nodes.to_vec());
    let outcomes = ctx
        .on_hosts(balancers, move |ctx| {
            let nodes = Arc::clone(&nodes);
            async move { update_upstream(&ctx, &nodes).await }
        })
        .await;
    FanOutResult::all_ok(outcomes)
}
