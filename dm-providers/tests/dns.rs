//! DNS A records converge through DigitalOcean's Domains API: missing ones are created, surplus
//! ones re-pointed or deleted, right ones left alone, other records never touched.

use crate::fake;

use std::net::Ipv4Addr;

use dm_providers::{DigitalOceanDns, DnsChange, DnsProvider, Error};
use fake::{Api, Fake, FakeRecord};

const TOKEN: &str = "dns-test-token";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn record(id: u64, kind: &str, name: &str, data: &str, ttl: u32) -> FakeRecord {
    FakeRecord {
        id,
        kind: kind.into(),
        name: name.into(),
        data: data.into(),
        ttl,
    }
}

/// The A records of `name` at the fake, sorted: what DNS would answer.
fn a_records(fake: &Fake, name: &str) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = fake.world().domains["example.com"]
        .iter()
        .filter(|r| r.kind == "A" && r.name == name)
        .map(|r| r.data.parse().unwrap())
        .collect();
    ips.sort();
    ips
}

async fn setup() -> (Fake, DigitalOceanDns) {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    // Small pages, so the record listing has to follow `links.pages.next`.
    fake.world().max_page_size = 2;
    fake.world().domains.insert(
        "example.com".into(),
        vec![
            record(1, "NS", "@", "ns1.digitalocean.com", 1800),
            record(2, "A", "www", "192.0.2.1", 300),
            record(3, "A", "api", "192.0.2.50", 300),
            record(4, "A", "www", "192.0.2.2", 300),
            record(5, "TXT", "www", "v=spf1 -all", 300),
            record(6, "A", "www", "192.0.2.3", 300),
        ],
    );
    let dns = DigitalOceanDns::new(fake.config(TOKEN)).unwrap();
    (fake, dns)
}

#[tokio::test]
async fn records_converge_create_update_delete() {
    let (fake, dns) = setup().await;

    // Keep .1, replace the two others by .4: one re-pointed, one deleted.
    let change = dns
        .set_a_records("example.com", "www", &[ip("192.0.2.1"), ip("192.0.2.4")])
        .await
        .unwrap();
    assert_eq!(change.unchanged, [ip("192.0.2.1")]);
    assert_eq!(change.updated.len(), 1);
    assert_eq!(change.updated[0].1, ip("192.0.2.4"));
    assert_eq!(change.deleted.len(), 1);
    assert!(change.created.is_empty());
    assert_eq!(a_records(&fake, "www"), [ip("192.0.2.1"), ip("192.0.2.4")]);
    // Other names and types untouched.
    assert_eq!(a_records(&fake, "api"), [ip("192.0.2.50")]);
    assert_eq!(fake.world().domains["example.com"].len(), 5);
    assert!(
        fake.world().domains["example.com"]
            .iter()
            .any(|r| r.kind == "TXT")
    );

    // Already converged: nothing is written.
    let writes = |f: &Fake| {
        f.count("POST", "/v2/domains")
            + f.count("PUT", "/v2/domains")
            + f.count("DELETE", "/v2/domains")
    };
    let before = writes(&fake);
    let change = dns
        .set_a_records(
            "example.com",
            "www.example.com",
            &[ip("192.0.2.4"), ip("192.0.2.1")],
        )
        .await
        .unwrap();
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(writes(&fake), before);

    // Grow to three: creates.
    let change = dns
        .set_a_records(
            "example.com",
            "www",
            &[ip("192.0.2.1"), ip("192.0.2.4"), ip("192.0.2.5")],
        )
        .await
        .unwrap();
    assert_eq!(
        change,
        DnsChange {
            created: vec![ip("192.0.2.5")],
            updated: vec![],
            deleted: vec![],
            unchanged: vec![ip("192.0.2.1"), ip("192.0.2.4")]
        }
    );
    assert_eq!(
        a_records(&fake, "www"),
        [ip("192.0.2.1"), ip("192.0.2.4"), ip("192.0.2.5")]
    );

    // Shrink to one: deletes only after nothing needs creating.
    dns.set_a_records("example.com", "www", &[ip("192.0.2.5")])
        .await
        .unwrap();
    assert_eq!(a_records(&fake, "www"), [ip("192.0.2.5")]);

    // The apex works the same.
    dns.set_a_records("example.com", "example.com", &[ip("192.0.2.9")])
        .await
        .unwrap();
    assert_eq!(a_records(&fake, "@"), [ip("192.0.2.9")]);
    let listed = dns.a_records("example.com", "@").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].ttl, DigitalOceanDns::DEFAULT_TTL);
}

#[tokio::test]
async fn a_ttl_change_is_an_update() {
    let (fake, dns) = setup().await;
    let dns = dns.with_ttl(60);
    let change = dns
        .set_a_records("example.com", "api", &[ip("192.0.2.50")])
        .await
        .unwrap();
    assert_eq!(change.updated, [(ip("192.0.2.50"), ip("192.0.2.50"))]);
    let w = fake.world();
    let api = w.domains["example.com"]
        .iter()
        .find(|r| r.name == "api")
        .unwrap();
    assert_eq!(api.ttl, 60);
}

#[tokio::test]
async fn refusals_and_unknown_domains() {
    let (fake, dns) = setup().await;
    let err = dns
        .set_a_records("example.com", "www", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDns { .. }));
    assert!(
        err.to_string()
            .contains("refusing to remove every A record"),
        "{err}"
    );
    assert_eq!(a_records(&fake, "www").len(), 3);

    let err = dns
        .set_a_records("nope.example", "www", &[ip("192.0.2.1")])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "DigitalOcean: GET /domains/nope.example/records: not found (\"The resource you were accessing could not be found.\")"
    );
    let err = dns
        .set_a_records("example.com/../x", "www", &[ip("192.0.2.1")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a domain name"), "{err}");
}
