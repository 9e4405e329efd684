//! A real OpenSSH server for the ssh tests: `/usr/sbin/sshd` on 127.0.0.1, a free port, its own
//! host key, authorized_keys and log, all in a temporary directory. Killed (with every process it
//! forked) when dropped.
#![allow(dead_code)] // each test file uses a different part

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dm_core::host::Host;
use dm_core::ssh::{ConnectOptions, HostKeyPolicy};

/// One running sshd.
pub struct Sshd {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Temporary directory holding its files (removed on drop).
    pub dir: tempfile::TempDir,
    /// A client private key (ed25519, no passphrase) that the server accepts for root.
    pub key: PathBuf,
    /// A known_hosts file that already records this server's host key.
    pub known_hosts: PathBuf,
    /// sshd's log (`-E`).
    pub log: PathBuf,
}

/// Runs `ssh-keygen` to make a key pair at `path` (`path.pub` for the public half).
pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "dm-test", "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let status = cmd.stdin(Stdio::null()).status().expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

impl Sshd {
    /// Starts sshd with a stock test configuration plus `extra` config lines.
    pub fn start() -> Sshd {
        Sshd::start_with(&[])
    }

    /// Starts sshd with extra config lines (e.g. `"MaxSessions 10"`, `"LogLevel DEBUG1"`).
    pub fn start_with(extra: &[&str]) -> Sshd {
        // sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "ed25519", "");
        let key = d.join("client_ed25519");
        keygen(&key, "ed25519", "");
        fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let log = d.join("sshd.log");
        for _attempt in 0..5 {
            let port = free_port();
            // sshd keeps the first value of a keyword: the extra lines go first to override.
            let mut config: String = extra.iter().map(|l| format!("{l}\n")).collect();
            config.push_str(&format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding yes\n",
                d.join("host_ed25519").display(),
                d.join("authorized_keys").display(),
            ));
            fs::write(d.join("sshd_config"), config).expect("write sshd_config");
            let mut child = Command::new("/usr/sbin/sshd")
                .arg("-D")
                .arg("-f")
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .spawn()
                .expect("start /usr/sbin/sshd");
            if wait_ready(&mut child, port) {
                let sshd = Sshd {
                    child,
                    port,
                    known_hosts: d.join("known_hosts"),
                    key,
                    log,
                    dir,
                };
                let line = sshd.known_hosts_line(&sshd.dir.path().join("host_ed25519.pub"));
                fs::write(&sshd.known_hosts, line).expect("write known_hosts");
                return sshd;
            }
            // The port was taken in the meantime: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start; see {}", log.display());
    }

    /// A known_hosts line for this server and the public key file `pub_path`.
    pub fn known_hosts_line(&self, pub_path: &Path) -> String {
        let public = fs::read_to_string(pub_path).expect("read host public key");
        let mut parts = public.split_whitespace();
        let (kind, blob) = (parts.next().unwrap(), parts.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {blob}\n", self.port)
    }

    /// The host as dm sees it: root on 127.0.0.1:port with the client key.
    pub fn host(&self, name: &str) -> Host {
        let mut host = Host::new(name, "127.0.0.1");
        host.port = self.port;
        host.identity_files = vec![self.key.clone()];
        host
    }

    /// Options that use this server's known_hosts, no agent, and short timeouts.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            known_hosts: self.known_hosts.clone(),
            host_key_policy: HostKeyPolicy::Strict,
            use_agent: false,
            connect_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        }
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// sshd and every process it forked (one per connection), by pid.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while i < pids.len() {
            pids.extend(children_of(pids[i]));
            i += 1;
        }
        pids
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to sshd and all its descendants.
    pub fn signal_all(&self, signal: &str) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Kills sshd and its per-connection processes: their sockets close at once.
    pub fn kill(&mut self) {
        self.signal_all("KILL");
        let _ = self.child.wait();
    }
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn children_of(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.signal_all("CONT");
        self.kill();
    }
}
