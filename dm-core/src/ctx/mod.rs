//! The task context: what a task sees of the host it runs on.
//!
//! A [`Ctx`] belongs to one host for one run. It runs commands ([`Ctx::run`], [`Ctx::sudo`],
//! [`Ctx::local`]), moves files ([`Ctx::put`], [`Ctx::get`]), knows the host's vars and facts, and can
//! be scoped to a working directory or environment ([`Ctx::cd`], [`Ctx::env`]) without affecting the
//! caller's context.
//!
//! The inventory belongs to the context, not to the run: a task that changes the servers (`scale`
//! boots some) continues with the reloaded inventory through [`Ctx::with_inventory`], while
//! everything else of the run (output, sudo password, `--check`, the hosts it fanned out to) stays
//! shared, so the run's summary still reports every host.

mod after_all_hosts;
mod command;
mod facts;
mod fan_out;
mod output;
mod run_state;
mod sudo;
mod transfer;

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::events::{Event, EventSender};
use crate::host::{Host, Vars};
use crate::inventory::Inventory;
use crate::ssh::{ConnectOptions, Session};

pub(crate) use after_all_hosts::{AfterAllHosts, AfterHostsWork};
pub use command::Run;
pub(crate) use command::Stdin;
pub use facts::Facts;
pub use fan_out::FanOutResult;
pub use output::Output;
pub(crate) use run_state::ExitAs;
pub use run_state::{Interrupt, RunShared, RunState};
pub use sudo::SudoPassword;
pub(crate) use transfer::link_script;
pub use transfer::{Get, Put, removal_script};
pub(crate) use transfer::{dir_and_base, mkdir_script, upload_script, upload_script_with};

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
    /// The inventory this context sees: the run's, or one a task continued with.
    inventory: Arc<Inventory>,
    cwd: Option<Arc<str>>,
    env: Arc<Vec<(String, String)>>,
    facts: Arc<tokio::sync::OnceCell<Facts>>,
    /// Whether sudo asks this host's login user for a password; probed at the first sudo.
    sudo_probe: Arc<tokio::sync::OnceCell<bool>>,
}

impl Ctx {
    /// A context whose commands run on `host` over an established `session`, seeing the run's
    /// inventory. From inside a task, [`Ctx::for_session`] keeps the task's inventory instead.
    pub(crate) fn remote(host: Arc<Host>, session: Session, shared: Arc<RunShared>) -> Ctx {
        let inventory = shared.inventory.clone();
        Ctx::new(host, Target::Remote(session), shared, inventory)
    }

    /// A context of this run whose commands run on `host` over an established `session`, seeing
    /// this context's inventory (e.g. a probe over a second connection, or a host the task fans
    /// out to).
    ///
    /// Plumbing for dm's standard library (its lockout guard probes a second login this way),
    /// not part of dm's API.
    #[doc(hidden)]
    pub fn for_session(&self, host: Arc<Host>, session: Session) -> Ctx {
        Ctx::new(
            host,
            Target::Remote(session),
            self.shared.clone(),
            self.inventory.clone(),
        )
    }

    /// A copy of this context that sees `inventory` instead of its own: how a task continues
    /// after changing the servers (`scale` reloads the inventory with the servers it booted, so
    /// recipes that read it, such as a database admitting app nodes, see them).
    ///
    /// Everything else is this run's: output, the sudo password (asked at most once), `--check`
    /// and `--diff`, the selected hosts, and the report, so hosts reached with [`Ctx::on_hosts`]
    /// from the copy appear in the run's summary and `--json`. The host, its connection and its
    /// facts stay this context's.
    ///
    /// ```no_run
    /// # async fn grown(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
    /// let grown = ctx.with_inventory(ctx.inventory().reload()?);
    /// let app_nodes = grown.inventory().servers().filter(|h| h.has_role("appnode")).count();
    /// grown.log(format!("{app_nodes} app node(s) now"));
    /// # Ok(()) }
    /// ```
    pub fn with_inventory(&self, inventory: Inventory) -> Ctx {
        let mut continued = self.clone();
        continued.inventory = Arc::new(inventory);
        continued
    }

    /// A context whose commands run on the operator's machine (for `#[task(local)]`).
    ///
    /// Plumbing for the executor and for tests that build a run by hand, not part of dm's API.
    #[doc(hidden)]
    pub fn local_machine(shared: Arc<RunShared>) -> Ctx {
        let inventory = shared.inventory.clone();
        Ctx::new(
            Arc::new(Host::new("local", "localhost")),
            Target::Local,
            shared,
            inventory,
        )
    }

    fn new(
        host: Arc<Host>,
        target: Target,
        shared: Arc<RunShared>,
        inventory: Arc<Inventory>,
    ) -> Ctx {
        Ctx {
            host,
            target,
            shared,
            inventory,
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

    /// The inventory this context sees: other servers, roles, the environment. The run's,
    /// unless the task continued with another one ([`Ctx::with_inventory`]).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The hosts the command line selected, in inventory order: what a `local` task such as
    /// `provision appnode2` works on (a host task runs on each of them itself).
    pub fn selected_hosts(&self) -> &[Arc<Host>] {
        &self.shared.selected
    }

    /// The run's value of type `T`, shared by every host (and fanned-out context) of this run
    /// and created with `T::default()` on first use: for tasks that coordinate across hosts,
    /// e.g. counting hosts that finished so that the last one does something once for the run.
    ///
    /// ```
    /// # use dm_core::Ctx;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// #[derive(Default)]
    /// struct Finished(AtomicUsize);
    ///
    /// fn last_to_finish(ctx: &Ctx) -> bool {
    ///     let finished = ctx.run_state::<Finished>().0.fetch_add(1, Ordering::SeqCst) + 1;
    ///     finished == ctx.selected_hosts().len()
    /// }
    /// ```
    pub fn run_state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        self.shared.run_state.get::<T>()
    }

    /// Ends the run like the program a task stands in for: with exit status `code` and no
    /// summary (`ssh SERVER` exits with the shell's status, as `ssh` does). The first call of a
    /// run wins; `--json` still prints its report.
    pub fn exit_as(&self, code: u8) {
        let _ = self.run_state::<ExitAs>().0.set(code);
    }

    /// What the whole run shares: the executor starts a fan-out's hosts with it (the run's
    /// parallel limit, Ctrl-C, events), and the tests check that derived contexts share it.
    pub(crate) fn shared(&self) -> &Arc<RunShared> {
        &self.shared
    }

    /// How this run reaches hosts (keys, the agent, known_hosts, timeouts): for a task that opens
    /// connections of its own (a login shell, a probe as another user, a provider recording host
    /// keys) the way the run's own connections are opened.
    ///
    /// Plumbing for dm's standard library, not part of dm's API.
    #[doc(hidden)]
    pub fn connect_options(&self) -> &ConnectOptions {
        &self.shared.connect
    }

    /// Whether this run is `--check`: nothing may change, on the hosts or on this machine.
    ///
    /// dm enforces it for what goes through the context: operations ([`Ctx::step`]) plan and
    /// report without applying; commands ([`Ctx::run`], [`Ctx::sudo`], [`Ctx::local`]) run only
    /// when marked read-only with [`Run::check_safe`], and otherwise are reported as not run and
    /// return [`Output::not_run`]; uploads and downloads ([`Ctx::put`], [`Ctx::get`]) do not
    /// happen. A task asks it where it changes things another way (a provider's API, a local
    /// file) or where it needs what an acting command would print, and says what it would do:
    ///
    /// ```no_run
    /// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
    /// if ctx.check_mode() {
    ///     ctx.log("check mode: would rotate the logs");
    ///     return Ok(());
    /// }
    /// let archive = ctx.sudo("mktemp -d").await?; // its path is used below
    /// ctx.sudo(format!("mv /var/log/app/*.log {}", archive.trimmed())).await?;
    /// # Ok(()) }
    /// ```
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
    pub(crate) fn session(&self) -> Option<&Session> {
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
    pub fn secret(&self, key: &str) -> Result<String, Error> {
        self.inventory
            .secrets()
            .get(key)
            .map_err(|message| Error::Secret {
                host: self.host.name.clone(),
                key: key.to_string(),
                message,
            })
    }

    /// One variable, converted to `T`; a dotted name reaches into tables: `ctx.var("app.port")`
    /// is the `port` of `[vars.app]` (a key that itself contains dots is found first).
    ///
    /// Fails with a message naming the host and the variable when it is missing or of another type.
    pub fn var<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let problem = |message: String| Error::Variable {
            host: self.host.name.clone(),
            name: name.to_string(),
            message,
        };
        let value = crate::host::lookup_var(&self.host.vars, name).ok_or_else(|| {
            // `secret` is missing when the secrets could not be decrypted: say why.
            if let Some(why) = self.inventory.secrets().failure().filter(|_| name == "secret") {
                return problem(format!("variable `secret`: {why}"));
            }
            let place = match name.rsplit_once('.') {
                Some((table, key)) => format!("`{key}` in a [vars.{table}] table"),
                None => format!("`{name}` in [vars]"),
            };
            problem(format!(
                "variable `{name}` is not set; set {place} of dm.toml (global, a role's, an environment's or the server's vars)"
            ))
        })?;
        serde_json::from_value(value.clone())
            .map_err(|e| problem(format!("variable `{name}` has the wrong type: {e}")))
    }

    /// A copy of this context whose commands run in `dir` (`cd dir && ...`).
    pub fn cd(&self, dir: &str) -> Ctx {
        let mut scoped = self.clone();
        scoped.cwd = Some(Arc::from(dir));
        scoped
    }

    /// A copy of this context whose commands see the environment variable `key=value`.
    ///
    /// Values reach commands on their standard input, never on a command line (which every
    /// local user can read with `ps`, and which sudo logs). A key that is not a shell variable
    /// name (letters, digits and `_`, not starting with a digit) fails the commands run with it.
    pub fn env(&self, key: &str, value: &str) -> Ctx {
        self.envs([(key, value)])
    }

    /// A copy of this context whose commands see all of `vars` (see [`Ctx::env`]), e.g. an
    /// app's environment.
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(
        &self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Ctx {
        let mut scoped = self.clone();
        let mut env = (*self.env).clone();
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            env.retain(|(k, _)| k != key);
            env.push((key.to_string(), value.to_string()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::events::Outcome;
    use crate::inventory::LoadOptions;
    use crate::ssh::ConnectOptions;

    /// An inventory with the servers `names` (each its own role, by its name).
    fn inventory(names: &[&str]) -> Inventory {
        let text: String = names
            .iter()
            .map(|name| format!("[servers.{name}]\naddress = \"127.0.0.1\"\nport = 1\n\n"))
            .collect();
        let opts = LoadOptions {
            ssh_config: Some("/dev/null".into()),
            ..LoadOptions::default()
        };
        Inventory::parse(&text, std::path::Path::new("/nonexistent/dm.toml"), &opts)
            .expect("inventory parses")
    }

    fn run(inventory: Inventory) -> Ctx {
        run_with_events(inventory).0
    }

    fn run_with_events(
        inventory: Inventory,
    ) -> (
        Ctx,
        tokio::sync::mpsc::UnboundedReceiver<crate::events::Event>,
    ) {
        let (events, rx) = crate::events::EventSender::channel();
        let ctx = Ctx::local_machine(Arc::new(RunShared {
            inventory: Arc::new(inventory),
            connect: ConnectOptions::default(),
            events,
            sudo_password: SudoPassword::new(None, false),
            check: true,
            diff: false,
            selected: Vec::new(),
            parallel: 64,
            interrupt: Default::default(),
            run_state: Default::default(),
        }));
        (ctx, rx)
    }

    #[tokio::test]
    async fn a_continued_context_sees_its_inventory_and_reports_into_the_run() {
        let (ctx, mut events) = run_with_events(inventory(&["appnode1"]));
        let grown = ctx.with_inventory(inventory(&["appnode1", "appnode2"]));
        let names = |ctx: &Ctx| -> Vec<String> {
            ctx.inventory().servers().map(|h| h.name.clone()).collect()
        };
        assert_eq!(names(&ctx), ["appnode1"]);
        assert_eq!(names(&grown), ["appnode1", "appnode2"]);
        assert!(grown.check_mode(), "the run's --check carries over");
        assert!(Arc::ptr_eq(ctx.shared(), grown.shared()));

        // Nothing listens on port 1: the fanned-out host fails to connect, and the run's own
        // report (not a copy's) records it.
        let new = grown
            .inventory()
            .server("appnode2")
            .cloned()
            .expect("appnode2");
        let results = grown.on_hosts(vec![new], |_| async { Ok(()) }).await;
        assert!(FanOutResult::all_ok(results).is_err());
        let mut fanned = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let crate::events::Event::HostFinished {
                host,
                outcome,
                fanned_out: true,
                ..
            } = event
            {
                fanned.push((host, outcome));
            }
        }
        assert_eq!(fanned.len(), 1);
        assert_eq!(fanned[0].0, "appnode2");
        assert!(
            matches!(fanned[0].1, Outcome::Unreachable(_)),
            "{:?}",
            fanned[0].1
        );
    }

    #[tokio::test]
    async fn work_after_all_hosts_runs_once_per_name_as_the_asking_hosts() {
        use crate::events::Event;
        let (ctx, mut events) = run_with_events(inventory(&[]));
        ctx.after_all_hosts("sync", |ctx| async move {
            ctx.log(format!("sync on this machine: {}", ctx.is_local()));
            Ok(())
        });
        ctx.after_all_hosts("sync", |_| async {
            anyhow::bail!("asked twice: runs once")
        });
        ctx.after_all_hosts("notify", |_| async { anyhow::bail!("the webhook refused") });
        crate::executor::dispatcher::after_all_hosts(ctx.shared()).await;
        let (mut lines, mut done) = (Vec::new(), Vec::new());
        while let Ok(event) = events.try_recv() {
            match event {
                Event::Output { line, .. } => lines.push(line),
                Event::AfterAllHostsDone {
                    host,
                    name,
                    outcome,
                    ..
                } => done.push((host, name, outcome)),
                _ => {}
            }
        }
        assert_eq!(lines, ["sync on this machine: true"]);
        assert_eq!(
            done,
            [
                ("local".to_string(), "sync".to_string(), Outcome::Ok),
                (
                    "local".to_string(),
                    "notify".to_string(),
                    Outcome::Failed("the webhook refused".to_string())
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_environment_key_that_is_no_shell_name_fails_naming_it() {
        let ctx = run(inventory(&[]));
        for bad in ["BAD-KEY", "1ST", "", "A B", "X;id"] {
            match ctx.env(bad, "v").run("true").await {
                Err(Error::InvalidEnvName { host, key }) => {
                    assert_eq!((host.as_str(), key.as_str()), ("local", bad));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let good = ctx.envs([("_OK1", "v"), ("PATH_2", "w")]);
        assert!(good.run("true").await.is_ok());
    }
}
