//! Machine networks: a bridge on the host with a subnet 10.231.N.0/24 (one per test fleet, N its
//! slot; one shared by every local-provider machine, N = 255), and per machine a network namespace
//! joined to the bridge by a veth pair. NAT lets machines reach the package mirror (the only thing
//! outside they talk to); everything else stays on the bridge.

use std::net::Ipv4Addr;
use std::path::Path;

use super::command::{find_program, program, run_program};
use super::error::Error;
use super::record::{Record, Resource};

/// The names and addresses of one network: its subnet 10.231.N.0/24 and the prefix of its
/// bridge, namespaces and links.
#[derive(Debug, Clone)]
pub struct BridgeNetwork {
    /// N, the third octet of the subnet.
    slot: u8,
    /// Starts every namespace and link name: `dm3` for a fleet in slot 3, `dml` for local machines.
    prefix: String,
    /// The bridge's name.
    bridge: String,
}

/// The third octet of the local provider's subnet: above every test fleet's slot (1 to 254), so
/// local machines and test fleets never share addresses.
pub const LOCAL_OCTET: u8 = 255;

impl BridgeNetwork {
    /// The network of a test fleet in slot `slot`: bridge `dmbrN`, names starting with `dmN`.
    pub fn new(slot: u8) -> BridgeNetwork {
        BridgeNetwork {
            slot,
            prefix: format!("dm{slot}"),
            bridge: format!("dmbr{slot}"),
        }
    }

    /// The local provider's network, shared by all its machines: 10.231.255.0/24,
    /// bridge `dmlbr`, names starting with `dml`, none of which a test fleet's names can match
    /// (theirs continue `dm` with a digit), so sweeping fleets never touches local machines.
    pub fn local() -> BridgeNetwork {
        BridgeNetwork {
            slot: LOCAL_OCTET,
            prefix: "dml".to_string(),
            bridge: "dmlbr".to_string(),
        }
    }

    /// The host's address on the bridge, the machines' default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.slot, 1)
    }

    /// The address of the machine at `index` (0-based) in the fleet.
    pub fn address(&self, index: usize) -> Ipv4Addr {
        // Callers limit a fleet to MAX_MACHINES, so index + 2 fits in the last octet.
        Ipv4Addr::new(10, 231, self.slot, (index + 2) as u8)
    }

    /// The subnet in CIDR notation.
    pub fn subnet(&self) -> String {
        format!("10.231.{}.0/24", self.slot)
    }

    /// The bridge's name.
    pub fn bridge(&self) -> String {
        self.bridge.clone()
    }

    /// The network namespace of machine `name`.
    pub fn netns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The host end of machine `index`'s veth pair. Short (at most 9 characters) because link
    /// names are limited to 15, which a machine's own name could exceed.
    pub fn veth(&self, index: usize) -> String {
        format!("{}v{index}", self.prefix)
    }

    /// The machine end of the veth pair before it is moved into the namespace and named `eth0`.
    fn veth_peer(&self, index: usize) -> String {
        format!("{}p{index}", self.prefix)
    }
}

/// The most machines a fleet can have: addresses .2 to .253 of the subnet.
pub const MAX_MACHINES: usize = 252;

/// What an earlier holder of this slot may have left behind without a record: every namespace
/// and link with the network's names, its NAT and FORWARD rules. Only for the holder of the
/// slot's lock (see `dm_testing`'s fleets), so nothing listed belongs to a live fleet.
pub fn unrecorded_leftovers(net: &BridgeNetwork) -> Vec<Resource> {
    let mut leftovers = Vec::new();
    let prefix = format!("{}-", net.prefix);
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                leftovers.push(Resource::Netns(name));
            }
        }
    }
    let veth = format!("{}v", net.prefix);
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&veth);
            if name == net.bridge()
                || rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
            {
                leftovers.push(Resource::Link(name));
            }
        }
    }
    leftovers.push(Resource::Nat {
        subnet: net.subnet(),
        bridge: net.bridge(),
    });
    leftovers.push(Resource::Forward {
        bridge: net.bridge(),
    });
    leftovers
}

/// Creates the network's bridge with the gateway address, and NAT for the subnet.
pub fn create_bridge(net: &BridgeNetwork, record: &Record) -> Result<(), Error> {
    let bridge = net.bridge();
    let action = format!("creating bridge {bridge} for {}", net.subnet());
    record.add(Resource::Link(bridge.clone()))?;
    run_program(&action, "ip", ["link", "add", &bridge, "type", "bridge"])?;
    run_program(
        &action,
        "ip",
        [
            "addr",
            "add",
            &format!("{}/24", net.gateway()),
            "dev",
            &bridge,
        ],
    )?;
    run_program(&action, "ip", ["link", "set", &bridge, "up"])?;

    // Forwarding is a host-wide switch; it is left on, as other users of it expect it to stay on.
    let forward = Path::new("/proc/sys/net/ipv4/ip_forward");
    std::fs::write(forward, "1\n")
        .map_err(|e| Error::io("cannot enable IPv4 forwarding in", forward, e))?;
    let nat = format!("letting {} reach the package mirror", net.subnet());
    record.add(Resource::Nat {
        subnet: net.subnet(),
        bridge: bridge.clone(),
    })?;
    run_program(
        &nat,
        "iptables",
        [
            "-w",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            &net.subnet(),
            "!",
            "-o",
            &bridge,
            "-j",
            "MASQUERADE",
        ],
    )?;
    // A host whose FORWARD policy is DROP (common with container engines) would drop the
    // machines' traffic even with NAT in place; one whose policy is ACCEPT would forward
    // anyone's connections to them (machines of tests have a well-known sudo password). So:
    // what the machines send goes out, only replies to it come back in, and every other
    // forwarded packet to the bridge is dropped. This host itself reaches them directly over
    // the bridge, without forwarding. Inserted in reverse, so they end up in this order.
    record.add(Resource::Forward {
        bridge: bridge.clone(),
    })?;
    for rule in forward_rules(&bridge).iter().rev() {
        let mut args = vec!["-w", "-I", "FORWARD"];
        args.extend(rule.iter().map(String::as_str));
        run_program(&nat, "iptables", args)?;
    }
    Ok(())
}

/// The FORWARD rules of a fleet's bridge, in chain order (each without the chain): machines'
/// traffic out, replies in, nothing else in.
pub fn forward_rules(bridge: &str) -> [Vec<String>; 3] {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    [
        words(&["-i", bridge, "-j", "ACCEPT"]),
        words(&[
            "-o",
            bridge,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ]),
        words(&["-o", bridge, "-j", "DROP"]),
    ]
}

/// Deletes network namespace `name` if it still exists.
pub fn delete_netns(name: &str) -> Result<(), Error> {
    if Path::new("/run/netns").join(name).exists() {
        run_program(
            format!("deleting network namespace {name}"),
            "ip",
            ["netns", "del", name],
        )?;
    }
    Ok(())
}

/// Deletes host link `name` (a bridge or a veth pair) if it still exists.
pub fn delete_link(name: &str) -> Result<(), Error> {
    if Path::new("/sys/class/net").join(name).exists() {
        run_program(format!("deleting link {name}"), "ip", ["link", "del", name])?;
    }
    Ok(())
}

/// Deletes the NAT rule [`create_bridge`] adds for `subnet` on `bridge` (every copy of it).
pub fn delete_nat(subnet: &str, bridge: &str) -> Result<(), Error> {
    let rule = [
        "-t",
        "nat",
        "POSTROUTING",
        "-s",
        subnet,
        "!",
        "-o",
        bridge,
        "-j",
        "MASQUERADE",
    ];
    delete_iptables_rule(&rule)
}

/// Deletes the FORWARD rules of `bridge` ([`forward_rules`]).
pub fn delete_forward_rules(bridge: &str) -> Result<(), Error> {
    for rule in forward_rules(bridge) {
        let mut spec = vec!["-t", "filter", "FORWARD"];
        spec.extend(rule.iter().map(String::as_str));
        delete_iptables_rule(&spec)?;
    }
    // What a dm before the rules above added: accept anything to the bridge.
    delete_iptables_rule(&["-t", "filter", "FORWARD", "-o", bridge, "-j", "ACCEPT"])
}

/// Deletes every copy of an iptables rule. `rule` is `-t TABLE CHAIN SPEC...`.
fn delete_iptables_rule(rule: &[&str]) -> Result<(), Error> {
    let (table, rest) = rule.split_at(2);
    let (chain, spec) = rest.split_at(1);
    let args = |op: &'static str| -> Vec<&str> {
        ["-w"]
            .iter()
            .chain(table)
            .chain(&[op])
            .chain(chain)
            .chain(spec)
            .copied()
            .collect()
    };
    while program("iptables")
        .args(args("-C"))
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run_program(
            format!("deleting iptables rule in {}", chain[0]),
            "iptables",
            args("-D"),
        )?;
    }
    Ok(())
}

/// Creates machine `name`'s namespace with `eth0` on the bridge at its address, `lo` up, and a
/// default route via the host.
pub fn create_machine_network(
    net: &BridgeNetwork,
    record: &Record,
    index: usize,
    name: &str,
) -> Result<(), Error> {
    let netns = net.netns(name);
    let veth = net.veth(index);
    let peer = net.veth_peer(index);
    let action = format!("creating the network of machine {name} (namespace {netns})");
    record.add(Resource::Netns(netns.clone()))?;
    run_program(&action, "ip", ["netns", "add", &netns])?;
    record.add(Resource::Link(veth.clone()))?;
    run_program(
        &action,
        "ip",
        [
            "link", "add", &veth, "type", "veth", "peer", "name", &peer, "netns", &netns,
        ],
    )?;
    run_program(
        &action,
        "ip",
        ["link", "set", &veth, "master", &net.bridge(), "up"],
    )?;
    let inside =
        |args: &[&str]| run_program(&action, "ip", ["-n", netns.as_str()].iter().chain(args));
    inside(&["link", "set", &peer, "name", "eth0"])?;
    inside(&[
        "addr",
        "add",
        &format!("{}/24", net.address(index)),
        "dev",
        "eth0",
    ])?;
    inside(&["link", "set", "eth0", "up"])?;
    inside(&["link", "set", "lo", "up"])?;
    inside(&["route", "add", "default", "via", &net.gateway().to_string()])?;
    Ok(())
}

/// Sets the host end of a machine's veth pair up or down: down is a pulled cable.
pub fn set_link(veth: &str, up: bool) -> Result<(), Error> {
    let state = if up { "up" } else { "down" };
    run_program(
        format!("setting link {veth} {state}"),
        "ip",
        ["link", "set", veth, state],
    )
    .map(|_| ())
}

/// Limits traffic leaving the host end of a machine's veth pair (that is, towards the machine) to
/// `kbit_per_s`, with a token-bucket qdisc; replaces an earlier limit. A token bucket rather than
/// netem because some kernels lack netem, and a slow link is what the tests need.
pub fn limit_bandwidth(veth: &str, kbit_per_s: u32) -> Result<(), Error> {
    let rate = format!("{kbit_per_s}kbit");
    run_program(
        format!("limiting {veth} to {rate}/s"),
        "tc",
        [
            "qdisc", "replace", "dev", veth, "root", "tbf", "rate", &rate, "burst", "32kbit",
            "latency", "400ms",
        ],
    )
    .map(|_| ())
}

/// The iptables chain, inside a machine's namespace, that limits who may reach its sshd.
const SSH_CHAIN: &str = "dm-testing-ssh";

/// Inside namespace `netns`, rejects connections to port 22 from everywhere but `from`. Uses its
/// own chain, so rules a deployment adds to INPUT are left alone, and calling it again replaces
/// the previous restriction.
pub fn allow_ssh_only_from(netns: &str, from: Ipv4Addr) -> Result<(), Error> {
    let action = format!("limiting ssh in namespace {netns} to {from}");
    // `ip netns exec` searches PATH, which may lack sbin: give it the full path.
    let program = find_program("iptables").unwrap_or_else(|| "iptables".into());
    let program = program.to_string_lossy();
    let iptables = |args: &[&str]| {
        run_program(
            &action,
            "ip",
            ["netns", "exec", netns, &program, "-w"].iter().chain(args),
        )
    };
    // -N fails when the chain exists already, which is fine: it is flushed next.
    let _ = iptables(&["-N", SSH_CHAIN]);
    iptables(&["-F", SSH_CHAIN])?;
    iptables(&["-A", SSH_CHAIN, "-s", &from.to_string(), "-j", "RETURN"])?;
    iptables(&[
        "-A",
        SSH_CHAIN,
        "-p",
        "tcp",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])?;
    let jump = ["INPUT", "-p", "tcp", "--dport", "22", "-j", SSH_CHAIN];
    let check: Vec<&str> = std::iter::once("-C").chain(jump).collect();
    if iptables(&check).is_err() {
        let insert: Vec<&str> = std::iter::once("-I").chain(jump).collect();
        iptables(&insert)?;
    }
    Ok(())
}
