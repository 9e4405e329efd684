//! The test-host harness itself (`dm::testing`): machines boot for real, are who they say they
//! are, can be broken on purpose, and leave nothing behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dm::testing::{DEPLOY_PASSWORD, Fleet, Machine};

/// The slot number N of a fleet, from its machines' 10.231.N.x addresses.
fn slot_of(fleet: &Fleet) -> u8 {
    fleet.machines()[0].address().octets()[2]
}

/// Everything of a fleet that must be gone after it is dropped.
struct Footprint {
    /// The fleet's slot, whose bridge, veths and NAT rule are checked; None when another fleet
    /// holds the slot by now.
    slot: Option<u8>,
    dir: PathBuf,
    namespaces: Vec<String>,
    pids: Vec<u32>,
}

impl Footprint {
    fn of(fleet: &Fleet) -> Footprint {
        let slot = slot_of(fleet);
        let namespaces: Vec<String> = fleet
            .machines()
            .iter()
            .map(|m| format!("dm{slot}-{}", m.name()))
            .collect();
        let mut pids = processes_mentioning(fleet.dir());
        for ns in &namespaces {
            let out = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .unwrap();
            pids.extend(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(|p| p.parse::<u32>().unwrap()),
            );
        }
        Footprint {
            slot: Some(slot),
            dir: fleet.dir().to_path_buf(),
            namespaces,
            pids,
        }
    }

    /// What of the footprint still exists, described; empty when nothing is left.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let netns = run("ip", &["netns", "list"]);
        for ns in &self.namespaces {
            if netns
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns))
            {
                left.push(format!("network namespace {ns}"));
            }
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        for line in mounts.lines() {
            if line.contains(&*self.dir.to_string_lossy()) {
                left.push(format!("mount {line}"));
            }
        }
        if let Some(slot) = self.slot {
            let links = run("ip", &["-o", "link"]);
            for link in links.lines() {
                let name = link
                    .split(": ")
                    .nth(1)
                    .unwrap_or("")
                    .split('@')
                    .next()
                    .unwrap_or("");
                if name == format!("dmbr{slot}") || name.starts_with(&format!("dm{slot}v")) {
                    left.push(format!("link {name}"));
                }
            }
            let nat = run("iptables", &["-w", "-t", "nat", "-S", "POSTROUTING"]);
            if nat.contains(&format!("10.231.{slot}.0/24")) {
                left.push(format!("NAT rule for 10.231.{slot}.0/24"));
            }
        }
        for pid in &self.pids {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
            if alive {
                left.push(format!("process {pid}: {state}"));
            }
        }
        for ns in &self.namespaces {
            for hierarchy in ["systemd", "unified", ""] {
                let cgroup = Path::new("/sys/fs/cgroup")
                    .join(hierarchy)
                    .join("dm-testing")
                    .join(ns);
                if cgroup.exists() {
                    left.push(format!("cgroup {}", cgroup.display()));
                }
            }
        }
        if self.dir.exists() {
            left.push(format!("directory {}", self.dir.display()));
        }
        left
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pids of processes whose command line mentions `needle` (the fleet's systemd-nspawn processes).
fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(&needle)
        {
            pids.push(pid);
        }
    }
    pids
}

fn ssh_fails(machine: &Machine) -> bool {
    !machine.exec("true").unwrap().status.success()
}

#[test]
fn booted_machines_answer_ssh_with_their_own_hostname() {
    let fleet = dm_tests::fleet(&[("web1", &["web"]), ("db1", &[])]);
    for machine in fleet.machines() {
        assert_eq!(machine.exec_ok("hostname").trim(), machine.name());
        let addresses = machine.exec_ok("ip -4 -o addr show dev eth0");
        assert!(
            addresses.contains(&format!("inet {}/24", machine.address())),
            "{addresses}"
        );
        // systemd is PID 1 and the system finished booting.
        assert_eq!(machine.exec_ok("cat /proc/1/comm").trim(), "systemd");
        let state = machine.exec("systemctl is-system-running --wait").unwrap();
        assert_eq!(
            String::from_utf8_lossy(&state.stdout).trim(),
            "running",
            "{machine:?}"
        );
    }
    // Machines reach each other by name.
    let resolved = fleet.machine("web1").exec_ok("getent hosts db1");
    assert!(
        resolved.starts_with(&fleet.machine("db1").address().to_string()),
        "{resolved}"
    );
}

/// The host-side cgroups of the machine's PID 1 (its systemd), one line per hierarchy.
fn init_cgroups(fleet: &Fleet, machine: &Machine) -> String {
    let ns = format!("dm{}-{}", slot_of(fleet), machine.name());
    let pids = run("ip", &["netns", "pids", &ns]);
    let init = pids
        .split_whitespace()
        .find(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .any(|l| l.starts_with("NSpid:") && l.split_whitespace().last() == Some("1"))
        })
        .unwrap_or_else(|| panic!("no PID 1 in namespace {ns}: {pids}"));
    std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap()
}

#[test]
fn machines_do_not_share_a_cgroup_tree() {
    // Shared trees make the machines' systemds create and remove each other's unit cgroups:
    // units then fail at random with "Failed at step CGROUP".
    let fleet = dm_tests::fleet(&[("a", &[]), ("b", &[])]);
    let a = init_cgroups(&fleet, fleet.machine("a"));
    let b = init_cgroups(&fleet, fleet.machine("b"));
    let systemd_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("name=systemd") || l.starts_with("0::"))
            .map(str::to_string)
            .collect()
    };
    assert!(!systemd_lines(&a).is_empty(), "{a}");
    for line in systemd_lines(&a) {
        assert!(
            !systemd_lines(&b).contains(&line),
            "both machines' systemd run in {line}"
        );
    }
}

#[test]
fn each_machine_has_its_own_host_key() {
    let fleet = dm_tests::fleet(&[("a", &[]), ("b", &[])]);
    let (a, b) = (fleet.machine("a"), fleet.machine("b"));
    assert_ne!(a.host_public_key(), b.host_public_key());
    assert!(a.host_public_key().starts_with("ssh-ed25519 "));
    assert!(a.host_key_fingerprint().starts_with("SHA256:"));
    for machine in [a, b] {
        let served = machine.exec_ok("cat /etc/ssh/ssh_host_ed25519_key.pub");
        assert!(served.starts_with(&machine.host_public_key()), "{served}");
        // Only the harness's key: no key shared through the base tree.
        assert_eq!(
            machine
                .exec_ok("ls /etc/ssh | grep -c '^ssh_host_.*_key$'")
                .trim(),
            "1"
        );
    }
    // The fleet's known_hosts lets a strict OpenSSH client in.
    let known_hosts = std::fs::read_to_string(fleet.known_hosts()).unwrap();
    for machine in fleet.machines() {
        assert!(known_hosts.contains(&format!(
            "{} {}",
            machine.address(),
            machine.host_public_key()
        )));
        let out = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                fleet.known_hosts().display()
            ))
            .arg("-i")
            .arg(fleet.private_key())
            .arg(format!("root@{}", machine.address()))
            .arg("hostname")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), machine.name());
    }
}

#[test]
fn deploy_user_needs_a_password_for_sudo() {
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let app = fleet.machine("app1");
    let whoami = app.exec_as("deploy", "whoami").unwrap();
    assert_eq!(String::from_utf8_lossy(&whoami.stdout).trim(), "deploy");
    let without = app.exec_as("deploy", "sudo -n true").unwrap();
    assert!(!without.status.success());
    assert!(String::from_utf8_lossy(&without.stderr).contains("password is required"));
    let with = app
        .exec_as(
            "deploy",
            &format!("echo {DEPLOY_PASSWORD} | sudo -S -p '' whoami"),
        )
        .unwrap();
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&with.stdout).trim(), "root");
    let wrong = app
        .exec_as("deploy", "echo wrong | sudo -S -p '' whoami")
        .unwrap();
    assert!(!wrong.status.success());
}

#[test]
fn teardown_leaves_no_namespace_mount_bridge_or_process() {
    let fleet = dm_tests::fleet(&[("one", &[]), ("two", &[])]);
    let footprint = Footprint::of(&fleet);
    assert!(
        footprint.pids.len() >= 4,
        "expected nspawn and machine processes: {:?}",
        footprint.pids
    );
    assert!(
        footprint.leftovers().len() > 5,
        "the footprint check must see a live fleet"
    );
    drop(fleet);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}

#[test]
fn teardown_also_happens_when_the_test_panics() {
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let fleet = dm_tests::fleet(&[("doomed", &[])]);
        seen = Some(Footprint::of(&fleet));
        panic!("test failure while the fleet is up");
    }));
    assert!(result.is_err());
    assert_eq!(seen.unwrap().leftovers(), Vec::<String>::new());
}

#[test]
fn two_fleets_boot_at_the_same_time_without_colliding() {
    let (first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| dm_tests::fleet(&[("web", &[]), ("db", &[])]));
        let b = s.spawn(|| dm_tests::fleet(&[("web", &[]), ("db", &[])]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(slot_of(&first), slot_of(&second));
    assert_ne!(first.dir(), second.dir());
    first.machine("web").exec_ok("echo first > /root/fleet");
    second.machine("web").exec_ok("echo second > /root/fleet");
    assert_eq!(
        first.machine("web").exec_ok("cat /root/fleet").trim(),
        "first"
    );
    assert_eq!(
        second.machine("web").exec_ok("cat /root/fleet").trim(),
        "second"
    );
    assert_eq!(second.machine("db").exec_ok("hostname").trim(), "db");
    // One fleet's teardown leaves the other running.
    drop(first);
    assert_eq!(
        second.machine("web").exec_ok("cat /root/fleet").trim(),
        "second"
    );
}

#[test]
fn power_off_makes_the_machine_unreachable() {
    let fleet = dm_tests::fleet(&[("victim", &[]), ("survivor", &[])]);
    let victim = fleet.machine("victim");
    assert!(victim.is_running());
    victim.power_off();
    assert!(!victim.is_running());
    assert!(ssh_fails(victim));
    let port = std::net::SocketAddr::from((victim.address(), 22));
    assert!(std::net::TcpStream::connect_timeout(&port, Duration::from_secs(1)).is_err());
    assert_eq!(
        fleet.machine("survivor").exec_ok("hostname").trim(),
        "survivor"
    );
}

#[test]
fn cut_network_makes_the_machine_unreachable_until_restored() {
    let fleet = dm_tests::fleet(&[("flaky", &[])]);
    let flaky = fleet.machine("flaky");
    flaky.cut_network();
    let port = std::net::SocketAddr::from((flaky.address(), 22));
    assert!(std::net::TcpStream::connect_timeout(&port, Duration::from_secs(1)).is_err());
    flaky.restore_network();
    assert_eq!(flaky.exec_ok("hostname").trim(), "flaky");
}

/// Seconds it takes to send `bytes` zero bytes to the machine over ssh.
fn upload_seconds(machine: &Machine, bytes: usize) -> f64 {
    use std::io::Write;
    let started = std::time::Instant::now();
    let mut ssh = machine.ssh_command("root");
    let mut child = ssh
        .arg("cat > /dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&vec![0u8; bytes])
        .unwrap();
    assert!(child.wait().unwrap().success());
    started.elapsed().as_secs_f64()
}

#[test]
fn limited_bandwidth_slows_transfers_to_the_machine() {
    let fleet = dm_tests::fleet(&[("slow", &[])]);
    let slow = fleet.machine("slow");
    assert!(upload_seconds(slow, 100_000) < 1.5);
    // 400 kbit/s is 50 kB/s: 100 kB take about 2 s.
    slow.limit_bandwidth(400);
    let seconds = upload_seconds(slow, 100_000);
    assert!(
        seconds > 1.5,
        "100 kB at 400 kbit/s took only {seconds:.2} s"
    );
}

#[test]
fn ssh_only_from_jump_host() {
    let fleet = dm_tests::fleet(&[("bastion", &[]), ("target", &[]), ("other", &[])]);
    let (bastion, target, other) = (
        fleet.machine("bastion"),
        fleet.machine("target"),
        fleet.machine("other"),
    );
    let before = target.exec_via(other, "hostname").unwrap();
    assert!(
        before.status.success(),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    target.allow_ssh_only_from(bastion);
    assert!(ssh_fails(target), "ssh from outside must be refused");
    assert!(
        !target.exec_via(other, "true").unwrap().status.success(),
        "ssh from another machine must be refused"
    );
    let through = target.exec_via(bastion, "hostname").unwrap();
    assert!(
        through.status.success(),
        "{}",
        String::from_utf8_lossy(&through.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&through.stdout).trim(), "target");
}

#[test]
fn regenerated_host_key_is_rejected_by_the_fleet_known_hosts() {
    let fleet = dm_tests::fleet(&[("reinstalled", &[])]);
    let machine = fleet.machine("reinstalled");
    let old = machine.host_public_key();
    let new = machine.regenerate_host_key();
    assert_ne!(old, new);
    assert_eq!(machine.host_public_key(), new);
    assert!(
        machine
            .exec_ok("cat /etc/ssh/ssh_host_ed25519_key.pub")
            .starts_with(&new)
    );
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts().display()
        ))
        .arg("-i")
        .arg(fleet.private_key())
        .arg(format!("root@{}", machine.address()))
        .arg("true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    );
}

#[test]
fn machines_reach_the_package_mirror_for_apt() {
    let fleet = dm_tests::fleet(&[("pkg", &[])]);
    let out = fleet
        .machine("pkg")
        .exec("apt-get update -o Acquire::Retries=3")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inventory_toml_names_every_machine_with_key_known_hosts_and_roles() {
    let fleet = dm_tests::fleet(&[
        ("lb1", &["loadbalancer"]),
        ("appnode1", &["appnode", "web"]),
        ("spare", &[]),
    ]);
    let address = |name: &str| fleet.machine(name).address();
    let expected = format!(
        "[defaults]\nuser = \"root\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n\n\
         [servers.lb1]\naddress = \"{}\"\nroles = [\"loadbalancer\"]\n\n\
         [servers.appnode1]\naddress = \"{}\"\nroles = [\"appnode\", \"web\"]\n\n\
         [servers.spare]\naddress = \"{}\"\n",
        fleet.private_key().display(),
        fleet.known_hosts().display(),
        address("lb1"),
        address("appnode1"),
        address("spare"),
    );
    assert_eq!(fleet.inventory_toml(), expected);
    assert_eq!(
        fleet.machine("appnode1").roles(),
        ["appnode".to_string(), "web".to_string()]
    );
    assert!(fleet.machine("spare").roles().is_empty());
    assert!(fleet.private_key().starts_with(fleet.dir()));
}

#[test]
fn invalid_fleets_are_refused_before_anything_is_created() {
    let twice = Fleet::builder().machine("a", &[]).machine("a", &[]).boot();
    assert!(twice.unwrap_err().to_string().contains("declared twice"));
    let bad = Fleet::builder().machine("under_score", &[]).boot();
    assert!(bad.unwrap_err().to_string().contains("not a hostname"));
    let none = Fleet::builder().boot();
    assert!(none.unwrap_err().to_string().contains("no machines"));
}

/// Environment variable that turns [`helper_boots_a_fleet_and_waits_to_be_killed`] on.
const HELPER_ENV: &str = "DM_TESTING_HARNESS_HELPER";

#[test]
fn fleet_of_a_killed_test_process_is_swept_by_the_next_boot() {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "harness::helper_boots_a_fleet_and_waits_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    let fleet_line = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("FLEET "))
        .expect("the helper prints its fleet");
    let mut words = fleet_line.split_whitespace().skip(1);
    let dir = PathBuf::from(words.next().unwrap());
    let slot: u8 = words.next().unwrap().parse().unwrap();
    // A crash: no Drop, no unwinding.
    helper.kill().unwrap();
    helper.wait().unwrap();

    let mut footprint = Footprint {
        slot: Some(slot),
        dir: dir.clone(),
        namespaces: vec![format!("dm{slot}-orphan")],
        pids: processes_mentioning(&dir),
    };
    assert!(
        !footprint.pids.is_empty(),
        "the dead process's machine must still be running"
    );
    assert!(!footprint.leftovers().is_empty());
    let next = dm_tests::fleet(&[("next", &[])]);
    if slot_of(&next) == slot {
        // The new fleet took over the freed slot: its bridge and NAT rule are its own now.
        footprint.slot = None;
    }
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
    drop(next);
    footprint.slot = Some(slot);
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
}

/// Not a test of its own: run by [`fleet_of_a_killed_test_process_is_swept_by_the_next_boot`] in
/// a separate process that is then killed.
#[test]
#[ignore = "helper process of fleet_of_a_killed_test_process_is_swept_by_the_next_boot"]
fn helper_boots_a_fleet_and_waits_to_be_killed() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let fleet = dm_tests::fleet(&[("orphan", &[])]);
    println!("FLEET {} {}", fleet.dir().display(), slot_of(&fleet));
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A network namespace that is not on a fleet's bridge but routes through this host, like
/// another machine on the operator's network would; removed on drop.
struct Outsider {
    netns: String,
    link: String,
}

impl Outsider {
    fn new() -> Outsider {
        let id = std::process::id() % 10_000;
        let third = id % 250;
        let outsider = Outsider {
            netns: format!("dmt-out{id}"),
            link: format!("dmto{id}"),
        };
        let peer = format!("{}p", outsider.link);
        let host_ip = format!("10.232.{third}.1/30");
        let own_ip = format!("10.232.{third}.2/30");
        let gateway = format!("10.232.{third}.1");
        run("ip", &["netns", "add", &outsider.netns]);
        run(
            "ip",
            &[
                "link",
                "add",
                &outsider.link,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
        );
        run("ip", &["link", "set", &peer, "netns", &outsider.netns]);
        run("ip", &["addr", "add", &host_ip, "dev", &outsider.link]);
        run("ip", &["link", "set", &outsider.link, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", outsider.netns.as_str(), "ip"];
            all.extend(args);
            run("ip", &all);
        };
        inside(&["addr", "add", &own_ip, "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &gateway]);
        outsider
    }

    /// The namespace's own address.
    fn address(&self) -> String {
        let id = std::process::id() % 10_000;
        format!("10.232.{}.2", id % 250)
    }

    /// Whether a TCP connection to `address:port` from this namespace succeeds within 3 s.
    fn connects(&self, address: &str, port: u16) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, "timeout", "3", "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{address}/{port}"))
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

#[test]
fn machines_are_not_reachable_through_this_host_from_elsewhere() {
    // This host forwards (the machines reach the package mirror through it): that must not let
    // others connect to machines that have a well-known sudo password.
    let fleet = dm_tests::fleet(&[("app1", &[])]);
    let address = fleet.machine("app1").address().to_string();
    let outsider = Outsider::new();
    assert!(
        !outsider.connects(&address, 22),
        "a namespace routed through this host reached {address}:22"
    );
    // The path itself works: with a rule forwarding the outsider's traffic (what main had for
    // everyone) it connects, so the refusal above is the fleet's rules, not a broken route.
    let source = outsider.address();
    let rule = ["-w", "FORWARD", "-s", source.as_str(), "-j", "ACCEPT"];
    let with = |op: &str| {
        let mut args = vec![rule[0], op];
        args.extend(&rule[1..]);
        run("iptables", &args)
    };
    with("-I");
    let reached = outsider.connects(&address, 22);
    with("-D");
    assert!(
        reached,
        "the outsider's route to {address} does not work at all"
    );
    // This host still reaches the machines.
    assert!(!ssh_fails(fleet.machine("app1")));
}
