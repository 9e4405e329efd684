//! The `dns` task and `scale` keep the `[dns]` name at exactly the load balancers, through the
//! command line: real local machines booted by `boot`, dm-providers' fake DigitalOcean API on
//! 127.0.0.1 as the DNS provider (its documented `api_url`), the token given to the dm process
//! only. `--check dns` changes nothing; `dns` adds both load balancers, removes a stale record and
//! leaves other names and types alone; `scale loadbalancer=1` takes the leaving one out of DNS and
//! destroys it.

use crate::dns_support::{FakeDns, record};
use crate::fake::Fake;
use dm_tests::Run;

/// The account token the fake accepts.
const TOKEN: &str = "dop_v1_dns-scale-test-93b0e5d1";

/// The zone's records as `KIND name data`, sorted.
fn zone(fake: &Fake) -> Vec<String> {
    let mut records: Vec<String> = fake.world().domains["example.com"]
        .iter()
        .map(|r| format!("{} {} {}", r.kind, r.name, r.data))
        .collect();
    records.sort();
    records
}

/// The requests that change records: POST, PUT and DELETE under the domain.
fn changes(fake: &Fake) -> usize {
    ["POST", "PUT", "DELETE"]
        .iter()
        .map(|method| fake.count(method, "/v2/domains/example.com/records"))
        .sum()
}

#[test]
fn the_dns_task_and_scale_keep_the_name_at_exactly_the_load_balancers() {
    // A stale A record of the name (a load balancer long gone), and records dm must not touch:
    // another name's A record and the zone's MX.
    let dns = FakeDns::start(
        TOKEN,
        vec![
            record(1, "NS", "@", "ns1.digitalocean.com"),
            record(2, "A", "www", "192.0.2.50"),
            record(3, "A", "mail", "192.0.2.25"),
            record(4, "MX", "@", "mail.example.com."),
        ],
    );
    let (project, fake) = (&dns.project, &dns.fake);
    project
        .write_inventory(&dns.dns_table())
        .expect("write dm.toml");
    let dm = |args: &[&str]| -> Run { dns.dm_ok(args) };

    // `boot` leaves new load balancers out (they serve nothing yet).
    dm(&["boot", "loadbalancer1", "loadbalancer2"]);
    let address = |name: &str| -> String {
        project
            .machines()
            .expect("the machines")
            .into_iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is not booted"))
            .address
            .to_string()
    };
    let (lb1, lb2) = (address("loadbalancer1"), address("loadbalancer2"));
    let untouched = [
        "A mail 192.0.2.25".to_string(),
        "MX @ mail.example.com.".to_string(),
        "NS @ ns1.digitalocean.com".to_string(),
    ];
    let mut expected: Vec<String> = untouched.to_vec();
    expected.push("A www 192.0.2.50".into());
    expected.sort();
    assert_eq!(zone(fake), expected, "boot changed DNS");

    // --check says what it would do and changes nothing.
    let checked = dm(&["--check", "dns"]);
    assert_eq!(
        changes(fake),
        0,
        "--check changed DNS:\n{}",
        checked.describe()
    );
    assert_eq!(zone(fake), expected);

    // `dns`: exactly both load balancers; the stale record goes, the others stay.
    let synced = dm(&["dns"]);
    let mut expected: Vec<String> = untouched.to_vec();
    expected.extend([format!("A www {lb1}"), format!("A www {lb2}")]);
    expected.sort();
    assert_eq!(zone(fake), expected, "{}", synced.describe());
    synced.assert_output_contains("192.0.2.50");
    // Again: nothing to change.
    let before = changes(fake);
    dm(&["dns"]);
    assert_eq!(changes(fake), before, "a second `dns` changed records");

    // Scaling down: the leaving load balancer is out of DNS, then destroyed.
    let scaled = dm(&["scale", "loadbalancer=1"]);
    let mut expected: Vec<String> = untouched.to_vec();
    expected.push(format!("A www {lb1}"));
    expected.sort();
    assert_eq!(zone(fake), expected, "{}", scaled.describe());
    // Out of DNS before it is destroyed, so no client is sent to a server that is gone.
    let out = scaled.stdout();
    let (removed, destroying) = (
        out.find(&format!("(removed {lb2})")),
        out.find("loadbalancer2: destroying"),
    );
    assert!(
        matches!((removed, destroying), (Some(r), Some(d)) if r < d),
        "loadbalancer2 did not leave DNS before it was destroyed:\n{}",
        scaled.describe()
    );
    let left: Vec<String> = project
        .machines()
        .expect("the machines")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(left, ["loadbalancer1"], "{}", scaled.describe());
    let state = std::fs::read_to_string(project.state_path()).expect("the state file");
    assert!(!state.contains("loadbalancer2"), "{state}");
}
