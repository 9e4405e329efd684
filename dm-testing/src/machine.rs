//! One booted test machine: a Debian bookworm system with systemd and sshd, its own address, host
//! key and file system. Tests check it from outside over SSH, and break it on purpose (crash,
//! network cut, firewall, new host key) to test how dm copes.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::http::{self, HttpResponse};
use dm_core::shell_quote;
use dm_machines::keys::{self, PublicKey};
use dm_machines::network;
use dm_machines::process::{kill_namespace_processes, wait_until};
use dm_machines::ssh::SshAccess;

/// The exit status `ssh` reports when it could not connect or authenticate (rather than the
/// remote command's own status).
const SSH_FAILED: i32 = 255;

/// A booted machine of a [`Fleet`](crate::Fleet). Lives as long as its fleet.
///
/// Users on every machine: `root` and `deploy`, both accepting the fleet's key
/// ([`Fleet::private_key`](crate::Fleet::private_key)); `deploy` is in group `sudo` with password
/// `deploy-password`, so `sudo` asks for it.
#[derive(Debug)]
pub struct Machine {
    name: String,
    roles: Vec<String>,
    vars: toml::Table,
    address: Ipv4Addr,
    netns: String,
    veth: String,
    root: PathBuf,
    log: PathBuf,
    host_key: Mutex<PublicKey>,
    nspawn: Mutex<Option<Child>>,
    ssh: Arc<SshAccess>,
}

/// Everything a [`Machine`] is made of, as the fleet boots it.
pub(crate) struct MachineParts {
    pub(crate) name: String,
    pub(crate) roles: Vec<String>,
    pub(crate) vars: toml::Table,
    pub(crate) address: Ipv4Addr,
    pub(crate) netns: String,
    pub(crate) veth: String,
    pub(crate) root: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) host_key: PublicKey,
    pub(crate) nspawn: Child,
    pub(crate) ssh: Arc<SshAccess>,
}

impl Machine {
    /// Assembles a booted machine.
    pub(crate) fn from_parts(parts: MachineParts) -> Machine {
        Machine {
            name: parts.name,
            roles: parts.roles,
            vars: parts.vars,
            address: parts.address,
            netns: parts.netns,
            veth: parts.veth,
            root: parts.root,
            log: parts.log,
            host_key: Mutex::new(parts.host_key),
            nspawn: Mutex::new(Some(parts.nspawn)),
            ssh: parts.ssh,
        }
    }

    /// The machine's name, as declared; also its hostname.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The machine's IPv4 address (10.231.N.x), reachable from the machine running the tests.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The roles the machine was declared with.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The machine's own vars, as declared (see [`FleetBuilder::var`](crate::FleetBuilder::var)).
    pub fn vars(&self) -> &toml::Table {
        &self.vars
    }

    /// The machine's root file system as seen from the host (an overlay mount), for inspecting
    /// files without going through SSH.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// The machine's console log (systemd's boot messages).
    pub fn boot_log(&self) -> &Path {
        &self.log
    }

    /// Runs `cmd` as root on the machine, from outside, through the OpenSSH client with the
    /// fleet key (`BatchMode=yes`, strict host key checking). Err only when `ssh` cannot be run;
    /// a failing command or connection shows in the output's status (255 for SSH failures).
    pub fn exec(&self, cmd: &str) -> std::io::Result<Output> {
        self.exec_as("root", cmd)
    }

    /// Like [`Machine::exec`], as `user` (`root` or `deploy`).
    pub fn exec_as(&self, user: &str, cmd: &str) -> std::io::Result<Output> {
        self.ssh_command(user).arg(cmd).output()
    }

    /// Like [`Machine::exec`], connecting through `jump` as a bastion (an `ssh -W` proxy via
    /// root@jump), so the connection reaches this machine from `jump`'s address.
    pub fn exec_via(&self, jump: &Machine, cmd: &str) -> std::io::Result<Output> {
        self.ssh
            .command_via("root", self.address, jump.address)
            .arg(cmd)
            .output()
    }

    /// The `ssh` command [`Machine::exec_as`] runs, without the remote command: for tests that
    /// need more control (stdin, extra options). Append the remote command as one argument.
    pub fn ssh_command(&self, user: &str) -> Command {
        self.ssh.command(user, self.address)
    }

    /// Runs `cmd` as root (see [`Machine::exec`]) and returns its stdout.
    ///
    /// # Panics
    /// This is a test helper: it panics, naming the machine, the command, the exit status and
    /// stderr, when the command cannot be run or fails.
    #[track_caller]
    pub fn exec_ok(&self, cmd: &str) -> String {
        match self.exec(cmd) {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
            Ok(output) => panic!(
                "on {} ({}): `{cmd}` failed ({}); stderr: {}; stdout: {}",
                self.name,
                self.address,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim(),
            ),
            Err(e) => panic!(
                "on {} ({}): cannot run ssh for `{cmd}`: {e}",
                self.name, self.address
            ),
        }
    }

    /// The content of file `path` on the machine, read over SSH as root (so it is what the
    /// machine itself sees, symlinks and all). Bytes that are not UTF-8 are replaced.
    ///
    /// # Panics
    /// This is a test helper: it panics, naming the machine and the file, when the file cannot be
    /// read (it does not exist, or the machine does not answer).
    #[track_caller]
    pub fn read_file(&self, path: &str) -> String {
        match self.exec(&format!("cat -- {}", shell_quote(path))) {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
            Ok(output) => panic!(
                "on {} ({}): cannot read {path}: {}",
                self.name,
                self.address,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(e) => panic!(
                "on {} ({}): cannot run ssh to read {path}: {e}",
                self.name, self.address
            ),
        }
    }

    /// Whether systemd unit `unit` (`nginx`, `ssh.service`, `app.socket`) is active on the
    /// machine right now: `systemctl is-active` asked over SSH.
    ///
    /// # Panics
    /// This is a test helper: it panics when the machine cannot be asked (SSH fails), so an
    /// unreachable machine never reads as "not active".
    #[track_caller]
    pub fn is_active(&self, unit: &str) -> bool {
        match self.exec(&format!(
            "systemctl is-active --quiet -- {}",
            shell_quote(unit)
        )) {
            Ok(output) if output.status.code() == Some(SSH_FAILED) => panic!(
                "on {} ({}): cannot ask whether {unit} is active: ssh failed: {}",
                self.name,
                self.address,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Ok(output) => output.status.success(),
            Err(e) => panic!(
                "on {} ({}): cannot run ssh to ask whether {unit} is active: {e}",
                self.name, self.address
            ),
        }
    }

    /// `GET path` on port `port` of the machine, over plain HTTP/1.1 from the machine running the
    /// tests (from outside, as a client would): the status, headers and body. Err when no
    /// connection can be made or no complete response arrives within 10 s.
    pub fn http_get(&self, port: u16, path: &str) -> std::io::Result<HttpResponse> {
        http::get(SocketAddr::from((self.address, port)), path)
    }

    /// The machine's ed25519 host public key, `ssh-ed25519 BASE64` (no comment), as it is now.
    pub fn host_public_key(&self) -> String {
        self.lock_host_key().line.clone()
    }

    /// The `SHA256:...` fingerprint of the machine's host key, as `ssh` prints it.
    pub fn host_key_fingerprint(&self) -> String {
        self.lock_host_key().fingerprint.clone()
    }

    /// Whether the machine's systemd-nspawn is still running (false after [`Machine::power_off`]).
    pub fn is_running(&self) -> bool {
        let mut nspawn = self.lock_nspawn();
        matches!(
            nspawn.as_mut().map(|child| child.try_wait()),
            Some(Ok(None))
        )
    }

    /// Crashes the machine: kills its systemd-nspawn and every process of the machine, with no
    /// shutdown, and returns once all of them are gone. Its address stops answering.
    pub fn power_off(&self) {
        if let Some(mut child) = self.lock_nspawn().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_namespace_processes(&self.netns);
    }

    /// Cuts the machine's network cable (sets the host end of its veth pair down): packets to and
    /// from it are lost, as with a dead switch port; connections hang rather than fail.
    ///
    /// # Panics
    /// This is a test helper: it panics with the failing `ip` command if the link cannot be set.
    #[track_caller]
    pub fn cut_network(&self) {
        if let Err(e) = network::set_link(&self.veth, false) {
            panic!("cannot cut the network of {}: {e}", self.name);
        }
    }

    /// Reconnects the cable cut by [`Machine::cut_network`].
    ///
    /// # Panics
    /// This is a test helper: it panics with the failing `ip` command if the link cannot be set.
    #[track_caller]
    pub fn restore_network(&self) {
        if let Err(e) = network::set_link(&self.veth, true) {
            panic!("cannot restore the network of {}: {e}", self.name);
        }
    }

    /// Limits the bandwidth towards the machine to `kbit_per_s` (a token-bucket qdisc on the host
    /// end of its link), as a slow link would: transfers slow down, nothing is lost. (This kernel
    /// has no netem, so delay cannot be added; a rate limit can.)
    ///
    /// # Panics
    /// This is a test helper: it panics with the failing `tc` command.
    #[track_caller]
    pub fn limit_bandwidth(&self, kbit_per_s: u32) {
        if let Err(e) = network::limit_bandwidth(&self.veth, kbit_per_s) {
            panic!("cannot limit the bandwidth of {}: {e}", self.name);
        }
    }

    /// Firewalls the machine's sshd (iptables in its namespace) so that only `other`'s address
    /// may connect to port 22; others get a TCP reset. Reach the machine with
    /// [`Machine::exec_via`] `other` afterwards: [`Machine::exec`] from outside is refused too.
    ///
    /// # Panics
    /// This is a test helper: it panics with the failing iptables command.
    #[track_caller]
    pub fn allow_ssh_only_from(&self, other: &Machine) {
        if let Err(e) = network::allow_ssh_only_from(&self.netns, other.address) {
            panic!("cannot limit ssh on {} to {}: {e}", self.name, other.name);
        }
    }

    /// Gives the machine a new host key and restarts sshd, as a reinstalled server would; returns
    /// the new public key line. The fleet's [`known_hosts`](crate::Fleet::known_hosts) keeps the
    /// old key, so dm pointed at it sees a changed host key; the harness's own checks
    /// ([`Machine::exec`]) follow the new key.
    ///
    /// # Panics
    /// This is a test helper: it panics when the key cannot be written or sshd does not come back.
    #[track_caller]
    pub fn regenerate_host_key(&self) -> String {
        let path = self.root.join("etc/ssh/ssh_host_ed25519_key");
        let key = match keys::generate(&path, &format!("root@{}", self.name)) {
            Ok(key) => key,
            Err(e) => panic!("cannot regenerate the host key of {}: {e}", self.name),
        };
        if let Err(e) = self.ssh.set_host_key(self.address, &key.line) {
            panic!("cannot record the new host key of {}: {e}", self.name);
        }
        *self.lock_host_key() = key.clone();
        // sshd reads host keys at each new connection already; the restart makes sure no
        // process still serves the old key.
        self.exec_ok("systemctl restart ssh");
        let answered = wait_until(Duration::from_secs(30), || {
            self.exec("true")
                .is_ok_and(|output| output.status.success())
        });
        if !answered {
            panic!(
                "{} ({}) did not answer ssh within 30 s after its host key changed",
                self.name, self.address
            );
        }
        key.line
    }

    /// Asks the machine to power off cleanly (SIGTERM to systemd-nspawn makes it shut the
    /// container down like `poweroff`). Used at teardown, followed by
    /// [`Machine::power_off`] for machines that did not stop in time.
    pub(crate) fn request_poweroff(&self) {
        if let Some(child) = self.lock_nspawn().as_ref()
            && let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    /// Whether a requested poweroff has completed (or the machine was never running).
    pub(crate) fn has_stopped(&self) -> bool {
        let mut nspawn = self.lock_nspawn();
        match nspawn.as_mut() {
            None => true,
            Some(child) => !matches!(child.try_wait(), Ok(None)),
        }
    }

    /// The host key, even if a panicking test poisoned the lock.
    fn lock_host_key(&self) -> MutexGuard<'_, PublicKey> {
        self.host_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The nspawn child, even if a panicking test poisoned the lock.
    fn lock_nspawn(&self) -> MutexGuard<'_, Option<Child>> {
        self.nspawn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
