//! `provision`: a bare Debian server made ready for its roles, safely.
//!
//! `provision [SERVER|ROLE...]` (or `-H`/`-R`) converges, on every selected server at once:
//! - base packages (sudo, openssh-server, nftables, locales, tzdata, unattended-upgrades,
//!   ca-certificates, curl) and `admin.packages`;
//! - the time zone and the locale;
//! - the administrator: a user with the operator's SSH keys and passwordless sudo (its sudoers
//!   file checked with `visudo -cf` before it lands);
//! - unattended security upgrades;
//! - the firewall (nftables, checked with `nft -c -f` before it lands): inbound traffic dropped
//!   except SSH, what the server's roles need from the current inventory, and `admin.ports`
//!   (see [`firewall`]);
//! - sshd hardened (no root login, no passwords; a drop-in checked with `sshd -t`), kept only
//!   after a new connection as the administrator worked (see [`lockout_guard`]).
//!
//! A second run changes nothing. Every step is an idempotent operation.
//!
//! # Bootstrapping
//! On a bare server only root can log in; after provision, only the administrator can. Point
//! the inventory at the administrator (`[defaults] user = "admin"`) and run provision in either
//! state: when that user is refused, provision logs in as root (or `--bootstrap-user NAME`, e.g.
//! a cloud image's `debian`) for that run.
//!
//! # Variables (`admin` table, every key optional)
//! - `admin.user`: the administrator's login (default `admin`);
//! - `admin.keys`: public key lines that may log in as it (default: the keys this run connects
//!   with: the `.pub` of each identity file, `-i`, `identity_file`, else `~/.ssh/id_ed25519`,
//!   `id_ecdsa`, `id_rsa`, and the ssh-agent's keys);
//! - `admin.timezone` (default `UTC`), `admin.locale` (default `en_US.UTF-8`);
//! - `admin.packages`: more Debian packages;
//! - `admin.ports`: more TCP ports open to everyone.
//!
//! The firewall also reads `app.port` (default 8000) and `redis.port` (default 6379) of the
//! server, and `private_address` of the other servers.

mod admin_account;
pub mod firewall;
mod locale;
pub mod lockout_guard;
mod login;
mod settings;
mod sshd;
mod timezone;
mod upgrades;
mod validated_file;

use dm_core::ctx::FanOutResult;
use dm_core::{Ctx, ops};
use dm_macros::task;
use tokio::task::JoinSet;

pub use crate::operator_keys::operator_keys;
pub use admin_account::{add_admin_account, render_sudoers, sudoers_path};
pub use locale::Locale;
pub use login::{Login, choose_login};
pub use settings::AdminSettings;
pub use sshd::{EffectiveSettings, HARDENED, SSHD_DROP_IN, render_drop_in};
pub use timezone::Timezone;
pub use upgrades::{AUTO_UPGRADES, add_unattended_upgrades, render_auto_upgrades};
pub use validated_file::ValidatedFile;

/// What every provisioned server has installed.
pub const BASE_PACKAGES: [&str; 8] = [
    "sudo",
    "openssh-server",
    "nftables",
    "locales",
    "tzdata",
    "unattended-upgrades",
    "ca-certificates",
    "curl",
];

/// Provision servers: base packages, time zone and locale, an administrator with your SSH key
/// and sudo, a firewall for their roles, unattended security upgrades, and sshd refusing root
/// and password logins (kept only once the administrator is proven to get in).
///
/// `provision appnode2`, `provision dbserver`, or all servers of the environment without
/// arguments. Bare servers are reached as root (or `--bootstrap-user`) until the inventory's
/// user exists.
#[task(local)]
pub async fn provision(
    ctx: &Ctx,
    #[arg(hosts, help = "servers or roles to provision (default: every server)")] servers: Vec<
        String,
    >,
    #[arg(help = "who logs in while the inventory's user does not exist yet (default: root)")]
    bootstrap_user: Option<String>,
) -> anyhow::Result<()> {
    // dm has already turned `servers` into the selection (`ctx.selected_hosts()`).
    drop(servers);
    let bootstrap_user = bootstrap_user.unwrap_or_else(|| "root".to_string());
    let selected = ctx.selected_hosts();
    if selected.is_empty() {
        anyhow::bail!(
            "no servers to provision: name them (`provision appnode2`, `provision dbserver`) or \
             select them with -H/-R"
        );
    }
    if let Some(root) = selected.iter().find(|h| h.user == "root") {
        anyhow::bail!(
            "{}: the inventory logs in as root, which provision refuses from now on: set \
             `user = \"admin\"` (the `admin.user`) under [defaults] or the server in dm.toml; \
             provision logs in as root for this first run by itself",
            root.name
        );
    }
    let mut probes = JoinSet::new();
    for (index, host) in selected.iter().enumerate() {
        let (host, options, user) = (
            (**host).clone(),
            ctx.connect_options().clone(),
            bootstrap_user.clone(),
        );
        probes.spawn(async move { (index, choose_login(&host, &options, &user).await) });
    }
    let mut logins: Vec<Option<Login>> = vec![None; selected.len()];
    let mut failures = Vec::new();
    while let Some(joined) = probes.join_next().await {
        match joined {
            Ok((index, Ok(login))) => logins[index] = Some(login),
            Ok((_, Err(e))) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(format!("a login probe stopped: {e}")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("cannot log in to provision:\n  {}", failures.join("\n  "));
    }
    let hosts: Vec<_> = logins
        .into_iter()
        .flatten()
        .map(|login| {
            if login.bootstrap {
                ctx.log(format!(
                    "{}: the inventory's user cannot log in yet: provisioning as `{}`",
                    login.host.name, login.host.user
                ));
            }
            login.host
        })
        .collect();
    let outcomes = ctx
        .on_hosts(
            hosts,
            |host_ctx| async move { provision_host(&host_ctx).await },
        )
        .await;
    FanOutResult::all_ok(outcomes)
}

/// Provisions the host of `ctx` (see the [module](self) documentation): callable from other
/// tasks, e.g. after booting new servers. `ctx` may be logged in as root or as the
/// administrator; when it returns, root and password logins are refused and the administrator
/// is proven to get in with this run's keys.
pub async fn provision_host(ctx: &Ctx) -> anyhow::Result<()> {
    let admin = AdminSettings::of(ctx)?;
    let keys = if admin.keys.is_empty() {
        operator_keys(ctx).await?
    } else {
        admin.keys.clone()
    };
    let rules = firewall::firewall_for(ctx, &admin.ports).await?;

    let mut step = ctx.step();
    step.add(ops::Apt::present(BASE_PACKAGES));
    if !admin.packages.is_empty() {
        step.add(ops::Apt::present(admin.packages.iter().map(String::as_str)));
    }
    step.add(Timezone::new(&admin.timezone));
    step.add(Locale::new(&admin.locale));
    add_admin_account(&mut step, &admin.user, &keys);
    add_unattended_upgrades(&mut step);
    firewall::add_firewall(&mut step, rules);
    let system = step.apply().await?;

    // Last, once the administrator exists: from here on root cannot log in again.
    let sshd = lockout_guard::harden_sshd(ctx, &admin.user).await?;
    let changed = system.changed() + sshd.changed();
    if changed == 0 {
        ctx.log("provisioned: nothing to change");
    } else {
        ctx.log(format!("provisioned: {changed} change(s)"));
    }
    Ok(())
}
