//! [`Command`]: a shell command, run unless its guards say it already did its work.

use super::fact::Fact;
use super::{Action, Change, FactOptions, OpError, Operation, Plan, Simulation, notify_builder};
use crate::quote::shell_quote;

/// A shell command as an operation.
///
/// Without guards it runs every time (always a change: use it as a reaction, or give it a
/// guard). With [`Command::creates`] it runs only while that path does not exist; with
/// [`Command::unless`] only while that check command fails. Guards are evaluated when the facts
/// are read (so check mode can tell) and again just before running, since an earlier operation
/// of the step may have done the work.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Command;
/// let mut step = ctx.step();
/// step.add(Command::new("tar xzf /tmp/app.tgz -C /srv/app").creates("/srv/app/bin/app"));
/// step.add(
///     Command::new("createdb shop")
///         .unless("psql -lqt | cut -d'|' -f1 | grep -qw shop")
///         .user("postgres"),
/// );
/// step.reaction("reload-nginx", Command::new("nginx -t && systemctl reload nginx"));
/// # Ok(()) }
/// ```
pub struct Command {
    command: String,
    creates: Option<String>,
    unless: Option<String>,
    cwd: Option<String>,
    user: Option<String>,
    notify: Vec<String>,
}

impl Command {
    /// The shell line `command`, run with `sh -c` as root.
    pub fn new(command: &str) -> Command {
        Command {
            command: command.to_string(),
            creates: None,
            unless: None,
            cwd: None,
            user: None,
            notify: Vec::new(),
        }
    }

    /// Runs only while `path` does not exist.
    pub fn creates(mut self, path: &str) -> Command {
        self.creates = Some(path.to_string());
        self
    }

    /// Runs only while the shell line `check` fails (exits non-zero). `check` must not change
    /// anything: it runs in check mode too.
    pub fn unless(mut self, check: &str) -> Command {
        self.unless = Some(check.to_string());
        self
    }

    /// Runs in directory `dir`.
    pub fn cwd(mut self, dir: &str) -> Command {
        self.cwd = Some(dir.to_string());
        self
    }

    /// Runs as `user` (the guard too).
    pub fn user(mut self, user: &str) -> Command {
        self.user = Some(user.to_string());
        self
    }

    /// `line` run as the command's user, in its directory.
    fn wrap(&self, line: &str) -> String {
        let mut inner = String::new();
        if let Some(dir) = &self.cwd {
            inner.push_str(&format!("cd {} && ", shell_quote(dir)));
        }
        inner.push_str(line);
        match &self.user {
            Some(u) => format!(
                "runuser -u {} -- sh -c {}",
                shell_quote(u),
                shell_quote(&inner)
            ),
            None => format!("sh -c {}", shell_quote(&inner)),
        }
    }

    /// A shell condition that is true when the guards say the work is done.
    fn done_condition(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = &self.creates {
            parts.push(format!("[ -e {} ]", shell_quote(p)));
        }
        if let Some(check) = &self.unless {
            parts.push(format!("{} >/dev/null 2>&1", self.wrap(check)));
        }
        (!parts.is_empty()).then(|| parts.join(" || "))
    }
}

notify_builder!(Command);

impl Operation for Command {
    fn name(&self) -> String {
        format!("command `{}`", self.command)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        if self.command.trim().is_empty() {
            return Err(OpError::invalid(&self.name(), "the command is empty"));
        }
        if let Some(p) = &self.creates {
            super::check_path(&self.name(), p)?;
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        match self.done_condition() {
            Some(done) => format!("if {done}; then echo done=1; fi"),
            None => String::from(":"),
        }
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        if fact.flag("done") {
            return Ok(Plan::Ok);
        }
        let mut script = String::new();
        if let Some(done) = self.done_condition() {
            script.push_str(&format!("if {done}; then dm_unchanged; exit 0; fi\n"));
        }
        script.push_str(&self.wrap(&self.command));
        let description = match (&self.creates, &self.unless) {
            (Some(p), _) => format!("run (because {p} does not exist)"),
            (None, Some(check)) => format!("run (because `{check}` fails)"),
            (None, None) => "run".to_string(),
        };
        Ok(Plan::Change(Change::new(
            description,
            Action::shell(script),
        )))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "dm_unchanged() {{ echo UNCHANGED; }}\n( set -e\n{script}\n)"
            ))
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn guarded_command_is_ok_when_its_guard_holds() {
        let c = Command::new("touch /x").creates("/etc/passwd");
        let fact = Fact::parse(&run(&c.fact_script(&FactOptions::default())));
        assert!(matches!(
            c.plan(&fact, &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
        let c = Command::new("echo ran").unless("true");
        let fact = Fact::parse(&run(&c.fact_script(&FactOptions::default())));
        assert!(matches!(
            c.plan(&fact, &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
    }

    #[test]
    fn unguarded_or_unsatisfied_command_runs_and_rechecks_at_apply_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("marker");
        let m = marker.display().to_string();
        let c = Command::new(&format!("echo ran; touch {m}")).creates(&m);
        let fact = Fact::parse(&run(&c.fact_script(&FactOptions::default())));
        let Ok(Plan::Change(change)) = c.plan(&fact, &mut Simulation::new()) else {
            panic!("expected a change")
        };
        assert_eq!(
            change.description,
            format!("run (because {m} does not exist)")
        );
        assert_eq!(run(&change.action.script), "ran\n");
        // The same script again finds the work done.
        assert_eq!(run(&change.action.script), "UNCHANGED\n");
    }

    #[test]
    fn cwd_applies_to_the_command() {
        let c = Command::new("pwd").cwd("/tmp");
        let Ok(Plan::Change(change)) = c.plan(&Fact::default(), &mut Simulation::new()) else {
            panic!("expected a change")
        };
        assert_eq!(run(&change.action.script), "/tmp\n");
    }
}
