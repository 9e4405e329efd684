//! Local machines: Debian machines on this host that outlive the dm run that booted them, for the
//! local provider (`boot appnode2` with `provider = "local"`).
//!
//! A local machine is booted exactly like a test machine (same base tree, overlay root file
//! system, network namespace, systemd-nspawn), but:
//! - systemd-nspawn runs in a session of its own, so it keeps running after dm exits and no
//!   terminal signal reaches it; it stops only when destroyed;
//! - everything lives under [`LOCAL_DIR`] (persistent), one directory per machine holding its
//!   record (what was created, written before it is created), its `machine.toml` and its
//!   writable layer;
//! - all local machines share one network, 10.231.255.0/24 on bridge `dmlbr` (NAT to the package
//!   mirror), above every test fleet's subnet, so they never collide with test fleets; the
//!   bridge is removed with the last machine;
//! - machines belong to a *project*: the directory of the inventory and its state file. Their
//!   id is `<project hash>-<name>`, so two projects (or two tests) may each have an `appnode2`.
//!
//! A boot that is interrupted (dm killed) leaves a machine in phase `booting` whose booting
//! process is dead: the next look at the project's machines ([`LocalMachines::list`],
//! [`LocalMachines::find`], [`LocalMachines::boot`]) removes it completely, so a later run
//! never finds half a machine; a boot that completed before dm died is simply found.
//!
//! A machine that is off (this host rebooted, or it was powered off from inside) starts again
//! with [`LocalMachines::start`], or when it is booted again: same files, address and host key.
//! A start that fails or is interrupted leaves the machine off, never removed: its files are the
//! user's.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::base;
use super::boot::{self, BootSpec};
use super::cgroup::LOCAL_PARENT;
use super::error::Error;
use super::network::{self, BridgeNetwork, LOCAL_OCTET};
use super::paths::LOCAL_DIR;
use super::prerequisites::{self, Purpose};
use super::process::{Owner, kill_and_wait, namespace_pids, process_start, wait_until};
use super::record::{Record, Resource, read_resources, replace_resources};
use super::rootfs::{self, RootfsSpec};
use super::teardown::undo_all;

/// How long a machine may take from start to greeting on port 22 (usually 1–2 s).
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a machine gets to power off cleanly when destroyed before it is killed.
const POWEROFF_GRACE: Duration = Duration::from_secs(15);

/// The longest machine name: with the project hash it becomes the nspawn machine name (at most
/// 64 characters) and the network namespace name.
const MAX_NAME_LEN: usize = 40;

/// The machines of one project, on this host.
///
/// ```no_run
/// use dm_machines::local::{LocalBoot, LocalMachines};
///
/// let machines = LocalMachines::new("/srv/shop".as_ref())?;
/// let key = std::fs::read_to_string("/root/.ssh/id_ed25519.pub")?;
/// let booted = machines.boot(&LocalBoot::new("appnode2", vec![key]))?;
/// println!("{} answers ssh at {}", booted.name, booted.address);
/// machines.destroy(&booted.id)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LocalMachines {
    project: PathBuf,
    project_id: String,
}

/// What to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBoot {
    /// The machine's name, also its hostname: letters, digits and inner `-`, at most 40.
    pub name: String,
    /// Public key lines authorized for `root` (and the `deploy` user every machine has).
    pub authorized_keys: Vec<String>,
    /// Roles, kept with the machine so an adopted machine keeps them.
    pub roles: Vec<String>,
    /// The create attempt's token (see `dm_providers::ServerSpec::client_token`), kept with the
    /// machine.
    pub client_token: Option<String>,
    /// How long the machine may take to greet on port 22.
    pub timeout: Duration,
}

impl LocalBoot {
    /// Machine `name` with these authorized keys, no roles or token, the default timeout.
    pub fn new(name: impl Into<String>, authorized_keys: Vec<String>) -> LocalBoot {
        LocalBoot {
            name: name.into(),
            authorized_keys,
            roles: Vec::new(),
            client_token: None,
            timeout: DEFAULT_BOOT_TIMEOUT,
        }
    }
}

/// Where a local machine is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStatus {
    /// A dm run is booting it right now.
    Booting,
    /// Its systemd-nspawn runs.
    Running,
    /// Its systemd-nspawn is gone (the host rebooted, or it was shut down from inside).
    Off,
}

/// A local machine as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMachine {
    /// Its id: `<project hash>-<name>`, unique on this host.
    pub id: String,
    /// Its name and hostname.
    pub name: String,
    /// Its address on the local network (10.231.255.x), reachable from this host.
    pub address: Ipv4Addr,
    /// Its ed25519 host public key, `ssh-ed25519 BASE64`: generated at boot, so it can be trusted
    /// without asking.
    pub host_key: String,
    /// Its status.
    pub status: LocalStatus,
    /// The roles it was booted with.
    pub roles: Vec<String>,
    /// The create attempt's token it was booted with.
    pub client_token: Option<String>,
}

/// How far a boot got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    /// Being created: if the booting process is dead, the machine is abandoned.
    Booting,
    /// Booted completely.
    Ready,
    /// Booted before and being started again by `booted_by`: if that process is dead, the
    /// machine is off (and kept).
    Restarting,
}

/// `machine.toml` in a machine's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    name: String,
    /// The project directory it belongs to.
    project: PathBuf,
    address: Ipv4Addr,
    netns: String,
    phase: Phase,
    /// The process booting it (`pid start boot_id`), to tell an interrupted boot from a live one.
    booted_by: String,
    #[serde(default)]
    host_key: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    client_token: Option<String>,
    /// systemd-nspawn's pid and start time, once started.
    #[serde(default)]
    nspawn: Option<(u32, u64)>,
    /// The base tree under its writable layer, which a later start must use again.
    #[serde(default)]
    base: Option<PathBuf>,
}

impl Meta {
    /// Whether the machine runs: its nspawn does, or something still runs in its network
    /// namespace. A killed systemd-nspawn is not a machine that is off: its systemd is
    /// re-parented and goes on serving, and starting it again would boot a second copy on the
    /// same files and address.
    fn is_running(&self) -> bool {
        self.nspawn
            .is_some_and(|(pid, start)| process_start(pid) == Some(start))
            || !namespace_pids(&self.netns).is_empty()
    }

    /// Whether its boot was interrupted: still booting, and the booting process is gone.
    fn is_abandoned(&self) -> bool {
        self.phase == Phase::Booting
            && !Owner::parse(&self.booted_by).is_some_and(|owner| owner.is_alive())
    }

    fn status(&self) -> LocalStatus {
        let starting = || Owner::parse(&self.booted_by).is_some_and(|owner| owner.is_alive());
        match self.phase {
            Phase::Booting => LocalStatus::Booting,
            Phase::Restarting if starting() => LocalStatus::Booting,
            Phase::Ready | Phase::Restarting if self.is_running() => LocalStatus::Running,
            Phase::Ready | Phase::Restarting => LocalStatus::Off,
        }
    }
}

impl LocalMachines {
    /// The machines of the project in directory `project` (the inventory's directory), which
    /// must exist. Does not need root until something is booted or destroyed.
    pub fn new(project: &Path) -> Result<LocalMachines, Error> {
        let project = fs::canonicalize(project)
            .map_err(|e| Error::io("cannot find the project directory", project, e))?;
        let project_id = project_hash(&project);
        Ok(LocalMachines {
            project,
            project_id,
        })
    }

    /// The project directory (canonical).
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The id machine `name` of this project has (or would have).
    pub fn id_of(&self, name: &str) -> String {
        format!("{}-{name}", self.project_id)
    }

    /// Boots machine `spec.name` and returns once its sshd greets; if the project has a machine
    /// of that name already, returns it instead (booting nothing), starting it first if it is off
    /// (see [`LocalMachines::start`]). Fails with [`Error::NotRoot`] when not root; on any failure
    /// of a new machine, whatever was created is removed again.
    pub fn boot(&self, spec: &LocalBoot) -> Result<LocalMachine, Error> {
        validate_name(&spec.name)?;
        if spec.authorized_keys.is_empty() {
            return Err(Error::InvalidMachine(format!(
                "{:?}: no authorized key given, nobody could log in",
                spec.name
            )));
        }
        prerequisites::check(false, Purpose::LocalProvider)?;
        let base = base::ensure(Purpose::LocalProvider)?;
        let id = self.id_of(&spec.name);
        let dir = machines_dir().join(&id);
        let net = BridgeNetwork::local();

        let (record, mut meta) = {
            let _lock = lock()?;
            settle_abandoned(None);
            if let Some(meta) = read_meta(&dir) {
                if meta.status() == LocalStatus::Off {
                    drop(_lock);
                    return self.start(&id, spec.timeout);
                }
                return Ok(to_machine(&id, &meta));
            }
            let address = free_address()?;
            ensure_network(&net)?;
            let record = Record::open(dir.clone())?;
            record.add(Resource::Dir(dir.clone()))?;
            let meta = Meta {
                name: spec.name.clone(),
                project: self.project.clone(),
                address,
                netns: net.netns(&id),
                phase: Phase::Booting,
                booted_by: Owner::current().to_text().trim().to_string(),
                host_key: String::new(),
                roles: spec.roles.clone(),
                client_token: spec.client_token.clone(),
                nspawn: None,
                base: Some(base.clone()),
            };
            write_meta(&dir, &meta)?;
            (record, meta)
        };
        match self.boot_new(spec, &net, &base, &dir, &record, &mut meta) {
            Ok(()) => Ok(to_machine(&id, &meta)),
            Err(e) => {
                // Leave nothing behind; the boot error matters more than a clean-up error,
                // which the next settle retries.
                let _ = teardown(&dir, &meta);
                Err(e)
            }
        }
    }

    /// Network, root file system, nspawn, wait: the part of a first boot done outside the lock.
    fn boot_new(
        &self,
        spec: &LocalBoot,
        net: &BridgeNetwork,
        base: &Path,
        dir: &Path,
        record: &Record,
        meta: &mut Meta,
    ) -> Result<(), Error> {
        let index = usize::from(meta.address.octets()[3]) - 2;
        let id = self.id_of(&spec.name);
        network::create_machine_network(net, record, index, &id)?;
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}\n",
            meta.address, spec.name
        );
        let authorized = spec.authorized_keys.join("\n");
        let rootfs_spec = RootfsSpec {
            name: &spec.name,
            base,
            state: dir,
            hosts: &hosts,
            authorized_key: &authorized,
        };
        let (root, host_key) = rootfs::prepare(&rootfs_spec, record)?;
        // The base tree's deploy user has a password every copy of dm knows (the test harness
        // types it at sudo): a server booted for real must not accept it anywhere.
        rootfs::lock_password(&root, super::base::DEPLOY_USER)?;
        meta.host_key = host_key.line;
        run_nspawn(dir, meta, &root, record, spec.timeout)
    }

    /// Starts machine `id` of this project again if it is off (this host rebooted, or it was
    /// powered off from inside) and returns once its sshd greets, with the files, address and
    /// host key it had; a machine that runs (or is starting) is returned as it is. `timeout`
    /// bounds the wait for sshd. A start that fails leaves the machine off, with its files.
    pub fn start(&self, id: &str, timeout: Duration) -> Result<LocalMachine, Error> {
        prerequisites::check(false, Purpose::LocalProvider)?;
        let dir = machines_dir().join(id);
        let net = BridgeNetwork::local();
        let mut meta = {
            let _lock = lock()?;
            let meta = read_meta(&dir).filter(|meta| meta.project == self.project);
            let Some(mut meta) = meta else {
                return Err(Error::InvalidMachine(format!(
                    "no local machine {id} in project {}",
                    self.project.display()
                )));
            };
            if meta.status() != LocalStatus::Off {
                return Ok(to_machine(id, &meta));
            }
            ensure_network(&net)?;
            meta.phase = Phase::Restarting;
            meta.booted_by = Owner::current().to_text().trim().to_string();
            write_meta(&dir, &meta)?;
            meta
        };
        match start_again(&net, &dir, &mut meta, timeout) {
            Ok(()) => Ok(to_machine(id, &meta)),
            Err(e) => {
                // Back to off, files kept; the start error matters more than a clean-up error,
                // which the next start retries.
                let _ = stop_runtime(&dir, &meta);
                meta.phase = Phase::Ready;
                meta.nspawn = None;
                let _ = write_meta(&dir, &meta);
                Err(e)
            }
        }
    }

    /// Every machine of this project, by name. Removes interrupted boots first (see the module
    /// docs).
    pub fn list(&self) -> Result<Vec<LocalMachine>, Error> {
        if settle_abandoned(Some(&self.project)) > 0 {
            let _lock = lock()?;
            release_network_if_unused()?;
        }
        let mut machines: Vec<LocalMachine> = all_metas()
            .into_iter()
            .filter(|(_, meta)| meta.project == self.project)
            .map(|(id, meta)| to_machine(&id, &meta))
            .collect();
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(machines)
    }

    /// The machine of this project named `name`, if there is one.
    pub fn find(&self, name: &str) -> Result<Option<LocalMachine>, Error> {
        Ok(self.list()?.into_iter().find(|m| m.name == name))
    }

    /// The machine of this project with id `id`, if there is one.
    pub fn get(&self, id: &str) -> Result<Option<LocalMachine>, Error> {
        Ok(self.list()?.into_iter().find(|m| m.id == id))
    }

    /// Powers machine `id` off (cleanly if it manages within 15 s, else killed) and removes
    /// everything it was made of. Returns whether it existed. A machine of another project is
    /// not touched (`Ok(false)`).
    pub fn destroy(&self, id: &str) -> Result<bool, Error> {
        let dir = machines_dir().join(id);
        let Some(meta) = read_meta(&dir) else {
            return Ok(false);
        };
        if meta.project != self.project {
            return Ok(false);
        }
        prerequisites::check(false, Purpose::LocalProvider)?;
        teardown(&dir, &meta)?;
        Ok(true)
    }
}

/// Fails unless this process can boot and destroy local machines: root, and the programs the
/// machinery runs. Tasks call it first, so a missing piece is one clear error before anything
/// else happens.
pub fn require_root() -> Result<(), Error> {
    prerequisites::check(false, Purpose::LocalProvider)
}

/// Destroys the machines of every project under `under` whose project directory no longer
/// exists: test projects whose test process died (their directory swept away with the dead
/// fleet records). Nobody can find those machines by name any more. Returns what could not be
/// removed; the next sweep retries.
pub fn sweep_abandoned_projects(under: &Path) -> Vec<Error> {
    let mut errors = Vec::new();
    for (id, meta) in all_metas() {
        if meta.project.starts_with(under) && !meta.project.exists() {
            let dir = machines_dir().join(id);
            if let Err(e) = teardown(&dir, &meta) {
                errors.push(e);
            }
        }
    }
    errors
}

/// Stops the machine and removes it ([`stop_and_remove`]), then the shared network when no
/// machine is left. Takes the [`lock`]: never call it under the lock.
fn teardown(dir: &Path, meta: &Meta) -> Result<(), Error> {
    stop_and_remove(dir, meta)?;
    let _lock = lock()?;
    release_network_if_unused()
}

/// Stops the machine (asking nspawn to power it off, then killing what is left) and undoes its
/// record, which removes its directory too.
fn stop_and_remove(dir: &Path, meta: &Meta) -> Result<(), Error> {
    if let Some((pid, start)) = meta.nspawn
        && process_start(pid) == Some(start)
        && let Some(raw) = rustix::process::Pid::from_raw(pid as i32)
    {
        // SIGTERM makes systemd-nspawn shut the machine down like `poweroff`.
        let _ = rustix::process::kill_process(raw, rustix::process::Signal::TERM);
        wait_until(POWEROFF_GRACE, || process_start(pid) != Some(start));
    }
    let errors = undo_all(&read_resources(dir));
    if let Some(first) = errors.into_iter().next() {
        return Err(first);
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io("cannot remove", dir, e))?;
    }
    Ok(())
}

/// Starts a machine that was off from its directory: undoes what its last run left (a machine
/// powered off from inside keeps its mounts and namespace; a reboot removed them), then network,
/// root file system (its own layer as it was) and nspawn, like a first boot but without making
/// it a new machine: hostname, keys and users stay as the machine itself last had them.
fn start_again(
    net: &BridgeNetwork,
    dir: &Path,
    meta: &mut Meta,
    timeout: Duration,
) -> Result<(), Error> {
    stop_runtime(dir, meta)?;
    let base = match &meta.base {
        Some(base) if base.is_dir() => base.clone(),
        Some(base) => {
            return Err(Error::InvalidMachine(format!(
                "{} cannot start again: the base tree under its files, {}, is gone (a newer dm \
                 replaced it): destroy it (`destroy {} --yes`) and boot it again",
                meta.name,
                base.display(),
                meta.name
            )));
        }
        // Booted by a dm that did not record its base tree: the one of this dm.
        None => base::ensure(Purpose::LocalProvider)?,
    };
    let record = Record::open(dir.to_path_buf())?;
    let index = usize::from(meta.address.octets()[3]) - 2;
    let id = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    network::create_machine_network(net, &record, index, &id)?;
    let root = rootfs::mount(&meta.name, &base, dir, &record)?;
    rootfs::refresh_resolver(&root)?;
    meta.base = Some(base);
    run_nspawn(dir, meta, &root, &record, timeout)
}

/// Starts the machine's systemd-nspawn on `root`, detached (it outlives dm), records its pid in
/// `machine.toml`, waits until its sshd greets, and marks the machine ready.
fn run_nspawn(
    dir: &Path,
    meta: &mut Meta,
    root: &Path,
    record: &Record,
    timeout: Duration,
) -> Result<(), Error> {
    let (name, netns) = (meta.name.clone(), meta.netns.clone());
    let log = dir.join("console.log");
    let boot_spec = BootSpec {
        name: &name,
        address: meta.address,
        root,
        netns: &netns,
        log: &log,
        cgroup_parent: LOCAL_PARENT,
        detached: true,
    };
    let child = boot::spawn(&boot_spec, record)?;
    let pid = child.id();
    let start = process_start(pid).unwrap_or(0);
    reap_in_background(child);
    meta.nspawn = Some((pid, start));
    write_meta(dir, meta)?;
    boot::wait_for_sshd(&boot_spec, pid, start, timeout)?;
    meta.phase = Phase::Ready;
    write_meta(dir, meta)
}

/// Stops machine's nspawn if it runs and undoes everything its record holds but its directory,
/// which then is all the record holds: the machine is off, with its files.
fn stop_runtime(dir: &Path, meta: &Meta) -> Result<(), Error> {
    if let Some((pid, start)) = meta.nspawn {
        kill_and_wait(pid, start);
    }
    let own = Resource::Dir(dir.to_path_buf());
    let runtime: Vec<Resource> = read_resources(dir)
        .into_iter()
        .filter(|resource| *resource != own)
        .collect();
    if let Some(first) = undo_all(&runtime).into_iter().next() {
        return Err(first);
    }
    replace_resources(dir, &[own])
}

/// Removes the shared network when no machine is left. Call under [`lock`].
fn release_network_if_unused() -> Result<(), Error> {
    if all_metas().is_empty() {
        release_network()?;
    }
    Ok(())
}

/// Removes interrupted boots (of `project` only, or of every project), leaving boots in
/// progress alone; returns how many. Does not touch the shared network, so it is safe under
/// [`lock`]. Failures are left for the next settle.
fn settle_abandoned(project: Option<&Path>) -> usize {
    let mut settled = 0;
    for (id, meta) in all_metas() {
        if project.is_some_and(|p| meta.project != p) || !meta.is_abandoned() {
            continue;
        }
        if stop_and_remove(&machines_dir().join(id), &meta).is_ok() {
            settled += 1;
        }
    }
    settled
}

/// The directory of machine directories.
fn machines_dir() -> PathBuf {
    Path::new(LOCAL_DIR).join("machines")
}

/// The shared network's record directory.
fn network_dir() -> PathBuf {
    Path::new(LOCAL_DIR).join("network")
}

/// Takes the lock that serializes address allocation and network creation and removal between
/// dm processes; released when the file is dropped (or the process dies).
fn lock() -> Result<File, Error> {
    let dir = Path::new(LOCAL_DIR);
    fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let path = dir.join("lock");
    let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
    file.lock()
        .map_err(|e| Error::io("cannot lock", &path, e))?;
    Ok(file)
}

/// Every machine on this host: its id (directory name) and `machine.toml`.
fn all_metas() -> Vec<(String, Meta)> {
    let Ok(entries) = fs::read_dir(machines_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let meta = read_meta(&entry.path())?;
            Some((entry.file_name().to_string_lossy().into_owned(), meta))
        })
        .collect()
}

fn read_meta(dir: &Path) -> Option<Meta> {
    toml::from_str(&fs::read_to_string(dir.join("machine.toml")).ok()?).ok()
}

/// Writes `machine.toml` aside and renames it into place: a reader never sees half of it.
fn write_meta(dir: &Path, meta: &Meta) -> Result<(), Error> {
    let path = dir.join("machine.toml");
    let text = toml::to_string(meta).map_err(|e| Error::Io {
        action: "cannot serialize",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let scratch = dir.join("machine.toml.new");
    fs::write(&scratch, text).map_err(|e| Error::io("cannot write", &scratch, e))?;
    fs::rename(&scratch, &path).map_err(|e| Error::io("cannot write", &path, e))
}

/// The first address of the local network no machine has. Call under [`lock`].
fn free_address() -> Result<Ipv4Addr, Error> {
    let taken: Vec<Ipv4Addr> = all_metas().into_iter().map(|(_, m)| m.address).collect();
    (2..=254u8)
        .map(|last| Ipv4Addr::new(10, 231, LOCAL_OCTET, last))
        .find(|address| !taken.contains(address))
        .ok_or_else(|| {
            Error::InvalidMachine(format!(
                "the local network 10.231.{LOCAL_OCTET}.0/24 is full (253 machines under {}): \
             destroy some with `dm destroy NAME`",
                machines_dir().display()
            ))
        })
}

/// Creates the shared bridge (with NAT to the package mirror) unless it exists. Call under
/// [`lock`]. What an earlier network left (its bridge vanished with a reboot, its firewall rules
/// did not) is removed first.
fn ensure_network(net: &BridgeNetwork) -> Result<(), Error> {
    if Path::new("/sys/class/net").join(net.bridge()).exists() {
        return Ok(());
    }
    release_network()?;
    let record = Record::open(network_dir())?;
    network::create_bridge(net, &record)
}

/// Removes the shared bridge, its NAT and forwarding rules. Call under [`lock`].
fn release_network() -> Result<(), Error> {
    let dir = network_dir();
    if let Some(first) = undo_all(&read_resources(&dir)).into_iter().next() {
        return Err(first);
    }
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot remove", &dir, e))
        }
        _ => Ok(()),
    }
}

/// Waits for nspawn in a thread, so it does not linger as a zombie of this process if it stops
/// while dm still runs. When dm exits first, nspawn is simply re-parented and keeps running.
fn reap_in_background(mut child: Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn to_machine(id: &str, meta: &Meta) -> LocalMachine {
    LocalMachine {
        id: id.to_string(),
        name: meta.name.clone(),
        address: meta.address,
        host_key: meta.host_key.clone(),
        status: meta.status(),
        roles: meta.roles.clone(),
        client_token: meta.client_token.clone(),
    }
}

/// Rejects names that cannot be hostnames or namespace names.
fn validate_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        return Ok(());
    }
    Err(Error::InvalidMachine(format!(
        "name {name:?} is not a hostname: use 1 to {MAX_NAME_LEN} letters, digits and \
         inner `-`"
    )))
}

/// Eight hex digits naming a project directory (FNV-1a of its path: stable across Rust
/// versions, unlike the standard hasher).
fn project_hash(project: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in project.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:08x}", hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_are_short_stable_and_differ() {
        let a = project_hash(Path::new("/srv/shop"));
        assert_eq!(a.len(), 8);
        assert_eq!(a, project_hash(Path::new("/srv/shop")));
        assert_ne!(a, project_hash(Path::new("/srv/blog")));
    }

    #[test]
    fn names_that_cannot_be_hostnames_are_refused() {
        assert!(validate_name("appnode2").is_ok());
        for bad in ["", "-a", "a-", "app_node", &"a".repeat(41)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn meta_round_trips_through_toml() {
        let meta = Meta {
            name: "appnode2".into(),
            project: "/srv/shop".into(),
            address: Ipv4Addr::new(10, 231, 255, 2),
            netns: "dml-0123abcd-appnode2".into(),
            phase: Phase::Booting,
            booted_by: "1 2 boot".into(),
            host_key: "ssh-ed25519 AAAA".into(),
            roles: vec!["appnode".into()],
            client_token: Some("t".into()),
            nspawn: Some((42, 7)),
            base: Some("/var/cache/dm-testing/bookworm-r1".into()),
        };
        let text = toml::to_string(&meta).unwrap();
        let back: Meta = toml::from_str(&text).unwrap();
        assert_eq!(back.nspawn, Some((42, 7)));
        assert_eq!(back.phase, Phase::Booting);
        assert!(
            back.is_abandoned(),
            "a made-up booting process is not alive"
        );
    }

    #[test]
    fn an_interrupted_start_leaves_the_machine_off_and_never_abandoned() {
        let mut meta: Meta = toml::from_str(
            "name = \"db1\"\nproject = \"/srv/shop\"\naddress = \"10.231.255.3\"\n\
             netns = \"dml-0123abcd-db1\"\nphase = \"restarting\"\nbooted_by = \"1 2 boot\"\n",
        )
        .unwrap();
        // The process starting it is gone (a made-up owner): off, and kept.
        assert_eq!(meta.status(), LocalStatus::Off);
        assert!(!meta.is_abandoned());
        // While this process starts it, it is booting.
        meta.booted_by = Owner::current().to_text().trim().to_string();
        assert_eq!(meta.status(), LocalStatus::Booting);
        // Written by a dm that did not record the base tree: it still reads.
        assert_eq!(meta.base, None);
    }
}
