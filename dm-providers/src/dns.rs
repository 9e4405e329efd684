//! DNS: pointing a name's A records at the load balancers, through a DNS provider's API
//! (DigitalOcean's Domains API: `/v2/domains/{domain}/records`).
//!
//! [`DnsProvider::set_a_records`] converges: afterwards the name has exactly one A record per
//! address asked for. Records that already point at a wanted address stay; surplus records are
//! re-pointed (PUT) before any new one is created; only what is left over is deleted, and only
//! after the new addresses are in, so the name never resolves to nothing during the change.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{ApiClient, ApiConfig, Dialect};
use crate::provider::BoxFuture;
use crate::token::Token;

/// One A record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ARecord {
    /// The provider's record id.
    pub id: String,
    /// The name relative to the domain (`www`, or `@` for the domain itself).
    pub name: String,
    /// The address it points at.
    pub ip: Ipv4Addr,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// What [`DnsProvider::set_a_records`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsChange {
    /// Addresses that got a new record.
    pub created: Vec<Ipv4Addr>,
    /// Records re-pointed (or given the configured TTL): from, to.
    pub updated: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Addresses whose record was removed.
    pub deleted: Vec<Ipv4Addr>,
    /// Addresses that were right already.
    pub unchanged: Vec<Ipv4Addr>,
}

impl DnsChange {
    /// Whether anything was changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// A DNS provider that can list and converge A records.
pub trait DnsProvider: Send + Sync + fmt::Debug {
    /// The A records of `name` in `domain`.
    fn a_records<'a>(
        &'a self,
        domain: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ARecord>>>;

    /// Makes `name` in `domain` have exactly one A record per address in `ips` (at least one).
    fn set_a_records<'a>(
        &'a self,
        domain: &'a str,
        name: &'a str,
        ips: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<DnsChange>>;
}

/// DigitalOcean's Domains API.
#[derive(Debug, Clone)]
pub struct DigitalOceanDns {
    api: ApiClient,
    ttl: u32,
}

impl DigitalOceanDns {
    /// The default TTL of records dm writes: short, so a load balancer change spreads quickly.
    pub const DEFAULT_TTL: u32 = 300;

    /// A client for the account behind `cfg.token`.
    pub fn new(cfg: ApiConfig) -> Result<DigitalOceanDns> {
        Ok(DigitalOceanDns {
            api: ApiClient::new(Dialect::DigitalOcean, cfg)?,
            ttl: Self::DEFAULT_TTL,
        })
    }

    /// A client for the public API with the token from `DIGITALOCEAN_TOKEN`.
    pub fn from_env() -> Result<DigitalOceanDns> {
        let token = Token::from_env(
            crate::DigitalOcean::TOKEN_VAR,
            Dialect::DigitalOcean.provider(),
        )?;
        DigitalOceanDns::new(ApiConfig::new(crate::DigitalOcean::DEFAULT_BASE_URL, token))
    }

    /// The same client writing records with this TTL (seconds; DigitalOcean's minimum is 30).
    pub fn with_ttl(mut self, ttl: u32) -> DigitalOceanDns {
        self.ttl = ttl;
        self
    }

    async fn list(&self, domain: &str, name: &str) -> Result<Vec<ARecord>> {
        let path = records_path(domain)?;
        let relative = relative_name(domain, name);
        let all: Vec<DoRecord> = self.api.get_all(&path, "domain_records", &[]).await?;
        let mut out = Vec::new();
        for r in all {
            if r.kind != "A" || r.name != relative {
                continue;
            }
            let ip = r.data.parse::<Ipv4Addr>().map_err(|_| Error::Decode {
                provider: self.api.provider(),
                request: format!("GET {path}"),
                message: format!(
                    "A record {} points at `{}`, not an IPv4 address",
                    r.id, r.data
                ),
            })?;
            out.push(ARecord {
                id: r.id.to_string(),
                name: r.name,
                ip,
                ttl: r.ttl.unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn converge(&self, domain: &str, name: &str, ips: &[Ipv4Addr]) -> Result<DnsChange> {
        if ips.is_empty() {
            return Err(Error::InvalidDns {
                domain: domain.to_string(),
                name: name.to_string(),
                message: "refusing to remove every A record: give at least one address \
                          (delete the records by hand if that is really meant)"
                    .into(),
            });
        }
        let path = records_path(domain)?;
        let relative = relative_name(domain, name);
        let mut wanted: Vec<Ipv4Addr> = Vec::new();
        for ip in ips {
            if !wanted.contains(ip) {
                wanted.push(*ip);
            }
        }
        let existing = self.list(domain, name).await?;
        let mut change = DnsChange::default();
        let mut surplus: Vec<ARecord> = Vec::new();
        let mut missing: Vec<Ipv4Addr> = wanted.clone();
        for record in existing {
            if let Some(pos) = missing.iter().position(|ip| *ip == record.ip) {
                missing.remove(pos);
                if record.ttl == self.ttl {
                    change.unchanged.push(record.ip);
                } else {
                    self.put(&path, &record, record.ip).await?;
                    change.updated.push((record.ip, record.ip));
                }
            } else {
                surplus.push(record);
            }
        }
        for ip in missing {
            if let Some(record) = surplus.pop() {
                self.put(&path, &record, ip).await?;
                change.updated.push((record.ip, ip));
            } else {
                let body = json!({ "type": "A", "name": relative, "data": ip.to_string(), "ttl": self.ttl });
                let _: DoRecordOne = self.api.post(&path, &body).await?;
                change.created.push(ip);
            }
        }
        for record in surplus {
            match self.api.delete(&format!("{path}/{}", record.id)).await {
                Ok(()) => {}
                // Someone else removed it meanwhile: the goal is reached all the same.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            change.deleted.push(record.ip);
        }
        if !change.is_empty() {
            tracing::info!(domain, name, ?change, "DNS A records changed");
        }
        Ok(change)
    }

    async fn put(&self, path: &str, record: &ARecord, ip: Ipv4Addr) -> Result<()> {
        let body =
            json!({ "type": "A", "name": record.name, "data": ip.to_string(), "ttl": self.ttl });
        let _: DoRecordOne = self
            .api
            .put(&format!("{path}/{}", record.id), &body)
            .await?;
        Ok(())
    }
}

impl DnsProvider for DigitalOceanDns {
    fn a_records<'a>(
        &'a self,
        domain: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ARecord>>> {
        Box::pin(self.list(domain, name))
    }

    fn set_a_records<'a>(
        &'a self,
        domain: &'a str,
        name: &'a str,
        ips: &'a [Ipv4Addr],
    ) -> BoxFuture<'a, Result<DnsChange>> {
        Box::pin(self.converge(domain, name, ips))
    }
}

/// `/domains/{domain}/records`, refusing a domain that would change the path.
fn records_path(domain: &str) -> Result<String> {
    let ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(Error::InvalidDns {
            domain: domain.to_string(),
            name: String::new(),
            message: "not a domain name".into(),
        });
    }
    Ok(format!("/domains/{domain}/records"))
}

/// The record name as DigitalOcean stores it: relative to the domain, `@` for the domain itself.
fn relative_name(domain: &str, name: &str) -> String {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name == "@" || name == domain {
        return "@".to_string();
    }
    name.strip_suffix(&format!(".{domain}"))
        .unwrap_or(name)
        .to_string()
}

/// A record in the API's answers.
#[derive(Debug, Deserialize)]
struct DoRecord {
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    data: String,
    ttl: Option<u32>,
}

/// `{domain_record: {...}}`: the answer of POST and PUT, checked for shape only.
#[derive(Debug, Deserialize)]
struct DoRecordOne {
    #[serde(rename = "domain_record")]
    _record: DoRecord,
}

#[cfg(test)]
mod tests {
    use super::relative_name;

    #[test]
    fn names_are_relative_to_the_domain() {
        assert_eq!(relative_name("example.com", "www"), "www");
        assert_eq!(relative_name("example.com", "www.example.com"), "www");
        assert_eq!(relative_name("example.com", "www.example.com."), "www");
        assert_eq!(relative_name("example.com", "example.com"), "@");
        assert_eq!(relative_name("example.com", "@"), "@");
    }
}
