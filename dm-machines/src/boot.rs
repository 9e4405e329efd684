//! Booting one machine: systemd-nspawn runs systemd as PID 1 of the prepared root file system inside
//! the machine's network namespace. A test machine counts as up once `ssh root@ADDRESS true`
//! succeeds from outside, which is exactly what dm needs of it; a local-provider machine once its
//! sshd greets (the operator's key may need a passphrase, so the provider cannot log in itself).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use super::cgroup;
use super::command::{self, find_program, program};
use super::error::Error;
use super::paths::NSPAWN_STATE;
use super::process::process_start;
use super::record::{Record, Resource};
use super::ssh::SshAccess;

/// What to boot.
pub struct BootSpec<'a> {
    /// The machine's name (its hostname).
    pub name: &'a str,
    /// Its address.
    pub address: Ipv4Addr,
    /// Its prepared root file system.
    pub root: &'a Path,
    /// Its network namespace.
    pub netns: &'a str,
    /// Where its console output goes.
    pub log: &'a Path,
    /// The cgroup directory holding it (see [`cgroup`]).
    pub cgroup_parent: &'static str,
    /// Start it in a session of its own, so it outlives this process and no terminal signal
    /// (Ctrl-C, hang-up) reaches it: local-provider machines run until destroyed.
    pub detached: bool,
}

/// Starts systemd-nspawn for the machine, its console going to the log file.
pub fn spawn(spec: &BootSpec<'_>, record: &Record) -> Result<Child, Error> {
    // What nspawn leaves behind when it is killed (a crash test, a killed test process): its lock
    // on the root directory, named by device and inode, and the machine's propagation directory.
    let state = Path::new(NSPAWN_STATE);
    let root = std::fs::metadata(spec.root).map_err(|e| Error::io("cannot read", spec.root, e))?;
    record.add(Resource::Dir(state.join(format!(
        "locks/inode-{}:{}",
        root.dev(),
        root.ino()
    ))))?;
    record.add(Resource::Dir(state.join("propagate").join(spec.netns)))?;
    let log = File::create(spec.log).map_err(|e| Error::io("cannot create", spec.log, e))?;
    let log_too = log
        .try_clone()
        .map_err(|e| Error::io("cannot open", spec.log, e))?;
    let cgroups = cgroup::create(record, spec.cgroup_parent, spec.netns)?;
    // A shell moves itself into the machine's cgroups, then becomes systemd-nspawn (same pid), so
    // nspawn starts in them without unsafe pre-exec code here.
    let mut nspawn = program("sh");
    nspawn
        .arg("-c")
        .arg(
            r#"while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#,
        )
        .arg("dm-testing-boot")
        .args(&cgroups)
        .arg("--");
    if spec.detached {
        // The shell is not a process group leader, so setsid(1) makes the new session itself and
        // execs: nspawn keeps the pid that was recorded.
        nspawn.arg(find_program("setsid").unwrap_or_else(|| "setsid".into()));
    }
    nspawn
        .arg(find_program("systemd-nspawn").unwrap_or_else(|| "systemd-nspawn".into()))
        .args(["-q", "-b", "-D"])
        .arg(spec.root)
        // Without these two, nspawn asks systemd-machined over the system bus, which a test
        // host may not have ("Failed to open system bus").
        .args(["--register=no", "--keep-unit"])
        .arg(format!(
            "--network-namespace-path=/run/netns/{}",
            spec.netns
        ))
        // A server's own firewall (nftables, as `provision` sets up) needs CAP_NET_ADMIN, which
        // nspawn drops by default; it acts only on the machine's own network namespace.
        .arg("--capability=CAP_NET_ADMIN")
        // /proc/sys/net writable, the rest of /proc/sys read-only as before: network kernel
        // parameters belong to the machine's own network namespace (another machine or the host
        // never sees them), and a server sets them (`ops::Sysctl`, a firewall's forwarding).
        .env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")
        // The nspawn machine name must be unique on the host across fleets; the hostname is the
        // machine's own name.
        .args(["-M", spec.netns])
        .arg(format!("--hostname={}", spec.name))
        // The harness wrote /etc/resolv.conf itself; nspawn must not replace it.
        .arg("--resolv-conf=off")
        .stdout(log)
        .stderr(log_too);
    let child = nspawn.spawn().map_err(|e| Error::Command {
        action: format!("booting machine {}", spec.name),
        command: command::display(&nspawn),
        outcome: format!("could not start: {e}"),
        stderr: String::new(),
    })?;
    let pid = child.id();
    record.add(Resource::Process {
        pid,
        start: process_start(pid).unwrap_or(0),
    })?;
    Ok(child)
}

/// Waits until the machine answers `ssh root@ADDRESS true`, polling: first until port 22 accepts
/// connections (cheap), then until a full login works. Fails early if nspawn exits.
pub fn wait_for_ssh(
    spec: &BootSpec<'_>,
    child: &mut Child,
    ssh: &SshAccess,
    timeout: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    let port = SocketAddr::from((spec.address, 22));
    let mut last_attempt = String::from("port 22 never accepted a connection");
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::MachineExited {
                machine: spec.name.to_string(),
                address: spec.address,
                status: status.to_string(),
                log: spec.log.to_path_buf(),
                tail: command::tail_of_file(spec.log, 30),
            });
        }
        if TcpStream::connect_timeout(&port, Duration::from_millis(200)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut login = ssh.command("root", spec.address);
        login.arg("true").stdout(std::process::Stdio::null());
        match login.output() {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => {
                last_attempt = format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            Err(e) => last_attempt = format!("could not run ssh: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(boot_timeout(spec, timeout, last_attempt))
}

/// Waits until sshd on the machine greets with its `SSH-2.0-` banner, polling. Fails early if
/// the machine's systemd-nspawn (`pid`, started at `start`) is gone.
pub fn wait_for_sshd(
    spec: &BootSpec<'_>,
    pid: u32,
    start: u64,
    timeout: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    let port = SocketAddr::from((spec.address, 22));
    let mut last_attempt = String::from("port 22 never accepted a connection");
    while started.elapsed() < timeout {
        if process_start(pid) != Some(start) {
            return Err(Error::MachineExited {
                machine: spec.name.to_string(),
                address: spec.address,
                status: "exited".to_string(),
                log: spec.log.to_path_buf(),
                tail: command::tail_of_file(spec.log, 30),
            });
        }
        match read_banner(port) {
            Ok(banner) if banner.starts_with("SSH-") => return Ok(()),
            Ok(banner) => last_attempt = format!("port 22 answered {banner:?}, not an SSH banner"),
            Err(e) => last_attempt = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(boot_timeout(spec, timeout, last_attempt))
}

/// The first line a server at `address` sends after a TCP connection.
fn read_banner(address: SocketAddr) -> std::io::Result<String> {
    use std::io::Read;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(300))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buffer = [0u8; 256];
    let read = stream.read(&mut buffer)?;
    let text = String::from_utf8_lossy(&buffer[..read]);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The machine did not answer within `timeout`; `last_attempt` says what the last try saw.
fn boot_timeout(spec: &BootSpec<'_>, timeout: Duration, last_attempt: String) -> Error {
    Error::BootTimeout {
        machine: spec.name.to_string(),
        address: spec.address,
        seconds: timeout.as_secs(),
        last_attempt,
        log: spec.log.to_path_buf(),
        tail: command::tail_of_file(spec.log, 30),
    }
}
