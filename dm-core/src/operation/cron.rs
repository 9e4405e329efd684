//! [`Cron`]: a scheduled command, as a file of its own in `/etc/cron.d`.

use super::fact::Fact;
use super::file::File;
use super::{
    FactOptions, OpError, Operation, Plan, Resource, Simulation, TemplateVars, notify_builder,
};

/// A cron entry: `command` run as `user` on `schedule`, kept in `/etc/cron.d/NAME`.
///
/// One file per entry makes the entry easy to find, change and remove, and leaves users'
/// crontabs alone. `%` in the command is escaped (cron would turn it into a newline). The cron
/// daemon itself is not installed by this operation (Debian: `ops::Apt::present(["cron"])`).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Cron;
/// let mut step = ctx.step();
/// step.add(Cron::new("backup", "30 3 * * *", "/usr/local/bin/backup --quiet").user("backup"));
/// step.add(Cron::new("old-report", "@daily", "true").absent());
/// # Ok(()) }
/// ```
pub struct Cron {
    name: String,
    schedule: String,
    command: String,
    user: String,
    absent: bool,
    file: Option<File>,
    notify: Vec<String>,
}

impl Cron {
    /// Entry `name` (letters, digits, `-` and `_`: cron ignores other file names) running
    /// `command` on `schedule` (five fields, or `@daily`, `@hourly`, `@reboot`, ...), as root.
    pub fn new(name: &str, schedule: &str, command: &str) -> Cron {
        Cron {
            name: name.to_string(),
            schedule: schedule.split_whitespace().collect::<Vec<_>>().join(" "),
            command: command.to_string(),
            user: "root".to_string(),
            absent: false,
            file: None,
            notify: Vec::new(),
        }
    }

    /// Runs the command as `user`.
    pub fn user(mut self, user: &str) -> Cron {
        self.user = user.to_string();
        self
    }

    /// The entry does not exist (its file is removed).
    pub fn absent(mut self) -> Cron {
        self.absent = true;
        self
    }

    fn path(&self) -> String {
        format!("/etc/cron.d/{}", self.name)
    }

    /// The file's content.
    fn content(&self) -> String {
        format!(
            "# Managed by dm: cron entry `{}`. Changes made here are overwritten.\n\
             SHELL=/bin/sh\n\
             PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\
             {} {} {}\n",
            self.name,
            self.schedule,
            self.user,
            self.command.replace('%', "\\%")
        )
    }

    fn check(&self) -> Result<(), OpError> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(OpError::invalid(
                &self.name(),
                "the name becomes a file in /etc/cron.d: use letters, digits, - and _ only",
            ));
        }
        if self.absent {
            return Ok(());
        }
        let fields: Vec<&str> = self.schedule.split(' ').collect();
        let special = [
            "@reboot",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ];
        let schedule_ok = (fields.len() == 1 && special.contains(&fields[0]))
            || (fields.len() == 5
                && fields.iter().all(|f| {
                    f.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"*/,-".contains(&b))
                }));
        if !schedule_ok {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "`{}` is not a cron schedule: five fields (minute hour day month weekday) or @daily and the like",
                    self.schedule
                ),
            ));
        }
        if self.command.trim().is_empty() || self.command.contains('\n') {
            return Err(OpError::invalid(
                &self.name(),
                "the command must be one non-empty line",
            ));
        }
        if self.user.is_empty() || self.user.contains(char::is_whitespace) {
            return Err(OpError::invalid(&self.name(), "bad user name"));
        }
        Ok(())
    }
}

notify_builder!(Cron);

impl Operation for Cron {
    fn name(&self) -> String {
        if self.absent {
            format!("cron {} absent", self.name)
        } else {
            format!("cron {}: {} {}", self.name, self.schedule, self.command)
        }
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        self.check()?;
        let mut file = if self.absent {
            File::absent(&self.path())
        } else {
            File::bytes(&self.path(), self.content())
                .mode(0o644)
                .owner("root")
        };
        file.prepare(vars)?;
        self.file = Some(file);
        Ok(())
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        self.file
            .as_ref()
            .map(|f| f.fact_script(options))
            .unwrap_or_else(|| ":".to_string())
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.path())]
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        match &self.file {
            Some(f) => f.plan(fact, sim).map_err(|e| match e {
                OpError::Invalid { host, message, .. } => OpError::Invalid {
                    host,
                    op: self.name(),
                    message,
                },
                other => other,
            }),
            None => Err(OpError::invalid(&self.name(), "was not prepared")),
        }
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Change;
    use crate::operation::fact::sha256_hex;

    fn prepared(mut c: Cron) -> Cron {
        c.prepare(&TemplateVars::default()).expect("prepares");
        c
    }

    fn change(c: &Cron, fact: &str) -> Option<Change> {
        match c
            .plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
        {
            Plan::Ok => None,
            Plan::Change(ch) => Some(ch),
        }
    }

    #[test]
    fn a_new_entry_writes_its_file_with_escaped_percent() {
        let c = prepared(Cron::new("backup", "30  3 * * *", "date +%F > /tmp/x").user("backup"));
        let ch = change(&c, "f.type=absent\n").expect("change");
        let diff = ch.diff.expect("diff");
        assert!(
            diff.contains("+30 3 * * * backup date +\\%F > /tmp/x"),
            "{diff}"
        );
    }

    #[test]
    fn an_existing_identical_entry_is_ok() {
        let c = prepared(Cron::new("backup", "@daily", "/usr/local/bin/backup"));
        let sha = sha256_hex(c.content().as_bytes());
        let fact = format!(
            "f.type=file\nf.mode=644\nf.uid=0\nf.user=root\nf.gid=0\nf.group=root\nf.sha256={sha}\n"
        );
        assert!(change(&c, &fact).is_none());
    }

    #[test]
    fn bad_names_and_schedules_are_refused() {
        let mut c = Cron::new("my.job", "@daily", "true");
        assert!(c.prepare(&TemplateVars::default()).is_err());
        let mut c = Cron::new("job", "every day", "true");
        let err = c.prepare(&TemplateVars::default()).expect_err("schedule");
        assert!(err.to_string().contains("not a cron schedule"), "{err}");
    }

    #[test]
    fn absent_removes_the_file() {
        let c = prepared(Cron::new("job", "@daily", "true").absent());
        assert!(change(&c, "f.type=absent\n").is_none());
        let ch = change(&c, "f.type=file\n").expect("change");
        assert!(
            ch.action.script.ends_with("\ndm_rm /etc/cron.d job"),
            "{}",
            ch.action.script
        );
    }
}
