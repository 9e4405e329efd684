//! Pointing the site's name at the load balancers: after `boot`, `launch` and `scale` (and with
//! the `dns` task), the A records of the `[dns]` name are made exactly the load balancers'
//! addresses, but for load balancers that serve nothing yet: one `boot` created (it joins once
//! `launch` set it up) and one whose launch failed.
//!
//! Without a `[dns]` table nothing happens: no token is looked up, no API is contacted. The
//! table's keys are described in the module docs of [`crate::servers`](mod@crate::servers).

use std::net::Ipv4Addr;
use std::sync::{Mutex, PoisonError};

use dm_core::Ctx;
use dm_core::inventory::Inventory;
use dm_macros::task;
use dm_providers::{ApiConfig, DigitalOcean, DigitalOceanDns, DnsChange, DnsProvider};

use super::tokens;
use crate::roles::servers_with_role;

/// The `[dns]` keys dm knows: anything else is a typo, refused rather than ignored.
const KNOWN_KEYS: &[&str] = &[
    "provider",
    "domain",
    "name",
    "ttl",
    "token_secret",
    "api_url",
];

/// DigitalOcean's smallest TTL: it refuses shorter ones.
const MIN_TTL: i64 = 30;

/// Point the `[dns]` name's A records at the load balancers now (boot and scale do it too).
///
/// Makes the name in the inventory's `[dns]` table have exactly one A record per load balancer
/// of the environment (servers playing `loadbalancer`, also as `appbalancer` or
/// `dbappbalancer`), at its address; other records are never touched. With --check, says what
/// would change and changes nothing.
#[task(local)]
pub async fn dns(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.inventory().dns_settings().is_empty() {
        ctx.log("dns: the inventory has no [dns] table; nothing to do");
        return Ok(());
    }
    sync_dns(ctx, ctx.inventory(), &[]).await?;
    Ok(())
}

/// After servers were booted or destroyed: [`sync_dns`] with the inventory as it is now (the
/// state file's servers included). Does nothing, not even re-reading the inventory, without a
/// `[dns]` table.
pub(crate) async fn follow_load_balancers(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.inventory().dns_settings().is_empty() {
        return Ok(());
    }
    sync_dns(ctx, &ctx.inventory().reload()?, &[]).await?;
    Ok(())
}

/// After `boot` created servers `created`: [`sync_dns`] with the inventory as it is now, but
/// for the load balancers among `created`, which serve nothing until launched; the output says
/// that each joins once launched. Does nothing without a `[dns]` table.
pub(crate) async fn follow_load_balancers_but_new(
    ctx: &Ctx,
    created: &[String],
) -> anyhow::Result<()> {
    if ctx.inventory().dns_settings().is_empty() {
        return Ok(());
    }
    let inventory = ctx.inventory().reload()?;
    let waiting = balancers_among(&inventory, created);
    for name in &waiting {
        ctx.log(format!(
            "{name}: joins DNS once launched (dm launch {name})"
        ));
    }
    sync_dns(ctx, &inventory, &waiting).await?;
    Ok(())
}

/// `launch`'s DNS follow-up, for `ctx`'s host whose launch just ended (`ok` or not). Once every
/// host of the run finished ([`Ctx::after_all_hosts`]), and if every selected server's launch
/// ended and one of them is a load balancer, points the name at the load balancers but those
/// whose launch failed ([`follow_launched_balancers`]), once for the run. (The sync's output and
/// failure are those of the first host to finish.) A selected server whose launch never ran
/// (unreachable, or skipped after a failure with --fail-fast or a Ctrl-C) leaves DNS as it was:
/// run the `dns` task once it is fixed. Does nothing without a `[dns]` table.
pub(crate) fn follow_launch(ctx: &Ctx, ok: bool) {
    if ctx.inventory().dns_settings().is_empty() {
        return;
    }
    ctx.run_state::<Launched>()
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .note(&ctx.host().name, ok);
    ctx.after_all_hosts("dns", |ctx| async move {
        let selected: Vec<String> = ctx
            .selected_hosts()
            .iter()
            .map(|h| h.name.clone())
            .collect();
        let failed = ctx
            .run_state::<Launched>()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed_if_all_ended(&selected);
        match failed {
            Some(failed) => follow_launched_balancers(&ctx, &selected, &failed).await,
            None => Ok(()),
        }
    });
}

/// The servers of this run whose launch ended: one per run ([`Ctx::run_state`]).
#[derive(Debug, Default)]
struct Launched(Mutex<LaunchTally>);

/// Which servers' launch ended, and which of them failed.
#[derive(Debug, Default)]
struct LaunchTally {
    /// Every server whose launch ended, failed or not.
    ended: Vec<String>,
    /// The servers whose launch failed.
    failed: Vec<String>,
}

impl LaunchTally {
    /// Notes that the launch of `host` ended (`ok` or failed).
    fn note(&mut self, host: &str, ok: bool) {
        if !self.ended.iter().any(|h| h == host) {
            self.ended.push(host.to_string());
        }
        if !ok && !self.failed.iter().any(|h| h == host) {
            self.failed.push(host.to_string());
        }
    }

    /// The servers whose launch failed, when the launch of every one of `expected` ended;
    /// `None` when one never ran.
    fn failed_if_all_ended(&self, expected: &[String]) -> Option<Vec<String>> {
        expected
            .iter()
            .all(|h| self.ended.contains(h))
            .then(|| self.failed.clone())
    }
}

/// After `launch` ran on servers `launched` (all of them, whether it worked or not), those in
/// `failed` failing: when one of them is a load balancer, [`sync_dns`] with `ctx`'s inventory,
/// but for the load balancers among `failed`. Does nothing without a `[dns]` table, and when no
/// load balancer was launched.
async fn follow_launched_balancers(
    ctx: &Ctx,
    launched: &[String],
    failed: &[String],
) -> anyhow::Result<()> {
    let inventory = ctx.inventory();
    if inventory.dns_settings().is_empty() || balancers_among(inventory, launched).is_empty() {
        return Ok(());
    }
    let broken = balancers_among(inventory, failed);
    for name in &broken {
        ctx.log(format!(
            "dns: {name} is left out: its launch failed (it joins once `dm launch {name}` works)"
        ));
    }
    sync_dns(ctx, inventory, &broken).await?;
    Ok(())
}

/// The load balancers of `inventory` (also through a combined role) named in `names`, in
/// inventory order.
fn balancers_among(inventory: &Inventory, names: &[String]) -> Vec<String> {
    servers_with_role(inventory, "loadbalancer")
        .into_iter()
        .filter(|host| names.contains(&host.name))
        .map(|host| host.name.clone())
        .collect()
}

/// Makes the A records of `inventory`'s `[dns]` name exactly the addresses of its load
/// balancers, leaving out servers `leaving` (load balancers about to be destroyed, or not
/// serving yet: just created, or their launch failed), and says in `ctx`'s output what changed.
///
/// Returns `None`, having contacted nothing, when the inventory has no `[dns]` table; also
/// `None` when there is no load balancer (the records are left alone rather than removed) and
/// in check mode (what would change is only reported).
pub async fn sync_dns(
    ctx: &Ctx,
    inventory: &Inventory,
    leaving: &[String],
) -> anyhow::Result<Option<DnsChange>> {
    let table = inventory.dns_settings();
    if table.is_empty() {
        return Ok(None);
    }
    let file = inventory
        .path()
        .map_or_else(|| "dm.toml".to_string(), |p| p.display().to_string());
    let settings = DnsSettings::read(table, &file)?;
    let shown = settings.full_name();
    let addresses = balancer_addresses(inventory, leaving)?;
    if addresses.is_empty() {
        let none = if servers_with_role(inventory, "loadbalancer").is_empty() {
            "no load balancer in the inventory"
        } else {
            "no load balancer serving yet"
        };
        ctx.log(format!(
            "dns: {none}; the A records of {shown} were left as they are"
        ));
        return Ok(None);
    }
    let token = tokens::token(ctx, tokens::DIGITALOCEAN_DNS, table, "[dns]")?;
    if settings.api_url != DigitalOcean::DEFAULT_BASE_URL {
        // The token goes wherever api_url points: say so every time.
        ctx.log(format!(
            "dns: using the API at {} instead of DigitalOcean's ({}); the token is sent there",
            settings.api_url,
            DigitalOcean::DEFAULT_BASE_URL
        ));
    }
    let provider = DigitalOceanDns::new(ApiConfig::new(settings.api_url.clone(), token))?
        .with_ttl(settings.ttl);
    // Sorted, each once: the output reads the same whatever the servers' names.
    let mut wanted = addresses;
    wanted.sort();
    wanted.dedup();
    let listing = list(&wanted);
    if ctx.check_mode() {
        let current = provider
            .a_records(&settings.domain, &settings.name)
            .await
            .map_err(|e| anyhow::anyhow!("dns: could not read the A records of {shown}: {e}"))?;
        let mut now: Vec<Ipv4Addr> = current.iter().map(|r| r.ip).collect();
        now.sort();
        let ttl_right = current.iter().all(|r| r.ttl == settings.ttl);
        if now == wanted && ttl_right {
            ctx.log(format!(
                "dns: {shown} A already {listing}; would change nothing"
            ));
        } else {
            ctx.log(format!(
                "dns: would point {shown} A at {listing} (now {})",
                if now.is_empty() {
                    "none".to_string()
                } else {
                    list(&now)
                }
            ));
        }
        return Ok(None);
    }
    let change = provider
        .set_a_records(&settings.domain, &settings.name, &wanted)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "dns: could not point {shown} at the load balancers ({listing}): {e}; the \
                 servers themselves are fine: fix the cause and run the `dns` task"
            )
        })?;
    ctx.log(describe(&shown, &listing, &change));
    Ok(Some(change))
}

/// The `[dns]` table, checked.
#[derive(Debug, Clone)]
struct DnsSettings {
    /// The zone at the provider (`example.com`).
    domain: String,
    /// The record name relative to the zone (`www`, `@` for the zone itself).
    name: String,
    /// TTL of the records, seconds.
    ttl: u32,
    /// The provider's API base URL.
    api_url: String,
}

impl DnsSettings {
    /// Reads `table`, the `[dns]` settings of inventory `file`, refusing unknown keys, missing
    /// or mistyped values, and providers dm cannot speak to.
    fn read(table: &toml::Table, file: &str) -> anyhow::Result<DnsSettings> {
        if let Some(unknown) = table.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            anyhow::bail!(
                "{file}: [dns] has no setting `{unknown}`; the settings are: {}",
                KNOWN_KEYS.join(", ")
            );
        }
        let text = |key: &str| -> anyhow::Result<Option<String>> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(value)) if !value.trim().is_empty() => {
                    Ok(Some(value.trim().to_string()))
                }
                Some(other) => {
                    anyhow::bail!("{file}: [dns] {key} = {other} must be a non-empty string")
                }
            }
        };
        let provider = text("provider")?.ok_or_else(|| {
            anyhow::anyhow!(
                "{file}: [dns] names no provider; write provider = \"digitalocean\" (the DNS \
                 provider dm speaks to)"
            )
        })?;
        if provider != "digitalocean" {
            anyhow::bail!(
                "{file}: [dns] provider = \"{provider}\" is not a DNS provider dm knows; known: \
                 digitalocean"
            );
        }
        let domain = text("domain")?.ok_or_else(|| {
            anyhow::anyhow!(
                "{file}: [dns] names no domain; write e.g. domain = \"example.com\" (the zone at \
                 the DNS provider)"
            )
        })?;
        let ttl = match table.get("ttl") {
            None => DigitalOceanDns::DEFAULT_TTL,
            Some(toml::Value::Integer(ttl)) if (MIN_TTL..=i64::from(u32::MAX)).contains(ttl) => {
                *ttl as u32
            }
            Some(other) => anyhow::bail!(
                "{file}: [dns] ttl = {other} is not a number of seconds of at least {MIN_TTL}; \
                 write e.g. ttl = 300"
            ),
        };
        let api_url =
            text("api_url")?.unwrap_or_else(|| DigitalOcean::DEFAULT_BASE_URL.to_string());
        check_api_url(&api_url).map_err(|why| anyhow::anyhow!("{file}: [dns] api_url: {why}"))?;
        Ok(DnsSettings {
            domain,
            name: text("name")?.unwrap_or_else(|| "@".to_string()),
            ttl,
            api_url,
        })
    }

    /// The name as people type it: `www.example.com`, or `example.com` for the zone itself.
    fn full_name(&self) -> String {
        let name = self.name.trim_end_matches('.');
        if name == "@" || name == self.domain || name.ends_with(&format!(".{}", self.domain)) {
            if name == "@" {
                return self.domain.clone();
            }
            return name.to_string();
        }
        format!("{name}.{}", self.domain)
    }
}

/// The API token goes with every request: an `api_url` must be `https://`, or `http://` to this
/// machine itself (a local fake or proxy: the token never leaves it).
pub(crate) fn check_api_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("`{url}` is not an https:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "`{url}` would send the API token over clear text: use https:// (plain http:// only \
             to this machine, 127.0.0.1 or ::1)"
        ))
    }
}

/// The addresses of the load balancers of `inventory` but those `leaving` (from the inventory,
/// or the state file for servers dm booted). An address that
/// is not an IPv4 address cannot be an A record: an error says which server and what to do.
fn balancer_addresses(inventory: &Inventory, leaving: &[String]) -> anyhow::Result<Vec<Ipv4Addr>> {
    servers_with_role(inventory, "loadbalancer")
        .into_iter()
        .filter(|host| !leaving.contains(&host.name))
        .map(|host| {
            host.address.parse::<Ipv4Addr>().map_err(|_| {
                anyhow::anyhow!(
                    "dns: load balancer {} has the address `{}`, not an IPv4 address, so no A \
                     record can point at it; set its `address` in the inventory to its public \
                     IPv4 address",
                    host.name,
                    host.address
                )
            })
        })
        .collect()
}

/// `a, b, c`.
fn list(ips: &[Ipv4Addr]) -> String {
    ips.iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The output line saying what `change` did to `shown`, now pointing at `listing`.
fn describe(shown: &str, listing: &str, change: &DnsChange) -> String {
    if change.is_empty() {
        return format!("dns: {shown} A already {listing}; nothing changed");
    }
    let mut parts = Vec::new();
    if !change.created.is_empty() {
        parts.push(format!("added {}", list(&change.created)));
    }
    for (from, to) in &change.updated {
        parts.push(if from == to {
            format!("new TTL for {to}")
        } else {
            format!("re-pointed {from} to {to}")
        });
    }
    if !change.deleted.is_empty() {
        parts.push(format!("removed {}", list(&change.deleted)));
    }
    format!("dns: {shown} A now {listing} ({})", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn settings_are_checked_and_named() {
        let s = DnsSettings::read(
            &table("provider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"www\""),
            "dm.toml",
        )
        .unwrap();
        assert_eq!(s.full_name(), "www.example.com");
        assert_eq!(s.ttl, DigitalOceanDns::DEFAULT_TTL);
        assert_eq!(s.api_url, DigitalOcean::DEFAULT_BASE_URL);
        let apex = DnsSettings::read(
            &table("provider = \"digitalocean\"\ndomain = \"example.com\""),
            "x",
        )
        .unwrap();
        assert_eq!(apex.full_name(), "example.com");

        let err = |text: &str| {
            DnsSettings::read(&table(text), "dm.toml")
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("provider = \"digitalocean\"\ndomain = \"e.com\"\nnmae = \"www\"")
                .contains("[dns] has no setting `nmae`")
        );
        assert!(err("domain = \"e.com\"").contains("names no provider"));
        assert!(err("provider = \"route53\"\ndomain = \"e.com\"").contains("known: digitalocean"));
        assert!(err("provider = \"digitalocean\"").contains("names no domain"));
        assert!(
            err("provider = \"digitalocean\"\ndomain = \"e.com\"\nttl = 5").contains("at least 30")
        );
    }

    #[test]
    fn only_load_balancers_are_left_out() {
        let text = "[servers.lb1]\naddress = \"192.0.2.10\"\nroles = [\"loadbalancer\"]\n\n[servers.lb2]\naddress = \
                    \"192.0.2.11\"\nroles = [\"appbalancer\"]\n\n[servers.appnode1]\naddress \
                    = \"192.0.2.20\"\nroles = [\"appnode\"]\n\n[servers.loadbalancer1]\naddress \
                    = \"192.0.2.12\"\n";
        let opts = dm_core::inventory::LoadOptions {
            ssh_config: Some("/dev/null".into()),
            ..Default::default()
        };
        let inventory =
            Inventory::parse(text, std::path::Path::new("/nonexistent/dm.toml"), &opts).unwrap();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // New or failed: the load balancers among them (also through a combined role).
        assert_eq!(
            balancers_among(&inventory, &names(&["appnode1", "lb2", "loadbalancer1"])),
            ["lb2", "loadbalancer1"]
        );
        assert!(balancers_among(&inventory, &names(&["appnode1", "db9"])).is_empty());
        let left = names(&["lb2", "loadbalancer1"]);
        assert_eq!(
            balancer_addresses(&inventory, &left).unwrap(),
            [Ipv4Addr::new(192, 0, 2, 10)]
        );
    }

    #[test]
    fn dns_follows_a_launch_once_every_selected_server_ended_without_the_failed_ones() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let expected = names(&["lb1", "lb2", "appnode1"]);
        let mut tally = LaunchTally::default();
        tally.note("lb2", false);
        tally.note("appnode1", true);
        assert_eq!(tally.failed_if_all_ended(&expected), None, "lb1 never ran");
        tally.note("lb1", true);
        // A host that reports twice counts once.
        tally.note("lb2", false);
        assert_eq!(tally.failed_if_all_ended(&expected), Some(names(&["lb2"])));
    }

    #[test]
    fn changes_are_described() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let change = DnsChange {
            created: vec![ip("192.0.2.2")],
            updated: vec![(ip("192.0.2.9"), ip("192.0.2.1"))],
            deleted: vec![ip("192.0.2.8")],
            unchanged: vec![],
        };
        assert_eq!(
            describe("www.example.com", "192.0.2.1, 192.0.2.2", &change),
            "dns: www.example.com A now 192.0.2.1, 192.0.2.2 (added 192.0.2.2; re-pointed \
             192.0.2.9 to 192.0.2.1; removed 192.0.2.8)"
        );
        assert_eq!(
            describe("www.example.com", "192.0.2.1", &DnsChange::default()),
            "dns: www.example.com A already 192.0.2.1; nothing changed"
        );
    }

    #[test]
    fn the_api_token_never_travels_over_clear_text() {
        for fine in [
            "https://api.digitalocean.com/v2",
            "http://127.0.0.1:8080/v2",
            "http://[::1]:9000",
            "http://localhost/v2",
        ] {
            assert_eq!(check_api_url(fine), Ok(()), "{fine}");
        }
        for clear in [
            "http://api.digitalocean.com/v2",
            "http://10.0.0.5:80",
            "ftp://x",
        ] {
            assert!(check_api_url(clear).is_err(), "{clear}");
        }
        let table: toml::Table = toml::from_str(
            "provider = \"digitalocean\"\ndomain = \"example.com\"\napi_url = \"http://dns.example.net/v2\"\n",
        )
        .expect("toml");
        let err = DnsSettings::read(&table, "dm.toml").expect_err("clear text");
        assert!(err.to_string().contains("over clear text"), "{err}");
    }
}
