//! Test support for dm's end-to-end tests: run the test fabfile like a user would, against a
//! fleet of real machines, and check the result from outside.
//!
//! ```no_run
//! # use dm_tests::*;
//! let fleet = fleet(&[("app1", &["appnode"]), ("app2", &["appnode"])]);
//! let run = Dm::new(&fleet).args(["-R", "appnode", "whoami"]).run();
//! run.assert_success();
//! ```

// Helpers of tests: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use dm::testing::{Fleet, FleetBuilder, RunReport};

mod secrets;
pub use secrets::{init_secrets, secrets_cli, set_secret};

/// Boots a fleet of named machines with roles through the public testing API (`dm::testing`, the
/// same one fabfile tests use), panicking with the harness's message on failure.
pub fn fleet(machines: &[(&str, &[&str])]) -> Fleet {
    let mut builder = Fleet::builder();
    for (name, roles) in machines {
        builder = builder.machine(name, roles);
    }
    boot(builder)
}

/// Boots the fleet `builder` describes, panicking with the harness's message on failure.
pub fn boot(builder: FleetBuilder) -> Fleet {
    builder
        .boot()
        .unwrap_or_else(|e| panic!("cannot boot test machines: {e}"))
}

/// Everything an in-process run printed and its errors, a line each, for assertions and failure
/// messages.
pub fn report_text(report: &RunReport) -> String {
    report
        .hosts
        .iter()
        .flat_map(|h| {
            h.output
                .iter()
                .map(|l| l.line.clone())
                .chain(h.error.clone())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rewrites the fleet's dm.toml with `vars` (an inline TOML table) as its global vars.
pub fn set_vars(fleet: &Fleet, vars: &str) {
    let text = format!("vars = {vars}\n{}", fleet.inventory_toml());
    write(&fleet.dir().join("dm.toml"), &text);
}

/// How long [`dm_run`] lets a run take: a run that takes longer hangs, and the test fails
/// instead of waiting for CI's limit.
pub const DM_RUN_DEADLINE: Duration = Duration::from_secs(300);

/// Runs the test binary's tasks in-process ([`Fleet::dm_within`]) with `--json` and `args`,
/// panicking when the run cannot start or outlives [`DM_RUN_DEADLINE`].
pub fn dm_run(fleet: &Fleet, args: &[&str]) -> RunReport {
    let mut line = vec!["--json"];
    line.extend_from_slice(args);
    fleet
        .dm_within(DM_RUN_DEADLINE, &line)
        .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"))
}

/// One invocation of the test fabfile binary, built up like a command line.
pub struct Dm {
    cmd: Command,
    args: Vec<String>,
    dir: PathBuf,
}

impl Dm {
    /// The test fabfile, run in the fleet's directory, where the fleet's inventory is `dm.toml`
    /// ([`Fleet::inventory_path`], written at boot; a test may replace it). The subprocess is what
    /// dm's end-to-end tests add to the public API: they test the binary a user runs, where
    /// [`Fleet::dm`] runs tasks in-process.
    pub fn new(fleet: &Fleet) -> Dm {
        let inventory = fleet.inventory_path();
        let dir = inventory
            .parent()
            .unwrap_or_else(|| panic!("{} has no directory", inventory.display()));
        Dm::in_dir(dir)
    }

    /// The test fabfile run in `dir` (which may hold a dm.toml of the test's own).
    pub fn in_dir(dir: &Path) -> Dm {
        let mut cmd = Command::new(fabfile_bin());
        cmd.current_dir(dir)
            .env_remove("DM_SUDO_PASSWORD")
            .env_remove("DM_ENV")
            .env_remove("DM_INVENTORY")
            .env("NO_COLOR", "1")
            .env("HOME", dir);
        Dm {
            cmd,
            args: Vec::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// Adds command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Dm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: &str, value: &str) -> Dm {
        self.cmd.env(key, value);
        self
    }

    /// The directory the fabfile runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs it to completion, within [`RUN_DEADLINE`]: a hang fails the test (and kills the
    /// run) instead of running into CI's time limit.
    pub fn run(mut self) -> Run {
        // Like `Command::output`: no standard input (nothing to confirm with, no terminal).
        self.cmd.stdin(std::process::Stdio::null());
        let args = self.args.clone();
        let child = self.spawn();
        Run {
            output: wait_with_deadline(child, RUN_DEADLINE, &args),
            args,
        }
    }

    /// Runs it under a terminal (`script`), as from a user's shell, typing `input` at once (e.g.
    /// commands for an interactive shell: the terminal keeps them until they are read). Standard
    /// output and error both arrive in [`Run::stdout`], as on a terminal.
    pub fn run_in_terminal(self, input: &[u8]) -> Run {
        let mut terminal = self.start_in_terminal();
        terminal.type_text(input);
        terminal.finish()
    }

    /// Starts it under a terminal (`script`), as from a user's shell, for a test that waits for
    /// what it shows ([`Terminal::wait_for`]) before it types ([`Terminal::type_text`]).
    pub fn start_in_terminal(self) -> Terminal {
        let mut line = shell_word(&fabfile_bin().display().to_string());
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_word(arg));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("DM_SUDO_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `script` (util-linux): {e}"));
        let (send, shown) = std::sync::mpsc::channel();
        let reader = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                    if send.send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            })
        });
        Terminal {
            stdin: child.stdin.take(),
            child: Some(child),
            shown,
            reader,
            text: Vec::new(),
            seen_up_to: 0,
            args: self.args,
            deadline: std::time::Instant::now() + RUN_DEADLINE,
        }
    }

    /// Runs it to completion, killing it and panicking when it takes longer than `limit`.
    pub fn run_within(mut self, limit: std::time::Duration) -> Run {
        use std::io::Read;
        let mut child = self
            .cmd
            .args(&self.args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the test fabfile: {e}"));
        // Drained on threads, so a chatty run cannot block on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let started = std::time::Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < limit => {
                    // Polling the child's exit: a process offers no readiness signal to block
                    // on with a timeout in std.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("dm {:?} did not finish within {limit:?}", self.args);
                }
                Err(e) => panic!("dm {:?}: cannot wait for it: {e}", self.args),
            }
        };
        let output = Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        Run {
            args: self.args,
            output,
        }
    }

    /// Starts it without waiting (for tests that interrupt it or act on hosts meanwhile).
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .args(&self.args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the test fabfile: {e}"))
    }
}

/// A run of the fabfile under a terminal, started with [`Dm::start_in_terminal`]: what it shows
/// is read as it comes, so a test types only once it has seen the prompt.
pub struct Terminal {
    /// `script`, until [`Terminal::finish`] waits for it (a dropped terminal kills it).
    child: Option<std::process::Child>,
    stdin: Option<std::process::ChildStdin>,
    shown: std::sync::mpsc::Receiver<Vec<u8>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Everything the terminal showed so far.
    text: Vec<u8>,
    /// Where the next [`Terminal::wait_for`] starts looking: after what the last one found.
    seen_up_to: usize,
    args: Vec<String>,
    deadline: std::time::Instant,
}

impl Terminal {
    /// Waits until the terminal shows `text` (after what the previous wait found), within the
    /// run's deadline; panics with what it showed when the run ends or the deadline passes first.
    pub fn wait_for(&mut self, text: &str) -> &mut Terminal {
        loop {
            if let Some(at) = find(&self.text[self.seen_up_to..], text.as_bytes()) {
                self.seen_up_to += at + text.len();
                return self;
            }
            let left = self
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            match self.shown.recv_timeout(left) {
                Ok(bytes) => self.text.extend_from_slice(&bytes),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "dm {:?} did not show {text:?} within {RUN_DEADLINE:?}; it showed:\n{}",
                        self.args,
                        String::from_utf8_lossy(&self.text)
                    );
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "dm {:?} ended without showing {text:?}; it showed:\n{}",
                    self.args,
                    String::from_utf8_lossy(&self.text)
                ),
            }
        }
    }

    /// Waits until the terminal has shown every one of `texts`, in any order (after what the
    /// previous wait found; the next wait looks after the last of them).
    pub fn wait_for_each(&mut self, texts: &[&str]) -> &mut Terminal {
        let from = self.seen_up_to;
        let mut end = from;
        for text in texts {
            self.seen_up_to = from;
            self.wait_for(text);
            end = end.max(self.seen_up_to);
        }
        self.seen_up_to = end;
        self
    }

    /// Types `input` into the terminal, as a user at the keyboard would.
    pub fn type_text(&mut self, input: &[u8]) -> &mut Terminal {
        use std::io::Write;
        if let Some(stdin) = self.stdin.as_mut() {
            stdin
                .write_all(input)
                .and_then(|()| stdin.flush())
                .unwrap_or_else(|e| panic!("cannot type into the terminal: {e}"));
        }
        self
    }

    /// Whether the run has ended.
    pub fn has_ended(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Waits for the run to end (within its deadline, else kills it and panics) and returns it,
    /// everything the terminal showed in [`Run::stdout`].
    pub fn finish(mut self) -> Run {
        loop {
            let left = self
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            match self.shown.recv_timeout(left) {
                Ok(bytes) => self.text.extend_from_slice(&bytes),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "dm {:?} did not finish within {RUN_DEADLINE:?}; killed it. It showed:\n{}",
                        self.args,
                        String::from_utf8_lossy(&self.text)
                    );
                }
            }
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // The terminal's output has ended: the session is over, `script` exits now.
        drop(self.stdin.take());
        let output = self
            .child
            .take()
            .map(|child| child.wait_with_output())
            .unwrap_or_else(|| panic!("the terminal session was already waited for"))
            .unwrap_or_else(|e| panic!("the terminal session did not end: {e}"));
        Run {
            args: std::mem::take(&mut self.args),
            output: Output {
                stdout: std::mem::take(&mut self.text),
                ..output
            },
        }
    }
}

impl Drop for Terminal {
    /// A terminal left unfinished (a failed assertion, a missed prompt) ends its session, so
    /// the test's panic does not leave dm running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How long one dm run of a test may take: longer than any run of the suite (a first
/// `launch` with apt and pip), far shorter than CI's limit.
pub const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Waits for a child started with [`Dm::spawn`] and collects its output; kills it and panics
/// with what it printed so far when it is not done within `deadline`.
pub fn wait_with_deadline(
    mut child: std::process::Child,
    deadline: std::time::Duration,
    args: &[String],
) -> Output {
    use std::io::Read;
    // Pipes are drained on threads so a chatty run cannot block on a full pipe.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
                let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                panic!(
                    "dm {} did not finish within {deadline:?}; killed it.\nstdout:\n{out}\nstderr:\n{err}",
                    args.join(" ")
                );
            }
            Err(e) => panic!("cannot wait for dm {}: {e}", args.join(" ")),
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A finished run of the fabfile.
pub struct Run {
    /// The arguments it ran with.
    pub args: Vec<String>,
    /// What it printed and how it exited.
    pub output: Output,
}

impl Run {
    /// Wraps the output of a process started with [`Dm::spawn`].
    pub fn from_output(args: Vec<String>, output: Output) -> Run {
        Run { args, output }
    }

    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The exit code (-1 when killed by a signal).
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Panics with the whole run when it did not exit 0.
    pub fn assert_success(&self) -> &Run {
        assert_eq!(
            self.code(),
            0,
            "dm {:?} failed:\n{}",
            self.args,
            self.describe()
        );
        self
    }

    /// Panics unless it exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "dm {:?}: unexpected exit code:\n{}",
            self.args,
            self.describe()
        );
        self
    }

    /// Panics unless stdout or stderr contains `text`.
    pub fn assert_output_contains(&self, text: &str) -> &Run {
        assert!(
            self.stdout().contains(text) || self.stderr().contains(text),
            "dm {:?}: expected output to contain {text:?}:\n{}",
            self.args,
            self.describe()
        );
        self
    }

    /// The `--json` report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "dm {:?}: stdout is not JSON ({e}):\n{}",
                self.args,
                self.describe()
            )
        })
    }

    /// Lines of stdout printed for `host` (without the `[host] ` prefix).
    pub fn host_lines(&self, host: &str) -> Vec<String> {
        let prefix = format!("[{host}] ");
        self.stdout()
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// Everything about the run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }
}

/// `s` quoted as one word for `sh`.
fn shell_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Writes a file, panicking with the path on failure.
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Per-host `(start, end)` timestamps printed by the `stamp` task.
pub fn stamps(run: &Run, host: &str) -> (f64, f64) {
    let value = |word: &str| -> f64 {
        run.host_lines(host)
            .iter()
            .find_map(|l| l.strip_prefix(word).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no `{word}` stamp for {host}:\n{}", run.describe()))
    };
    (value("start "), value("end "))
}

/// The test fabfile binary, built by cargo next to the test executables (`target/debug/fabfile`).
pub fn fabfile_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    // target/debug/deps/e2e_x-HASH -> target/debug/fabfile
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let bin = debug.join("fabfile");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with cargo",
        bin.display()
    );
    bin
}

/// Runs git in `repo` on the controller (with a fixed author, so tests need no git config) and
/// returns its trimmed stdout; panics with git's stderr when it fails.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=dm test",
            "-c",
            "user.email=dm@example.invalid",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The webapp example's directory (its dm.toml, secrets and sample app).
pub fn webapp_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webapp")
}

/// `ssh user@machine true` with only password (and keyboard-interactive) authentication
/// allowed, never prompting: its stderr names the methods the server offers.
pub fn password_login(fleet: &Fleet, machine: &dm::testing::Machine, user: &str) -> Output {
    let known_hosts = format!("UserKnownHostsFile={}", fleet.known_hosts().display());
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .args(["-o", &known_hosts, "-o", "PubkeyAuthentication=no"])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args(["-o", "ConnectTimeout=10"])
        .arg(format!("{user}@{}", machine.address()))
        .arg("true")
        .output()
        .expect("ssh runs")
}

/// Does to local machine `id` (see `dm_machines::local`) what a reboot of this host does:
/// its systemd-nspawn and everything in its network namespace are killed, the namespace and the
/// mount of its root file system are gone; its files stay.
pub fn simulate_host_reboot(id: &str) {
    let dir = Path::new(dm_machines::paths::LOCAL_DIR)
        .join("machines")
        .join(id);
    let meta = std::fs::read_to_string(dir.join("machine.toml")).expect("the machine's record");
    let pid = meta
        .lines()
        .find_map(|l| l.strip_prefix("nspawn = ["))
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.trim().parse::<i32>().ok())
        .unwrap_or_else(|| panic!("no nspawn pid in {meta}"));
    let sh = |cmd: &str| {
        let status = Command::new("sh")
            .args(["-c", cmd])
            .status()
            .expect("sh runs");
        assert!(status.success(), "{cmd}");
    };
    sh(&format!(
        "kill -KILL {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.1; done"
    ));
    // Whatever of the machine outlived nspawn is in its namespace.
    sh(&format!(
        "while [ -n \"$(ip netns pids dml-{id})\" ]; do \
           kill -KILL $(ip netns pids dml-{id}) 2>/dev/null; sleep 0.1; done"
    ));
    sh(&format!("ip netns del dml-{id}"));
    sh(&format!("umount {}", dir.join("root").display()));
}

/// `GET path` from `address` port 80 over plain HTTP/1.1 (a load balancer from outside): the
/// status code and body as `STATUS BODY`, or `error ...` when the request failed.
pub fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let attempt = || -> std::io::Result<String> {
        let target: std::net::SocketAddr = format!("{address}:80")
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let timeout = std::time::Duration::from_secs(5);
        let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)?;
        stream.set_read_timeout(Some(timeout * 2))?;
        stream.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw)?;
        let status = raw.split_whitespace().nth(1).unwrap_or("?").to_string();
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim();
        Ok(format!("{status} {body}"))
    };
    attempt().unwrap_or_else(|e| format!("error {e}"))
}

/// Waits until a process named `name` (exactly, as `pgrep -x` matches) runs on `machine`: the
/// readiness signal that a command dm started there is under way. Panics when `child` (the dm
/// run) ends first, or after a minute.
pub fn wait_for_process(
    machine: &dm::testing::Machine,
    name: &str,
    child: &mut std::process::Child,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let probe = format!("pgrep -x {} >/dev/null", dm_core::shell_quote(name));
    loop {
        let running = machine
            .exec(&probe)
            .is_ok_and(|output| output.status.success());
        if running {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "dm ended ({status}) before `{name}` ran on {}",
                machine.name()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`{name}` never ran on {}",
            machine.name()
        );
        // Polling the machine's process table: it offers no readiness signal to block on.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
