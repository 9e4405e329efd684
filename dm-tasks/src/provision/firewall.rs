//! The firewall (nftables): inbound traffic is dropped unless SSH, the server's roles or
//! `admin.ports` need it. Outbound traffic is not filtered.
//!
//! What each role opens (the combined roles open what their parts open):
//! - `loadbalancer`: 80 and 443 from anywhere;
//! - `appnode`: its `app.port` (default 8000) from the load balancers' private addresses;
//! - `dbserver`: 5432 from the app nodes' private addresses;
//! - `cachenode`: its `redis.port` (default 6379) from the app nodes' private addresses.
//!
//! Addresses come from the inventory's current servers ([`crate::private_address`]), so running
//! provision again after adding servers opens the ports to them. The rules live in their own
//! table, `inet dm_firewall`, in /etc/nftables.conf (which nftables.service loads at boot);
//! loading replaces that table in one transaction and leaves other tables alone.

use std::collections::BTreeSet;
use std::net::IpAddr;

use dm_core::Ctx;
use dm_core::host::Host;
use dm_core::operation::Step;
use dm_core::ops;

use super::validated_file::ValidatedFile;

/// Where nftables.service reads the rules at boot.
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";

/// Who may connect to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sources {
    /// Any address.
    Anywhere,
    /// Only these addresses (none: the port stays closed).
    Only(Vec<IpAddr>),
}

/// One opening of the firewall: TCP `ports` from `sources`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// TCP ports.
    pub ports: Vec<u16>,
    /// Who may connect.
    pub sources: Sources,
    /// Why it is open, written as the rule's comment.
    pub reason: String,
}

/// The openings of a server: SSH on `ssh_port`, what `roles` need, and `extra_ports`.
///
/// `load_balancers` and `app_nodes` are the private addresses of the inventory's servers of
/// those kinds; `app_port` and `redis_port` are this server's.
pub fn openings(
    ssh_port: u16,
    roles: &BTreeSet<&str>,
    load_balancers: &[IpAddr],
    app_nodes: &[IpAddr],
    app_port: u16,
    redis_port: u16,
    extra_ports: &[u16],
) -> Vec<Opening> {
    let mut openings = vec![Opening {
        ports: vec![ssh_port],
        sources: Sources::Anywhere,
        reason: "ssh".to_string(),
    }];
    if roles.contains("loadbalancer") {
        openings.push(Opening {
            ports: vec![80, 443],
            sources: Sources::Anywhere,
            reason: "loadbalancer: http and https".to_string(),
        });
    }
    if roles.contains("appnode") {
        openings.push(Opening {
            ports: vec![app_port],
            sources: Sources::Only(load_balancers.to_vec()),
            reason: "appnode: app server, from the load balancers".to_string(),
        });
    }
    if roles.contains("dbserver") {
        openings.push(Opening {
            ports: vec![5432],
            sources: Sources::Only(app_nodes.to_vec()),
            reason: "dbserver: postgres, from the app nodes".to_string(),
        });
    }
    if roles.contains("cachenode") {
        openings.push(Opening {
            ports: vec![redis_port],
            sources: Sources::Only(app_nodes.to_vec()),
            reason: "cachenode: redis, from the app nodes".to_string(),
        });
    }
    if !extra_ports.is_empty() {
        openings.push(Opening {
            ports: extra_ports.to_vec(),
            sources: Sources::Anywhere,
            reason: "admin.ports".to_string(),
        });
    }
    openings
}

/// The nftables script for `openings`: one table whose input chain drops what is not allowed.
pub fn render_nftables(host: &str, openings: &[Opening]) -> String {
    let mut rules = Vec::new();
    for opening in openings {
        let ports = set(opening.ports.iter().map(u16::to_string));
        let comment = format!("comment \"{}\"", opening.reason.replace('"', "'"));
        match &opening.sources {
            Sources::Anywhere => {
                rules.push(format!("tcp dport {ports} accept {comment}"));
            }
            Sources::Only(addresses) => {
                let v4: Vec<String> = addresses
                    .iter()
                    .filter(|a| a.is_ipv4())
                    .map(IpAddr::to_string)
                    .collect();
                let v6: Vec<String> = addresses
                    .iter()
                    .filter(|a| a.is_ipv6())
                    .map(IpAddr::to_string)
                    .collect();
                // nftables refuses an empty set: with nobody allowed, no rule is the rule.
                if !v4.is_empty() {
                    rules.push(format!(
                        "ip saddr {} tcp dport {ports} accept {comment}",
                        set(v4)
                    ));
                }
                if !v6.is_empty() {
                    rules.push(format!(
                        "ip6 saddr {} tcp dport {ports} accept {comment}",
                        set(v6)
                    ));
                }
            }
        }
    }
    let rules: String = rules.iter().map(|r| format!("\t\t{r}\n")).collect();
    format!(
        "#!/usr/sbin/nft -f\n\
         # Managed by dm (provision) for {host}: changes here are overwritten.\n\
         # Inbound traffic is dropped unless a rule below accepts it; outbound is not filtered.\n\
         \n\
         # Replace dm's table in one transaction (creating it first so the delete cannot fail),\n\
         # leaving other tables alone.\n\
         table inet dm_firewall\n\
         delete table inet dm_firewall\n\
         \n\
         table inet dm_firewall {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tct state established,related accept\n\
         \t\tct state invalid drop\n\
         \t\tiif \"lo\" accept\n\
         \t\tmeta l4proto {{ icmp, ipv6-icmp }} accept comment \"ping, path MTU, IPv6 neighbours\"\n\
         {rules}\
         \t}}\n\
         }}\n"
    )
}

/// `{ a, b }`, or the single value alone.
fn set(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// The firewall of `ctx`'s host from the current inventory, with its own `extra_ports`.
pub async fn firewall_for(ctx: &Ctx, extra_ports: &[u16]) -> anyhow::Result<String> {
    let host = ctx.host();
    let roles = crate::roles::base_roles(host);
    let of_role = |role: &str| crate::roles::servers_with_role(ctx.inventory(), role);
    let load_balancers = addresses(&of_role("loadbalancer")).await?;
    let app_nodes = addresses(&of_role("appnode")).await?;
    let app_port = nested_port(ctx, "app", 8000)?;
    let redis_port = nested_port(ctx, "redis", 6379)?;
    let openings = openings(
        host.port,
        &roles,
        &load_balancers,
        &app_nodes,
        app_port,
        redis_port,
        extra_ports,
    );
    Ok(render_nftables(&host.name, &openings))
}

/// `table.port` of the host's vars (e.g. `app.port`), or `default`.
fn nested_port(ctx: &Ctx, table: &str, default: u16) -> anyhow::Result<u16> {
    let Some(value) = ctx.vars().get(table).and_then(|t| t.get("port")) else {
        return Ok(default);
    };
    value
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: variable `{table}.port` is {value}, not a TCP port (1-65535)",
                ctx.name()
            )
        })
}

/// The private addresses of `hosts` as IP addresses; names are resolved here, once, because
/// nftables wants addresses.
async fn addresses(hosts: &[&Host]) -> anyhow::Result<Vec<IpAddr>> {
    let mut found = BTreeSet::new();
    for host in hosts {
        let address = crate::private_address(host);
        if let Ok(ip) = address.parse::<IpAddr>() {
            found.insert(ip);
            continue;
        }
        let resolved = tokio::net::lookup_host((address.as_str(), 0))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "firewall: cannot resolve {address}, the private address of {}: {e}; set \
                     `private_address` of {} to its IP address",
                    host.name,
                    host.name
                )
            })?;
        found.extend(resolved.map(|socket| socket.ip()));
    }
    Ok(found.into_iter().collect())
}

/// Adds the firewall to `step`: nftables installed, `rules` checked with `nft -c -f` before they
/// replace /etc/nftables.conf, loaded when they change, and loaded at boot.
pub fn add_firewall(step: &mut Step<'_>, rules: String) {
    step.add(
        ValidatedFile::new(NFTABLES_CONF, rules, "nft -c -f")
            .mode(0o755)
            .needs_package("nftables")
            .notify("load-firewall"),
    );
    step.add(ops::Service::new("nftables").enabled().running());
    step.reaction(
        "load-firewall",
        ops::Command::new(&format!("nft -f {NFTABLES_CONF}")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::expand_roles;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn roles(names: &[&str]) -> BTreeSet<&'static str> {
        expand_roles(names.iter().copied())
    }

    fn rules_of(text: &str) -> Vec<&str> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.contains("dport"))
            .collect()
    }

    #[test]
    fn combined_roles_stand_for_their_parts() {
        assert_eq!(
            roles(&["appbalancer"]).into_iter().collect::<Vec<_>>(),
            ["appnode", "cachenode", "loadbalancer"]
        );
        assert_eq!(roles(&["dbappbalancer"]).len(), 4);
        assert!(roles(&["monitoring"]).is_empty());
    }

    #[test]
    fn a_server_without_roles_opens_only_ssh_and_its_extra_ports() {
        let text = render_nftables(
            "bare1",
            &openings(22, &roles(&[]), &[], &[], 8000, 6379, &[9100]),
        );
        assert_eq!(
            rules_of(&text),
            [
                "tcp dport 22 accept comment \"ssh\"",
                "tcp dport 9100 accept comment \"admin.ports\""
            ]
        );
        assert!(text.contains("policy drop;"));
        assert!(text.contains("ct state established,related accept"));
        assert!(text.contains("iif \"lo\" accept"));
    }

    #[test]
    fn each_role_opens_its_port_to_whom_it_serves() {
        let lbs = [ip("10.0.0.1")];
        let apps = [ip("10.0.0.11"), ip("10.0.0.12"), ip("fd00::12")];
        let lb = render_nftables(
            "lb1",
            &openings(22, &roles(&["loadbalancer"]), &lbs, &apps, 8000, 6379, &[]),
        );
        assert_eq!(
            rules_of(&lb)[1],
            "tcp dport { 80, 443 } accept comment \"loadbalancer: http and https\""
        );
        let app = render_nftables(
            "app1",
            &openings(2222, &roles(&["appnode"]), &lbs, &apps, 9000, 6379, &[]),
        );
        assert_eq!(
            rules_of(&app),
            [
                "tcp dport 2222 accept comment \"ssh\"",
                "ip saddr 10.0.0.1 tcp dport 9000 accept comment \"appnode: app server, from the load balancers\""
            ]
        );
        let db = render_nftables(
            "db1",
            &openings(22, &roles(&["dbserver"]), &lbs, &apps, 8000, 6379, &[]),
        );
        assert_eq!(
            rules_of(&db)[1..],
            [
                "ip saddr { 10.0.0.11, 10.0.0.12 } tcp dport 5432 accept comment \"dbserver: postgres, from the app nodes\"",
                "ip6 saddr fd00::12 tcp dport 5432 accept comment \"dbserver: postgres, from the app nodes\""
            ]
        );
        let cache = render_nftables(
            "cache1",
            &openings(
                22,
                &roles(&["cachenode"]),
                &lbs,
                &apps[..1],
                8000,
                6380,
                &[],
            ),
        );
        assert_eq!(
            rules_of(&cache)[1],
            "ip saddr 10.0.0.11 tcp dport 6380 accept comment \"cachenode: redis, from the app nodes\""
        );
    }

    #[test]
    fn a_port_nobody_may_reach_gets_no_rule() {
        // A db server before any app node exists: 5432 stays closed rather than an empty set
        // (which nft refuses).
        let text = render_nftables(
            "db1",
            &openings(22, &roles(&["dbserver"]), &[], &[], 8000, 6379, &[]),
        );
        assert_eq!(rules_of(&text), ["tcp dport 22 accept comment \"ssh\""]);
    }

    #[test]
    fn the_table_is_replaced_in_one_transaction() {
        let text = render_nftables("x", &openings(22, &roles(&[]), &[], &[], 8000, 6379, &[]));
        let create = text.find("table inet dm_firewall\n").expect("creates");
        let delete = text.find("delete table inet dm_firewall").expect("deletes");
        let define = text.find("table inet dm_firewall {").expect("defines");
        assert!(create < delete && delete < define, "{text}");
        assert!(
            !text.contains("flush ruleset"),
            "other tables are left alone"
        );
    }
}
