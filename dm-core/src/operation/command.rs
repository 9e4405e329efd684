//! [`Command`]: a shell command, run unless its guards say it already did its work.

use super::fact::Fact;
use super::{Action, Change, FactOptions, OpError, Operation, Plan, Simulation, notify_builder};
use crate::quote::shell_quote;

/// A shell command as an operation.
///
/// Without guards it runs every time (always a change: use it as a reaction, or give it a
/// guard). With [`Command::creates`] it runs only while nothing matches that path or glob; with
/// [`Command::removes`] only while something does; with [`Command::unless`] only while that
/// check command fails. Guards are evaluated when the facts are read (so check mode can tell)
/// and again just before running, since an earlier operation of the step may have done the work.
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
/// step.add(Command::new("/srv/app/bin/migrate-locks").removes("/srv/app/run/*.lock"));
/// step.reaction("reload-nginx", Command::new("nginx -t && systemctl reload nginx"));
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `command` and `shell` modules (dm always runs the line with `sh -c`, so pipes and
/// `&&` work as in `shell`), with `creates` and `removes` ([`Command::creates`],
/// [`Command::removes`]: a path or a glob such as `/srv/app/*.lock`, matched as Python's
/// `glob.glob` does: `*`, `?` and `[...]` within one directory level, hidden names only when
/// the pattern names the dot, a dangling symbolic link counts as a match), `chdir`
/// ([`Command::cwd`]) and `become_user` ([`Command::user`]). Ansible has no `unless`: its users
/// register a check command and add `when:`, which [`Command::unless`] does in one. pyinfra's `server.shell` has no guards: its users write
/// `test -e ... ||` into the command, which [`Command::creates`] replaces. Differences: the
/// guard paths must be absolute (Ansible resolves a relative one against `chdir`; dm asks
/// for the whole path so the guard never depends on the directory), and the guards are checked
/// again just before the command runs, so a command whose work an earlier operation of the
/// step did is reported ok, not changed.
pub struct Command {
    command: String,
    creates: Option<String>,
    removes: Option<String>,
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
            removes: None,
            unless: None,
            cwd: None,
            user: None,
            notify: Vec::new(),
        }
    }

    /// Runs only while nothing matches `path`: an absolute path, or a glob (`*`, `?`,
    /// `[...]`) such as `/srv/app/*.lock`, as Ansible's `creates`.
    pub fn creates(mut self, path: &str) -> Command {
        self.creates = Some(path.to_string());
        self
    }

    /// Runs only while something matches `path` (an absolute path or a glob, as in
    /// [`Command::creates`]): a command that removes or consumes those files, as Ansible's
    /// `removes`.
    pub fn removes(mut self, path: &str) -> Command {
        self.removes = Some(path.to_string());
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
            parts.push(matches_condition(p));
        }
        if let Some(p) = &self.removes {
            parts.push(format!("! {}", matches_condition(p)));
        }
        if let Some(check) = &self.unless {
            parts.push(format!("{} >/dev/null 2>&1", self.wrap(check)));
        }
        (!parts.is_empty()).then(|| parts.join(" || "))
    }
}

/// Whether `path` has glob characters (for the description: "nothing matches" reads better
/// than "does not exist" for a pattern).
fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// A shell condition, true when something matches the glob `pattern` (a plain path matches
/// itself). The pattern is expanded from a variable with an empty `IFS`, so it is split at
/// nothing and nothing in it is executed; only pathname expansion applies. A pattern that
/// matches nothing stays itself and is then tested literally (a name with `[` in it still
/// counts). A dangling symbolic link is a match, as for Python's `glob.glob` (Ansible).
fn matches_condition(pattern: &str) -> String {
    format!(
        "( dm_p={}; IFS=; set +f; for dm_f in $dm_p; do \
         if [ -e \"$dm_f\" ] || [ -L \"$dm_f\" ]; then exit 0; fi; done; exit 1 )",
        shell_quote(pattern)
    )
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
        for p in self.creates.iter().chain(&self.removes) {
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
        let mut reasons = Vec::new();
        if let Some(p) = &self.creates {
            reasons.push(if is_glob(p) {
                format!("nothing matches {p}")
            } else {
                format!("{p} does not exist")
            });
        }
        if let Some(p) = &self.removes {
            reasons.push(if is_glob(p) {
                format!("something matches {p}")
            } else {
                format!("{p} exists")
            });
        }
        if let Some(check) = &self.unless {
            reasons.push(format!("`{check}` fails"));
        }
        let description = if reasons.is_empty() {
            "run".to_string()
        } else {
            format!("run (because {})", reasons.join(" and "))
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

    /// The plan of `c` against the facts its own script reads now: `None` when the work is done.
    fn planned(c: &Command) -> Option<Change> {
        let fact = Fact::parse(&run(&c.fact_script(&FactOptions::default())));
        match c.plan(&fact, &mut Simulation::new()) {
            Ok(Plan::Ok) => None,
            Ok(Plan::Change(change)) => Some(change),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn creates_and_removes_take_globs_as_ansible_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("run dir")).expect("mkdir");
        let locks = format!("{d}/run dir/*.lock");
        let creates = Command::new("echo ran").creates(&locks);
        let removes = Command::new("echo ran").removes(&locks);
        let change = planned(&creates).expect("nothing matches yet");
        assert_eq!(
            change.description,
            format!("run (because nothing matches {locks})")
        );
        assert!(planned(&removes).is_none(), "nothing to remove");

        // A name with a space matches; the pattern is not split at it.
        std::fs::write(dir.path().join("run dir/app one.lock"), b"").expect("lock");
        assert!(planned(&creates).is_none());
        let change = planned(&removes).expect("something matches");
        assert_eq!(
            change.description,
            format!("run (because something matches {locks})")
        );
        assert_eq!(run(&change.action.script), "ran\n");

        // A dangling link matches (as glob.glob); a hidden name only when the pattern names it.
        std::fs::remove_file(dir.path().join("run dir/app one.lock")).expect("rm");
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("run dir/gone.lock"))
            .expect("symlink");
        assert!(planned(&creates).is_none(), "a dangling link is a match");
        std::fs::remove_file(dir.path().join("run dir/gone.lock")).expect("rm");
        std::fs::write(dir.path().join("run dir/.hidden.lock"), b"").expect("hidden");
        assert!(planned(&creates).is_some(), "* skips hidden names");
        assert!(planned(&Command::new("true").creates(&format!("{d}/run dir/.*.lock"))).is_none());
    }

    #[test]
    fn glob_guards_run_nothing_written_in_the_pattern() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let marker = format!("{d}/ran");
        let c = Command::new("true").creates(&format!("{d}/$(touch {marker})`touch {marker}`*"));
        assert!(planned(&c).is_some());
        assert!(!std::path::Path::new(&marker).exists());
        // A literal name with glob characters in it still counts when it exists.
        std::fs::write(dir.path().join("[x]"), b"").expect("file");
        assert!(planned(&Command::new("true").creates(&format!("{d}/[x]"))).is_none());
    }

    #[test]
    fn guard_paths_must_be_absolute() {
        let mut c = Command::new("true").removes("run/*.lock");
        let err = c
            .prepare(&super::super::TemplateVars::default())
            .expect_err("relative");
        assert!(err.to_string().contains("not an absolute path"), "{err}");
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
