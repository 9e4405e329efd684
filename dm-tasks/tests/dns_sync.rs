//! After `boot` and `scale`, the `[dns]` name's A records follow the load balancers: tested with
//! `sync_dns` against dm-providers' fake DigitalOcean API on 127.0.0.1, with the token read from
//! the secrets store. Exactly the right records change, a second sync changes nothing, the token
//! never shows, and without `[dns]` nothing is contacted.

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../dm-providers/tests/fake/mod.rs"]
mod fake;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use dm_core::Ctx;
use dm_core::ctx::{RunShared, SudoPassword};
use dm_core::events::{Event, EventSender};
use dm_core::inventory::{Inventory, LoadOptions};
use dm_core::secrets::{SecretDoc, Secrets};
use dm_core::ssh::ConnectOptions;
use dm_tasks::servers::sync_dns;
use fake::{Api, Fake, FakeRecord};
use tokio::sync::mpsc::UnboundedReceiver;

/// The account token, kept in the secrets store only.
const TOKEN: &str = "dop_v1_dns-sync-test-4f1e9c2ab7";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn record(id: u64, kind: &str, name: &str, data: &str) -> FakeRecord {
    FakeRecord {
        id,
        kind: kind.into(),
        name: name.into(),
        data: data.into(),
        ttl: 300,
    }
}

/// Two load balancers (one by its name's role, one through the combined role `appbalancer`),
/// an app node, and `dns` as the `[dns]` table's body.
fn inventory_text(dns: &str) -> String {
    format!(
        r#"default_environment = "production"

[servers.loadbalancer1]
address = "192.0.2.10"

[servers.lb2]
address = "192.0.2.11"
roles = ["appbalancer"]

[servers.appnode1]
address = "192.0.2.20"

[environments.production]

[environments.staging]

{dns}
"#
    )
}

/// The inventory `text` as if read from `dir/dm.toml`, with the secrets `secrets` (a TOML
/// document) attached, when given.
fn load_inventory(dir: &Path, text: &str, secrets: Option<&str>) -> Inventory {
    let path = dir.join("dm.toml");
    std::fs::write(&path, text).unwrap();
    let opts = LoadOptions {
        ssh_config: Some("/dev/null".into()),
        ..LoadOptions::default()
    };
    let mut inventory = Inventory::parse(text, &path, &opts).unwrap();
    if let Some(doc) = secrets {
        let secrets_path = dir.join("secrets/production.age");
        let doc = SecretDoc::parse(doc, &secrets_path).unwrap();
        inventory.attach_secrets(Secrets::loaded("production", &secrets_path, doc));
    }
    inventory
}

/// A local context of a run over `inventory`, and what it prints.
fn run_ctx(inventory: Inventory, check: bool) -> (Ctx, UnboundedReceiver<Event>) {
    let (events, rx) = EventSender::channel();
    let shared = RunShared {
        inventory: Arc::new(inventory),
        connect: ConnectOptions::default(),
        events,
        sudo_password: SudoPassword::new(None, false),
        check,
        diff: false,
        selected: Vec::new(),
        parallel: 64,
        interrupt: Default::default(),
        run_state: Default::default(),
    };
    (Ctx::local_machine(Arc::new(shared)), rx)
}

/// The lines printed so far.
fn printed(rx: &mut UnboundedReceiver<Event>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::Output { line, .. } = event {
            lines.push(line);
        }
    }
    lines
}

/// The fake, with `www` pointing at one load balancer and two stale addresses, plus records
/// that must not be touched.
async fn fake_api() -> Fake {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    fake.world().domains.insert(
        "example.com".into(),
        vec![
            record(1, "NS", "@", "ns1.digitalocean.com"),
            record(2, "A", "www", "192.0.2.10"),
            record(3, "A", "www", "198.51.100.7"),
            record(4, "A", "www", "198.51.100.8"),
            record(5, "A", "api", "192.0.2.50"),
            record(6, "TXT", "www", "v=spf1 -all"),
        ],
    );
    fake
}

/// Requests that change records: method and path.
fn writes(fake: &Fake) -> Vec<(String, String)> {
    fake.world()
        .log
        .iter()
        .filter(|(method, _, _)| method != "GET")
        .map(|(method, path, _)| (method.clone(), path.clone()))
        .collect()
}

/// The records of `example.com` as (type, name, data), sorted.
fn zone(fake: &Fake) -> Vec<(String, String, String)> {
    let mut records: Vec<_> = fake.world().domains["example.com"]
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone(), r.data.clone()))
        .collect();
    records.sort();
    records
}

fn no_token_env() {
    assert!(
        std::env::var_os("DIGITALOCEAN_TOKEN").is_none(),
        "these tests read the token from the secrets store: unset DIGITALOCEAN_TOKEN"
    );
}

/// `lines` after the notice every run with a non-default `api_url` prints first (the token
/// goes there, and the user must see where).
fn after_api_notice(lines: Vec<String>, fake: &Fake) -> Vec<String> {
    let notice = format!(
        "dns: using the API at {} instead of DigitalOcean's (https://api.digitalocean.com/v2); \
         the token is sent there",
        fake.base_url()
    );
    assert_eq!(lines.first(), Some(&notice), "{lines:?}");
    lines[1..].to_vec()
}

#[tokio::test]
async fn the_name_follows_the_load_balancers_exactly_once() {
    no_token_env();
    let fake = fake_api().await;
    let dir = tempfile::tempdir().unwrap();
    let dns = format!(
        "[dns]\nprovider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"www\"\napi_url = \"{}\"\n",
        fake.base_url()
    );
    let secrets = format!("digitalocean_token = \"{TOKEN}\"\n");
    let inventory = load_inventory(dir.path(), &inventory_text(&dns), Some(&secrets));
    let (ctx, mut rx) = run_ctx(inventory.clone(), false);

    let change = sync_dns(&ctx, &inventory, &[]).await.unwrap().unwrap();
    assert_eq!(change.unchanged, [ip("192.0.2.10")]);
    assert_eq!(change.updated, [(ip("198.51.100.8"), ip("192.0.2.11"))]);
    assert_eq!(change.deleted, [ip("198.51.100.7")]);
    assert!(change.created.is_empty());
    // Exactly one record re-pointed and one removed, nothing else written.
    assert_eq!(
        writes(&fake),
        [
            ("PUT".into(), "/v2/domains/example.com/records/4".into()),
            ("DELETE".into(), "/v2/domains/example.com/records/3".into()),
        ]
    );
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        zone(&fake),
        [
            s("A", "api", "192.0.2.50"),
            s("A", "www", "192.0.2.10"),
            s("A", "www", "192.0.2.11"),
            s("NS", "@", "ns1.digitalocean.com"),
            s("TXT", "www", "v=spf1 -all"),
        ]
    );
    let first = after_api_notice(printed(&mut rx), &fake);
    assert_eq!(
        first,
        [
            "dns: www.example.com A now 192.0.2.10, 192.0.2.11 (re-pointed 198.51.100.8 to \
          192.0.2.11; removed 198.51.100.7)"
        ]
    );

    // Converged: a second sync reads and writes nothing.
    let before = writes(&fake).len();
    let change = sync_dns(&ctx, &inventory, &[]).await.unwrap().unwrap();
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(writes(&fake).len(), before);
    let second = after_api_notice(printed(&mut rx), &fake);
    assert_eq!(
        second,
        ["dns: www.example.com A already 192.0.2.10, 192.0.2.11; nothing changed"]
    );

    // A load balancer about to be destroyed leaves DNS first; --check only says so.
    let (check_ctx, mut check_rx) = run_ctx(inventory.clone(), true);
    let leaving = ["lb2".to_string()];
    assert!(
        sync_dns(&check_ctx, &inventory, &leaving)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(writes(&fake).len(), before);
    let planned = after_api_notice(printed(&mut check_rx), &fake);
    assert_eq!(
        planned,
        ["dns: would point www.example.com A at 192.0.2.10 (now 192.0.2.10, 192.0.2.11)"]
    );
    let change = sync_dns(&ctx, &inventory, &leaving).await.unwrap().unwrap();
    assert_eq!(change.deleted, [ip("192.0.2.11")]);
    let third = after_api_notice(printed(&mut rx), &fake);

    // The token, read from the secrets store, is masked and never printed.
    assert_eq!(dm_core::redact::redact(TOKEN), dm_core::redact::MASK);
    for line in first.iter().chain(&second).chain(&planned).chain(&third) {
        assert!(!line.contains(TOKEN), "token printed: {line}");
    }
    assert!(!format!("{change:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_refused_token_is_reported_without_showing_it() {
    no_token_env();
    let fake = fake_api().await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = "dop_v1_wrong-token-for-dns-81c2d";
    let dns = format!(
        "[dns]\nprovider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"www\"\ntoken_secret = \"dns_token\"\napi_url = \"{}\"\n",
        fake.base_url()
    );
    let secrets = format!("dns_token = \"{wrong}\"\n");
    let inventory = load_inventory(dir.path(), &inventory_text(&dns), Some(&secrets));
    let (ctx, mut rx) = run_ctx(inventory.clone(), false);
    let err = sync_dns(&ctx, &inventory, &[]).await.unwrap_err();
    let message = format!("{err:#} {err:?}");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("www.example.com"), "{message}");
    assert!(!message.contains(wrong), "token in the error: {message}");
    for line in printed(&mut rx) {
        assert!(!line.contains(wrong), "token printed: {line}");
    }
    assert!(writes(&fake).is_empty());
    assert_eq!(fake.world().domains["example.com"].len(), 6);

    // No token anywhere: the message says where to put one.
    let inventory = inventory_with_no_secrets(dir.path(), &dns);
    let (ctx, _rx) = run_ctx(inventory.clone(), false);
    let err = sync_dns(&ctx, &inventory, &[]).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("DIGITALOCEAN_TOKEN"), "{message}");
    assert!(message.contains("dns_token"), "{message}");
}

fn inventory_with_no_secrets(dir: &Path, dns: &str) -> Inventory {
    load_inventory(dir, &inventory_text(dns), None)
}

#[tokio::test]
async fn without_dns_nothing_is_contacted() {
    no_token_env();
    let fake = fake_api().await;
    let dir = tempfile::tempdir().unwrap();
    // DNS only for staging; the run is in production. No secrets either: a token lookup would
    // fail, so success shows none was attempted.
    let dns = format!(
        "[environments.staging.dns]\nprovider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"staging\"\napi_url = \"{}\"\n",
        fake.base_url()
    );
    let inventory = load_inventory(dir.path(), &inventory_text(&dns), None);
    assert!(inventory.dns_settings().is_empty());
    let (ctx, mut rx) = run_ctx(inventory.clone(), false);
    assert!(sync_dns(&ctx, &inventory, &[]).await.unwrap().is_none());
    assert!(fake.world().log.is_empty(), "{:?}", fake.world().log);
    assert!(printed(&mut rx).is_empty());

    // The same inventory in staging has the table.
    let staging = Inventory::parse(
        &inventory_text(&dns),
        &dir.path().join("dm.toml"),
        &LoadOptions {
            environment: Some("staging".into()),
            ssh_config: Some("/dev/null".into()),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        staging.dns_settings().get("name").and_then(|v| v.as_str()),
        Some("staging")
    );

    // A [dns] table but no load balancer: the records are left alone, nothing is contacted.
    let text = format!(
        "[servers.appnode1]\naddress = \"192.0.2.20\"\n\n[dns]\nprovider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"www\"\napi_url = \"{}\"\n",
        fake.base_url()
    );
    let inventory = load_inventory(dir.path(), &text, None);
    let (ctx, mut rx) = run_ctx(inventory.clone(), false);
    assert!(sync_dns(&ctx, &inventory, &[]).await.unwrap().is_none());
    assert!(fake.world().log.is_empty());
    assert_eq!(
        printed(&mut rx),
        [
            "dns: no load balancer in the inventory; the A records of www.example.com were left as they are"
        ]
    );
}
