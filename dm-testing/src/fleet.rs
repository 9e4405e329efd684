//! A fleet: the set of machines one test boots together, with the SSH key, known_hosts file and
//! inventory that point dm at them, all torn down when the fleet is dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::footprint::Footprint;
use crate::inventory::TestInventory;
use crate::machine::{Machine, MachineParts};
use dm_machines::base;
use dm_machines::boot::{self, BootSpec};
use dm_machines::error::Error;
use dm_machines::known_hosts::write_host_keys;
use dm_machines::network::{self, BridgeNetwork, MAX_MACHINES};
use dm_machines::paths::CACHE_DIR;
use dm_machines::prerequisites::{self, Purpose};
use dm_machines::process::wait_until;
use dm_machines::record::{Record, Resource};
use dm_machines::rootfs::{self, RootfsSpec};
use dm_machines::slot::Slot;
use dm_machines::ssh::SshAccess;
use dm_machines::teardown::undo_all;
use dm_machines::{keys, sweep};

/// How long a machine may take from start to answering SSH. Usually 1–2 s; generous because a
/// loaded CI machine booting many fleets at once is much slower.
const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long machines get to power off cleanly at teardown before they are killed.
const POWEROFF_GRACE: Duration = Duration::from_secs(15);

/// The longest machine name: it becomes part of the nspawn machine name (at most 64 characters).
const MAX_NAME_LEN: usize = 40;

/// Tells apart fleets of one process in ids.
static FLEET_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Declares the machines of a fleet; [`FleetBuilder::boot`] boots them. Start with
/// [`Fleet::builder`], or with [`Fleet::from_inventory`] to test against the servers of your
/// fabfile's own `dm.toml`.
#[derive(Debug, Clone)]
#[must_use = "a fleet builder does nothing until .boot() is called"]
pub struct FleetBuilder {
    pub(crate) machines: Vec<Declared>,
    /// Global vars of the fleet's inventory (`[vars]`).
    pub(crate) vars: toml::Table,
    /// The environment the fleet's inventory defines and selects by default.
    pub(crate) environment: Option<String>,
    /// Write `roles = [...]` even when empty, so no role is inferred from a name (the roles of a
    /// fleet declared from an inventory are already resolved).
    pub(crate) explicit_roles: bool,
    /// The login user of the fleet's inventory (`[defaults] user`), `root` unless set.
    pub(crate) user: String,
    /// Mistakes found while declaring (a var for an undeclared machine), reported by `boot`.
    problems: Vec<String>,
    boot_timeout: Duration,
}

/// One declared machine.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) name: String,
    pub(crate) roles: Vec<String>,
    pub(crate) vars: toml::Table,
}

impl FleetBuilder {
    /// Adds machine `name` (letters, digits and `-`; it becomes the hostname) with `roles`
    /// (may be empty: then, as in any `dm.toml`, the role is inferred from the name).
    pub fn machine(mut self, name: &str, roles: &[&str]) -> Self {
        self.machines.push(Declared {
            name: name.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            vars: toml::Table::new(),
        });
        self
    }

    /// Sets var `key` of the declared machine `machine` (its `vars` in the fleet's inventory,
    /// read by tasks with `ctx.var("key")`). Values: strings, integers, floats, booleans, and
    /// vectors or maps of those.
    pub fn var(mut self, machine: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        match self.machines.iter_mut().find(|m| m.name == machine) {
            Some(declared) => {
                declared.vars.insert(key.to_string(), value.into());
            }
            None => self.problems.push(format!(
                "var {key:?} is set for machine {machine:?}, which is not declared (declare it \
                 with .machine() first)"
            )),
        }
        self
    }

    /// Sets several vars of the declared machine `machine` at once (see [`FleetBuilder::var`]).
    pub fn vars<K, V>(mut self, machine: &str, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<toml::Value>,
    {
        for (key, value) in vars {
            self = self.var(machine, &key.into(), value);
        }
        self
    }

    /// Sets a global var (`[vars]` of the fleet's inventory), which every machine sees unless
    /// its own var of the same name overrides it.
    pub fn global_var(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.vars.insert(key.to_string(), value.into());
        self
    }

    /// Puts every machine into environment `name` of the fleet's inventory and makes it the
    /// default environment, so tasks see `ctx.inventory().environment() == Some(name)` and
    /// `-E name` works.
    pub fn environment(mut self, name: &str) -> Self {
        self.environment = Some(name.to_string());
        self
    }

    /// Sets the login user dm uses in the fleet's inventory (`[defaults] user`; default `root`).
    /// Every machine has `root` and [`DEPLOY_USER`](crate::DEPLOY_USER), both accepting the fleet
    /// key, so a test of a task that creates its own users (provisioning) can still log in as one
    /// of them; a user that does not exist on the machines makes every run unreachable.
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// How long each machine may take to answer SSH after it starts (default 120 s).
    pub fn boot_timeout(mut self, timeout: Duration) -> Self {
        self.boot_timeout = timeout;
        self
    }

    /// Boots every declared machine, concurrently, and returns once all of them answer
    /// `ssh root@ADDRESS`; the fleet's inventory is then at [`Fleet::inventory_path`]. The first
    /// call on a machine builds the cached base tree (about 40 s).
    ///
    /// Fails with one clear error when not run as root or when a needed program is missing
    /// ([`Error::NotRoot`], [`Error::MissingPrograms`]), or when a machine does not come up
    /// (the error includes the end of its boot log). Whatever was created is removed again.
    pub fn boot(self) -> Result<Fleet, Error> {
        self.validate()?;
        prerequisites::check(false, Purpose::Testing)?;
        let base = base::ensure(Purpose::Testing)?;
        let slot = Slot::acquire()?;
        let net = BridgeNetwork::new(slot.number());
        let id = format!(
            "{}-{}-{}",
            slot.number(),
            std::process::id(),
            FLEET_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let record = sweep::sweep_and_register(&id)?;
        let dir = Path::new(CACHE_DIR).join("fleets").join(&id);
        // From here on, the fleet's Drop tears down whatever exists, also when booting fails.
        let mut fleet = Fleet {
            machines: Vec::new(),
            private_key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            inventory: String::new(),
            environment: self.environment.clone(),
            dir,
            record,
            slot,
        };
        fleet.record.add(Resource::Dir(fleet.dir.clone()))?;
        std::fs::create_dir_all(&fleet.dir)
            .map_err(|e| Error::io("cannot create", &fleet.dir, e))?;
        // Whatever an earlier holder of the slot left without a record. Best effort: what cannot
        // be removed here makes the bridge creation below fail loudly.
        let _ = undo_all(&network::unrecorded_leftovers(&net));
        network::create_bridge(&net, &fleet.record)?;
        let client_key = keys::generate(&fleet.private_key, &format!("dm-testing fleet {id}"))?;
        let ssh = Arc::new(SshAccess::new(
            fleet.private_key.clone(),
            fleet.dir.join(".harness_known_hosts"),
        ));
        let hosts = hosts_file(&net, &self.machines);

        let booted: Vec<Result<Machine, Error>> = std::thread::scope(|scope| {
            let threads: Vec<_> = self
                .machines
                .iter()
                .enumerate()
                .map(|(index, declared)| {
                    let job = MachineJob {
                        index,
                        declared,
                        net: &net,
                        base: &base,
                        dir: &fleet.dir,
                        hosts: &hosts,
                        authorized_key: &client_key.line,
                        ssh: &ssh,
                        record: &fleet.record,
                        timeout: self.boot_timeout,
                    };
                    scope.spawn(move || job.run())
                })
                .collect();
            threads
                .into_iter()
                .zip(&self.machines)
                .map(|(thread, declared)| {
                    thread.join().unwrap_or_else(|_| {
                        Err(Error::BootPanicked {
                            machine: declared.name.clone(),
                        })
                    })
                })
                .collect()
        });
        let mut first_error = None;
        for result in booted {
            match result {
                Ok(machine) => fleet.machines.push(machine),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let entries: BTreeMap<Ipv4Addr, String> = fleet
            .machines
            .iter()
            .map(|m| (m.address(), m.host_public_key()))
            .collect();
        write_host_keys(&fleet.known_hosts, &entries)?;
        fleet.inventory = TestInventory {
            private_key: &fleet.private_key,
            known_hosts: &fleet.known_hosts,
            machines: &fleet.machines,
            vars: &self.vars,
            environment: self.environment.as_deref(),
            explicit_roles: self.explicit_roles,
            user: &self.user,
        }
        .render()?;
        let inventory_path = fleet.inventory_path();
        std::fs::write(&inventory_path, &fleet.inventory)
            .map_err(|e| Error::io("cannot write", &inventory_path, e))?;
        Ok(fleet)
    }

    /// Rejects names that cannot be hostnames or namespace names, duplicates, and fleets too big
    /// for a /24.
    fn validate(&self) -> Result<(), Error> {
        if let Some(problem) = self.problems.first() {
            return Err(Error::InvalidFleet(problem.clone()));
        }
        if self
            .environment
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            return Err(Error::InvalidFleet(
                "the environment name is empty: give .environment() a name such as \"ci\"".into(),
            ));
        }
        let user_valid = !self.user.is_empty()
            && self
                .user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !user_valid {
            return Err(Error::InvalidFleet(format!(
                "login user {:?} is not a user name: use letters, digits, `-`, `_` and `.`",
                self.user
            )));
        }
        if self.machines.is_empty() {
            return Err(Error::InvalidFleet(
                "no machines declared: add one with .machine(name, roles)".into(),
            ));
        }
        if self.machines.len() > MAX_MACHINES {
            return Err(Error::InvalidFleet(format!(
                "{} machines declared; a fleet has at most {MAX_MACHINES}",
                self.machines.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for Declared { name, roles, .. } in &self.machines {
            let valid = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            if !valid {
                return Err(Error::InvalidFleet(format!(
                    "machine name {name:?} is not a hostname: use 1 to {MAX_NAME_LEN} letters, digits \
                     and inner `-`"
                )));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(Error::InvalidFleet(format!(
                    "machine {name:?} is declared twice"
                )));
            }
            if let Some(role) = roles.iter().find(|r| r.trim().is_empty()) {
                return Err(Error::InvalidFleet(format!(
                    "machine {name:?} has an empty role {role:?}"
                )));
            }
        }
        Ok(())
    }
}

/// The work of booting one machine, run on its own thread.
struct MachineJob<'a> {
    index: usize,
    declared: &'a Declared,
    net: &'a BridgeNetwork,
    base: &'a Path,
    dir: &'a Path,
    hosts: &'a str,
    authorized_key: &'a str,
    ssh: &'a Arc<SshAccess>,
    record: &'a Record,
    timeout: Duration,
}

impl MachineJob<'_> {
    /// Network, root file system, host key, boot, wait for SSH.
    fn run(self) -> Result<Machine, Error> {
        let name = self.declared.name.as_str();
        let address = self.net.address(self.index);
        let netns = self.net.netns(name);
        network::create_machine_network(self.net, self.record, self.index, name)?;
        let state = self.dir.join("machines").join(name);
        let rootfs_spec = RootfsSpec {
            name,
            base: self.base,
            state: &state,
            hosts: self.hosts,
            authorized_key: self.authorized_key,
        };
        let (root, host_key) = rootfs::prepare(&rootfs_spec, self.record)?;
        self.ssh.set_host_key(address, &host_key.line)?;
        let log = state.join("console.log");
        let spec = BootSpec {
            name,
            address,
            root: &root,
            netns: &netns,
            log: &log,
            cgroup_parent: dm_machines::cgroup::TESTING_PARENT,
            detached: false,
        };
        let mut nspawn = boot::spawn(&spec, self.record)?;
        if let Err(e) = boot::wait_for_ssh(&spec, &mut nspawn, self.ssh, self.timeout) {
            // Reap it here: the fleet's teardown only sees machines that booted.
            let _ = nspawn.kill();
            let _ = nspawn.wait();
            return Err(e);
        }
        Ok(Machine::from_parts(MachineParts {
            name: name.to_string(),
            roles: self.declared.roles.clone(),
            vars: self.declared.vars.clone(),
            address,
            netns,
            veth: self.net.veth(self.index),
            root,
            log,
            host_key,
            nspawn,
            ssh: Arc::clone(self.ssh),
        }))
    }
}

/// `/etc/hosts` for every machine: the usual local names plus every machine of the fleet, so
/// machines reach each other by name.
fn hosts_file(net: &BridgeNetwork, machines: &[Declared]) -> String {
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (index, declared) in machines.iter().enumerate() {
        let _ = writeln!(hosts, "{}\t{}", net.address(index), declared.name);
    }
    hosts
}

/// Booted test machines. Dropping the fleet powers them off and removes everything the fleet
/// created (namespaces, links, mounts, NAT rule, files), also when a test panics.
///
/// ```no_run
/// use dm_testing::Fleet;
///
/// let fleet = Fleet::builder()
///     .machine("lb1", &["loadbalancer"])
///     .machine("app1", &["appnode"])
///     .boot()?;
/// assert_eq!(fleet.machine("app1").exec_ok("hostname").trim(), "app1");
/// // Its inventory, for dm in this process (`fleet.dm(..)`) or a fabfile binary (`-f`):
/// println!("{}", fleet.inventory_path().display());
/// # Ok::<(), dm_testing::Error>(())
/// ```
#[derive(Debug)]
pub struct Fleet {
    machines: Vec<Machine>,
    dir: PathBuf,
    private_key: PathBuf,
    known_hosts: PathBuf,
    /// The text of the fleet's inventory, as written to [`Fleet::inventory_path`] at boot.
    inventory: String,
    environment: Option<String>,
    record: Record,
    /// Released last (fields drop after `Drop::drop`): the slot stays taken until teardown ends.
    slot: Slot,
}

impl Fleet {
    /// Starts declaring a fleet.
    pub fn builder() -> FleetBuilder {
        FleetBuilder {
            machines: Vec::new(),
            vars: toml::Table::new(),
            environment: None,
            explicit_roles: false,
            user: "root".to_string(),
            problems: Vec::new(),
            boot_timeout: DEFAULT_BOOT_TIMEOUT,
        }
    }

    /// The machines, in the order they were declared.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// The machine named `name`, if the fleet has one.
    pub fn get(&self, name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.name() == name)
    }

    /// The machine named `name`.
    ///
    /// # Panics
    /// This is a test helper: it panics, listing the fleet's machines, when there is none so named.
    #[track_caller]
    pub fn machine(&self, name: &str) -> &Machine {
        match self.get(name) {
            Some(machine) => machine,
            None => {
                let names: Vec<&str> = self.machines.iter().map(Machine::name).collect();
                panic!(
                    "this fleet has no machine {name:?}; its machines are: {}",
                    names.join(", ")
                )
            }
        }
    }

    /// The fleet's SSH private key (ed25519, no passphrase), authorized for `root` and `deploy`
    /// on every machine.
    pub fn private_key(&self) -> &Path {
        &self.private_key
    }

    /// A known_hosts file with every machine's host key under its address, as it was at boot.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// The fleet's own directory: tests write `dm.toml` and other files here. Removed when the
    /// fleet is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fleet's dm inventory (`dm.toml`), written at boot to [`Fleet::inventory_path`]: the
    /// login user (root, or [`FleetBuilder::user`]) with the fleet key and known_hosts, then one `[servers.NAME]` per machine with its
    /// address, its roles (when it has any) and its vars; global vars and the environment when
    /// the fleet declares them.
    pub fn inventory_toml(&self) -> String {
        self.inventory.clone()
    }

    /// Where the fleet's inventory is: `dm.toml` in [`Fleet::dir`]. [`Fleet::dm`] runs tasks with
    /// it; a test may replace it with an inventory of its own (keeping the `[defaults]` that let
    /// dm in).
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("dm.toml")
    }

    /// The environment the fleet's inventory selects by default, if it has one (see
    /// [`FleetBuilder::environment`] and [`Fleet::from_inventory`]).
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// What the fleet has on this machine now (namespaces, links, mounts, processes, cgroups,
    /// NAT rules, directories), to check after the fleet is dropped that nothing of it is left:
    /// `assert!(footprint.leftovers().is_empty())`.
    pub fn footprint(&self) -> Footprint {
        Footprint::capture(
            self.slot.number(),
            &self.dir,
            self.record.dir(),
            &self.record.resources(),
        )
    }
}

impl Drop for Fleet {
    /// Powers every machine off (cleanly if it manages within the grace period, else killed),
    /// then undoes the fleet's record. Failures are reported on stderr; the next fleet's sweep
    /// retries them.
    fn drop(&mut self) {
        for machine in &self.machines {
            machine.request_poweroff();
        }
        wait_until(POWEROFF_GRACE, || {
            self.machines.iter().all(Machine::has_stopped)
        });
        for machine in &self.machines {
            machine.power_off();
        }
        let errors = self.record.teardown();
        if !errors.is_empty() {
            use std::io::Write;
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(
                stderr,
                "dm-testing: teardown of fleet {} left something behind:",
                self.dir.display()
            );
            for e in errors {
                let _ = writeln!(stderr, "  {e}");
            }
        }
    }
}
