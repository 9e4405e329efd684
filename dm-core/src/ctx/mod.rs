//! The task context: what a task sees of the host it runs on.
//!
//! A [`Ctx`] belongs to one host for one run. It runs commands ([`Ctx::run`], [`Ctx::sudo`],
//! [`Ctx::local`]), moves files ([`Ctx::put`], [`Ctx::get`]), knows the host's vars and facts, and can
//! be scoped to a working directory or environment ([`Ctx::cd`], [`Ctx::env`]) without affecting the
//! caller's context.

mod command;
mod facts;
mod fan_out;
mod sudo;
mod transfer;

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::executor::events::{Event, EventSender};
use crate::host::{Host, Vars};
use crate::inventory::Inventory;
use crate::ssh::{ConnectOptions, Session};

pub(crate) use command::Stdin;
pub use command::{Output, Run};
pub use facts::Facts;
pub use fan_out::HostOutcome;
pub use sudo::SudoPassword;
pub use transfer::{Get, Put};
pub(crate) use transfer::{dir_and_base, upload_script};

/// What every host of a run shares: the inventory, how to connect, where events go.
#[derive(Debug)]
pub struct RunShared {
    /// The inventory the run was started with.
    pub inventory: Arc<Inventory>,
    /// How to reach hosts (keys, known_hosts, timeouts).
    pub connect: ConnectOptions,
    /// Where output and progress go.
    pub events: EventSender,
    /// The sudo password, asked at most once per run.
    pub sudo_password: SudoPassword,
    /// `--check`: operations plan and report, and change nothing.
    pub check: bool,
    /// `--diff`: operations show unified diffs of the file contents they change.
    pub diff: bool,
    /// The hosts the command line selected (`-H`, `-R`, the task's `#[arg(hosts)]` values, else
    /// the task's roles or the environment's servers), also for `local` tasks.
    pub selected: Vec<Arc<Host>>,
    /// How the work on hosts that tasks fanned out to ([`Ctx::on_hosts`]) ended, one entry per
    /// host, so the summary and `--json` report them like the task's own hosts.
    pub fanned_out: std::sync::Mutex<Vec<crate::executor::HostResult>>,
}

/// Where a context's commands run.
#[derive(Clone, Debug)]
enum Target {
    /// Over SSH on the context's host.
    Remote(Session),
    /// On the controlling machine (`#[task(local)]`, or [`Ctx::local`]).
    Local,
}

/// The context a task runs in on one host.
///
/// Cloning is cheap; [`Ctx::cd`] and [`Ctx::env`] return scoped copies.
#[derive(Clone, Debug)]
pub struct Ctx {
    host: Arc<Host>,
    target: Target,
    shared: Arc<RunShared>,
    cwd: Option<Arc<str>>,
    env: Arc<Vec<(String, String)>>,
    facts: Arc<tokio::sync::OnceCell<Facts>>,
    /// Whether sudo asks this host's login user for a password; probed at the first sudo.
    sudo_probe: Arc<tokio::sync::OnceCell<bool>>,
}

impl Ctx {
    /// A context whose commands run on `host` over an established `session`.
    pub fn remote(host: Arc<Host>, session: Session, shared: Arc<RunShared>) -> Ctx {
        Ctx::new(host, Target::Remote(session), shared)
    }

    /// A context whose commands run on the controlling machine (for `#[task(local)]`).
    pub fn local_machine(shared: Arc<RunShared>) -> Ctx {
        Ctx::new(
            Arc::new(Host::new("local", "localhost")),
            Target::Local,
            shared,
        )
    }

    fn new(host: Arc<Host>, target: Target, shared: Arc<RunShared>) -> Ctx {
        Ctx {
            host,
            target,
            shared,
            cwd: None,
            env: Arc::new(Vec::new()),
            facts: Arc::new(tokio::sync::OnceCell::new()),
            sudo_probe: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The host this context runs on.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The host's name, as used in output prefixes.
    pub fn name(&self) -> &str {
        &self.host.name
    }

    /// The inventory of the run: other servers, roles, the environment.
    pub fn inventory(&self) -> &Inventory {
        &self.shared.inventory
    }

    /// The hosts the command line selected, in inventory order: what a `local` task such as
    /// `provision appnode2` works on (a host task runs on each of them itself).
    pub fn selected_hosts(&self) -> &[Arc<Host>] {
        &self.shared.selected
    }

    /// What the whole run shares (to start work on other hosts from a task).
    pub fn shared(&self) -> &Arc<RunShared> {
        &self.shared
    }

    /// Whether operations only plan and report (`--check`): see [`crate::operation`].
    pub fn check_mode(&self) -> bool {
        self.shared.check
    }

    /// Whether operations show diffs of the file contents they change (`--diff`).
    pub fn diff_mode(&self) -> bool {
        self.shared.diff
    }

    /// Whether this context runs on the controlling machine rather than over SSH.
    pub fn is_local(&self) -> bool {
        matches!(self.target, Target::Local)
    }

    /// The SSH session of this host, if it is remote.
    pub fn session(&self) -> Option<&Session> {
        match &self.target {
            Target::Remote(s) => Some(s),
            Target::Local => None,
        }
    }

    /// The host's variables (global, role, environment and server vars merged).
    pub fn vars(&self) -> &Vars {
        &self.host.vars
    }

    /// One secret of the active environment (`secrets/<env>.age` next to dm.toml), e.g.
    /// `ctx.secret("postgres_password")`; dotted for tables (`tls.key`).
    ///
    /// The value is masked in all of dm's output. Fails, naming the host, when there is no
    /// environment, no secrets file, no key that can decrypt it, or no such key.
    pub fn secret(&self, key: &str) -> anyhow::Result<String> {
        self.shared
            .inventory
            .secrets()
            .get(key)
            .map_err(|message| anyhow::anyhow!("{}: {message}", self.host.name))
    }

    /// One variable, converted to `T`.
    ///
    /// Fails with a message naming the host and the variable when it is missing or of another type.
    pub fn var<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let value = self.host.vars.get(name).ok_or_else(|| {
            // `secret` is missing when the secrets could not be decrypted: say why.
            if let Some(why) = self.shared.inventory.secrets().failure().filter(|_| name == "secret") {
                return anyhow::anyhow!("{}: variable `secret`: {why}", self.host.name);
            }
            anyhow::anyhow!(
                "{}: variable `{name}` is not set; set it in dm.toml ([vars], a role's, an environment's or the server's vars)",
                self.host.name
            )
        })?;
        serde_json::from_value(value.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{}: variable `{name}` has the wrong type: {e}",
                self.host.name
            )
        })
    }

    /// A copy of this context whose commands run in `dir` (`cd dir && ...`).
    pub fn cd(&self, dir: &str) -> Ctx {
        let mut scoped = self.clone();
        scoped.cwd = Some(Arc::from(dir));
        scoped
    }

    /// A copy of this context whose commands see the environment variable `key=value`.
    pub fn env(&self, key: &str, value: &str) -> Ctx {
        let mut scoped = self.clone();
        let mut env = (*self.env).clone();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
        scoped.env = Arc::new(env);
        scoped
    }

    /// Prints a message in this host's output, like a command's line.
    pub fn log(&self, message: impl Into<String>) {
        for line in message.into().lines() {
            self.shared.events.send(Event::Output {
                host: self.host.name.clone(),
                stream: crate::ssh::Stream::Stdout,
                line: line.to_string(),
            });
        }
    }

    pub(crate) fn events(&self) -> &EventSender {
        &self.shared.events
    }
}
