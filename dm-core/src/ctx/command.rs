//! Running commands: `ctx.run(..)`, `ctx.sudo(..)`, `ctx.local(..)`, each a builder that runs when
//! awaited.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::output::Output;
use super::{Ctx, Target};
use crate::error::Error;
use crate::events::Event;
use crate::output::LineSplitter;
use crate::quote::shell_quote;
use crate::ssh::{ExitStatus, Stream};

/// How much of each stream a command that is not quiet keeps in its [`Output`] (the end of it).
pub const STREAMED_KEEP: usize = 1024 * 1024;

/// Bytes fed to a command's standard input; can be replayed when a command must be retried
/// (sudo asking for a password).
#[derive(Debug, Clone)]
pub(crate) enum Stdin {
    Bytes(std::sync::Arc<[u8]>),
    File(std::path::PathBuf),
}

impl Stdin {
    async fn open(&self) -> Result<Box<dyn AsyncRead + Send + Unpin>, Error> {
        Ok(match self {
            Stdin::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
            Stdin::File(path) => {
                Box::new(
                    tokio::fs::File::open(path)
                        .await
                        .map_err(|source| Error::LocalIo {
                            path: path.clone(),
                            source,
                        })?,
                )
            }
        })
    }
}

/// A command to run, configured by its builder methods and run by `.await`.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// let kernel = ctx.run("uname -r").quiet().await?;
/// let probe = ctx.run("systemctl is-active nginx").allow_failure().await?;
/// ctx.sudo("systemctl reload nginx").await?;
/// ctx.sudo("psql -c 'select 1'").as_user("postgres").await?;
/// # Ok(()) }
/// ```
///
/// Under `--check` ([`Ctx::check_mode`]) a command runs only when the task marked it
/// [`Run::check_safe`] (it reads and changes nothing); any other is reported as not run and
/// returns [`Output::not_run`].
#[must_use = "a command runs only when awaited"]
pub struct Run<'a> {
    ctx: &'a Ctx,
    command: String,
    sudo_user: Option<String>,
    force_local: bool,
    quiet: bool,
    check: bool,
    /// Runs under `--check` too: the task says it only reads.
    read_only: bool,
    stdin: Option<Stdin>,
    /// What `-v` shows instead of the command (generated scripts are long).
    shown_as: Option<String>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(ctx: &'a Ctx, command: String) -> Run<'a> {
        Run {
            ctx,
            command,
            sudo_user: None,
            force_local: false,
            quiet: false,
            check: true,
            read_only: false,
            stdin: None,
            shown_as: None,
        }
    }

    /// Shows `label` instead of the command line with `-v`, under `--check` and in the error
    /// when it fails (for long generated scripts, which say little to a reader); `-vv` logs the
    /// script itself.
    pub fn shown_as(mut self, label: impl Into<String>) -> Run<'a> {
        self.shown_as = Some(label.into());
        self
    }

    /// Runs it through sudo as `user` (root when not given; see [`Ctx::sudo`]).
    pub fn as_user(mut self, user: &str) -> Run<'a> {
        self.sudo_user = Some(user.to_string());
        self
    }

    /// Does not print its output (it is still captured in [`Output`] and shown in errors).
    pub fn quiet(mut self) -> Run<'a> {
        self.quiet = true;
        self
    }

    /// A non-zero exit status is returned in [`Output::status`] instead of as an error.
    pub fn allow_failure(mut self) -> Run<'a> {
        self.check = false;
        self
    }

    /// Marks the command as read-only, so it runs under `--check` too: a probe whose answer the
    /// task needs to plan (`test -e`, `systemctl is-active`, `cat`, `git rev-parse`). Without
    /// it, under `--check` the command does not run: it is reported as not run and returns
    /// [`Output::not_run`]. Mark only commands that change nothing, on the host or locally.
    ///
    /// ```no_run
    /// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
    /// let running = ctx.run("systemctl is-active --quiet nginx").check_safe().allow_failure().await?;
    /// if !running.success() {
    ///     ctx.sudo("systemctl start nginx").await?; // not run under --check
    /// }
    /// # Ok(()) }
    /// ```
    pub fn check_safe(mut self) -> Run<'a> {
        self.read_only = true;
        self
    }

    /// Feeds these bytes to the command's standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run<'a> {
        self.stdin = Some(Stdin::Bytes(bytes.into().into()));
        self
    }

    pub(crate) fn stdin_source(mut self, stdin: Stdin) -> Run<'a> {
        self.stdin = Some(stdin);
        self
    }

    pub(crate) fn local(mut self) -> Run<'a> {
        self.force_local = true;
        self
    }

    /// The command line with the context's directory and environment applied. The environment
    /// is read from standard input (`env_script`, `env_len` bytes), not written on the line:
    /// command lines are visible to every local user (`ps`) and sudo logs them.
    fn scoped_command(&self, env_len: usize) -> String {
        let mut line = String::new();
        if env_len > 0 {
            line.push_str(&format!(
                "dm_e=$(head -c {env_len}); eval \"$dm_e\"; unset dm_e; "
            ));
        }
        if let Some(dir) = &self.ctx.cwd {
            line.push_str(&format!("cd {} && ", shell_quote(dir)));
        }
        line.push_str(&self.command);
        line
    }

    /// The context's environment as `export K='v'` lines, fed to the command ahead of its own
    /// input; fails naming the host and key when a key is not a shell variable name.
    fn env_script(&self) -> Result<Vec<u8>, Error> {
        let mut script = String::new();
        for (key, value) in self.ctx.env.iter() {
            let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::InvalidEnvName {
                    host: self.ctx.name().to_string(),
                    key: key.clone(),
                });
            }
            script.push_str(&format!("export {key}={}\n", shell_quote(value)));
        }
        Ok(script.into_bytes())
    }

    async fn execute(self) -> Result<Output, Error> {
        let ctx = self.ctx;
        let host = if self.force_local {
            "local"
        } else {
            ctx.name()
        };
        let shown = self
            .shown_as
            .clone()
            .unwrap_or_else(|| self.command.clone());
        // Before `--check` skips the command, so that a bad key shows under --check too.
        let env = self.env_script()?;
        if ctx.check_mode() && !self.read_only {
            // Reported under the task's host (so the summary counts it there), saying where
            // it would have run when that is not the host.
            let what = if self.force_local && !ctx.is_local() {
                format!("(on this machine) {shown}")
            } else {
                shown
            };
            ctx.events().send(Event::CommandSkipped {
                host: ctx.name().to_string(),
                what,
            });
            return Ok(Output::not_run());
        }
        if self.shown_as.is_some() {
            tracing::debug!(host, script = %self.command, "{shown}");
        }
        ctx.events().send(Event::Command {
            host: host.to_string(),
            command: shown.clone(),
        });
        let line = self.scoped_command(env.len());
        let output = match &self.sudo_user {
            None => self.spawn(&line, None, &env).await?,
            Some(user) => self.run_sudo(&line, user, &env).await?,
        };
        if self.check && !output.status.success() {
            return Err(Error::Command {
                host: host.to_string(),
                command: shown,
                status: output.status.to_string(),
                stderr: output.stderr,
            });
        }
        Ok(output)
    }

    /// Runs `line` as `user` through sudo. Once the run knows a sudo password, every sudo call
    /// carries it, but only a sudo that asks for it reads it (see [`super::sudo::with_password`]):
    /// a host whose sudo asks for none gets the same input as without a password. Until then,
    /// whether the host's sudo wants one is probed once per host, and the password is asked once
    /// per run; it reaches the host only on standard input.
    async fn run_sudo(&self, line: &str, user: &str, env: &[u8]) -> Result<Output, Error> {
        let ctx = self.ctx;
        let login = if self.force_local {
            std::env::var("USER").unwrap_or_default()
        } else {
            ctx.host.user.clone()
        };
        if login == "root" && user == "root" {
            return self.spawn(line, None, env).await;
        }
        let password = match ctx.shared.sudo_password.known() {
            Some(p) => Some(p),
            None if self.sudo_wants_password().await? => {
                match ctx.shared.sudo_password.ask(ctx.name()).await {
                    Some(p) => Some(p),
                    None => {
                        return Err(Error::SudoPasswordNeeded {
                            host: ctx.name().to_string(),
                            user: login,
                        });
                    }
                }
            }
            None => None,
        };
        match password {
            Some(p) => {
                let output = self
                    .spawn(&super::sudo::with_password(user, line), Some(p), env)
                    .await?;
                if super::sudo::refused_password(&output) {
                    return Err(Error::SudoPasswordRefused {
                        host: ctx.name().to_string(),
                        user: login,
                    });
                }
                Ok(output)
            }
            None => {
                self.spawn(&super::sudo::without_password(user, line), None, env)
                    .await
            }
        }
    }

    /// Whether sudo on this host asks for a password (`sudo -n true` refuses), probed once.
    async fn sudo_wants_password(&self) -> Result<bool, Error> {
        let probe = self.ctx.sudo_probe.clone();
        let wants = probe
            .get_or_try_init(|| async {
                let out = self.spawn_with("sudo -n true", Vec::new(), true).await?;
                Ok::<bool, Error>(super::sudo::needs_password(&out))
            })
            .await?;
        Ok(*wants)
    }

    /// Runs `line` with its input: the sudo password's line when given (taken off by the login
    /// shell, see `sudo::with_password`), the environment script `env`, then the command's own.
    async fn spawn(
        &self,
        line: &str,
        password: Option<String>,
        env: &[u8],
    ) -> Result<Output, Error> {
        let mut prefix = password
            .map(|p| format!("{p}\n").into_bytes())
            .unwrap_or_default();
        prefix.extend_from_slice(env);
        self.spawn_with(line, prefix, self.quiet).await
    }

    async fn spawn_with(&self, line: &str, prefix: Vec<u8>, quiet: bool) -> Result<Output, Error> {
        let ctx = self.ctx;
        let host = if self.force_local {
            "local"
        } else {
            ctx.name()
        };
        let mut stdin: Option<Box<dyn AsyncRead + Send + Unpin>> = match &self.stdin {
            Some(s) => Some(s.open().await?),
            None => None,
        };
        if !prefix.is_empty() {
            let prefix = std::io::Cursor::new(prefix);
            stdin = Some(match stdin {
                Some(rest) => Box::new(prefix.chain(rest)),
                None => Box::new(prefix),
            });
        }
        let mut collected = Collector::new(host, quiet, ctx);
        let status = match (&ctx.target, self.force_local) {
            (Target::Remote(session), false) => {
                let stdin_ref = stdin
                    .as_mut()
                    .map(|s| s.as_mut() as &mut (dyn AsyncRead + Send + Unpin));
                session
                    .exec(line, stdin_ref, &mut |s, b| collected.push(s, b))
                    .await?
            }
            _ => run_locally(line, stdin, &mut |s, b| collected.push(s, b)).await?,
        };
        Ok(collected.finish(status))
    }
}

impl<'a> IntoFuture for Run<'a> {
    type Output = Result<Output, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

/// Captures a command's output and, unless quiet, streams it line by line to the reporter
/// (then keeping only the last [`STREAMED_KEEP`] bytes of each stream).
struct Collector<'c> {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    lines: Option<(LineSplitter, LineSplitter)>,
    truncated: bool,
    ctx: &'c Ctx,
}

/// Appends `bytes` to `kept`; with a `limit`, drops the front beyond it (in batches, so each
/// byte is moved a bounded number of times). Returns whether anything was dropped.
fn keep_tail(kept: &mut Vec<u8>, bytes: &[u8], limit: Option<usize>) -> bool {
    kept.extend_from_slice(bytes);
    match limit {
        Some(limit) if kept.len() > 2 * limit => {
            let excess = kept.len() - limit;
            kept.drain(..excess);
            true
        }
        _ => false,
    }
}

impl<'c> Collector<'c> {
    fn new(host: &str, quiet: bool, ctx: &'c Ctx) -> Collector<'c> {
        Collector {
            stdout: Vec::new(),
            stderr: Vec::new(),
            lines: (!quiet).then(|| {
                (
                    LineSplitter::new(host, Stream::Stdout),
                    LineSplitter::new(host, Stream::Stderr),
                )
            }),
            truncated: false,
            ctx,
        }
    }

    fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let events = self.ctx.events();
        let limit = self.lines.is_some().then_some(STREAMED_KEEP);
        match stream {
            Stream::Stdout => {
                self.truncated |= keep_tail(&mut self.stdout, bytes, limit);
                if let Some((out, _)) = &mut self.lines {
                    out.push(bytes, events);
                }
            }
            Stream::Stderr => {
                self.truncated |= keep_tail(&mut self.stderr, bytes, limit);
                if let Some((_, err)) = &mut self.lines {
                    err.push(bytes, events);
                }
            }
        }
    }

    fn finish(mut self, status: ExitStatus) -> Output {
        if let Some((out, err)) = &mut self.lines {
            out.finish(self.ctx.events());
            err.finish(self.ctx.events());
        }
        // The end is what counts (the last lines, the error); trim it to the limit exactly.
        if self.lines.is_some() {
            for kept in [&mut self.stdout, &mut self.stderr] {
                if kept.len() > STREAMED_KEEP {
                    let excess = kept.len() - STREAMED_KEEP;
                    kept.drain(..excess);
                    self.truncated = true;
                }
            }
        }
        Output {
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            status,
            skipped: false,
            truncated: self.truncated,
        }
    }
}

/// Runs `line` with `sh -c` on the controlling machine, streaming its output like a remote one.
async fn run_locally(
    line: &str,
    stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    output: &mut (dyn FnMut(Stream, &[u8]) + Send),
) -> Result<ExitStatus, Error> {
    use tokio::io::AsyncWriteExt;
    let io_err = |source| Error::LocalIo {
        path: "sh".into(),
        source,
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io_err)?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(mut src), Some(mut dst)) => Some(tokio::spawn(async move {
            // A command that exits without reading all its input closes the pipe: not an error here.
            let _ = tokio::io::copy(&mut src, &mut dst).await;
            let _ = dst.shutdown().await;
        })),
        _ => None,
    };
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io_err(std::io::Error::other("child pipes missing")));
    };
    let (mut obuf, mut ebuf) = ([0u8; 8192], [0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            n = out.read(&mut obuf), if out_open => match n.map_err(io_err)? {
                0 => out_open = false,
                n => output(Stream::Stdout, &obuf[..n]),
            },
            n = err.read(&mut ebuf), if err_open => match n.map_err(io_err)? {
                0 => err_open = false,
                n => output(Stream::Stderr, &ebuf[..n]),
            },
        }
    }
    let status = child.wait().await.map_err(io_err)?;
    if let Some(f) = feeder {
        let _ = f.await;
    }
    Ok(exit_status_of(status))
}

fn exit_status_of(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus {
        code: status.code().map(|c| c as u32),
        signal: status.signal().map(|s| format!("signal {s}")),
    }
}

impl Ctx {
    /// Runs a shell command on the host; a non-zero exit is an error (see [`Run::allow_failure`]).
    ///
    /// The command is a shell line: quote values built from user data with
    /// [`shell_quote`]. Under `--check` it does not run unless marked [`Run::check_safe`].
    pub fn run(&self, command: impl Into<String>) -> Run<'_> {
        Run::new(self, command.into())
    }

    /// Runs a command as root through sudo (as-is when already root). A sudo password, when the
    /// host needs one, is asked once per run and never printed. Under `--check` it does not run
    /// unless marked [`Run::check_safe`].
    pub fn sudo(&self, command: impl Into<String>) -> Run<'_> {
        Run::new(self, command.into()).as_user("root")
    }

    /// Runs a command on the controlling machine, with output prefixed `local`. Under `--check`
    /// it does not run unless marked [`Run::check_safe`].
    pub fn local(&self, command: impl Into<String>) -> Run<'_> {
        Run::new(self, command.into()).local()
    }
}

#[cfg(test)]
mod keep_tail_tests {
    use super::*;

    #[test]
    fn a_streamed_command_keeps_a_bounded_tail_and_a_quiet_one_everything() {
        let mut kept = Vec::new();
        let mut dropped = false;
        for i in 0..100u32 {
            dropped |= keep_tail(&mut kept, &i.to_be_bytes(), Some(16));
            assert!(kept.len() <= 32);
        }
        assert!(dropped);
        assert_eq!(&kept[kept.len() - 4..], &99u32.to_be_bytes());
        let mut all = Vec::new();
        for i in 0..100u32 {
            assert!(!keep_tail(&mut all, &i.to_be_bytes(), None));
        }
        assert_eq!(all.len(), 400);
    }
}
