//! [`Cron`]: a scheduled command, as a file of its own in `/etc/cron.d` or as an entry of a user's
//! crontab.

use std::sync::Arc;

use super::diff;
use super::fact::{Fact, sha256_hex};
use super::file::File;
use super::{
    Action, Change, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation,
    TemplateVars, notify_builder,
};
use crate::quote::shell_quote;

/// The special schedules cron understands in place of the five time fields.
const SPECIAL: [&str; 8] = [
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// What starts the marker line above an entry dm keeps in a user's crontab.
const MARKER: &str = "#dm: ";

/// A cron entry: `command` run as `user` on `schedule`, kept in `/etc/cron.d/NAME` or, with
/// [`Cron::in_user_crontab`], in the user's own crontab.
///
/// In `/etc/cron.d` one file per entry makes the entry easy to find, change and remove, and
/// leaves users' crontabs alone; spaces in the name become `_` in the file name (cron ignores
/// files whose names have other characters than letters, digits, `-` and `_`, so those are
/// refused). In a user's crontab (`crontab -u USER`) the entry is the line below a marker line
/// `#dm: NAME`, and lines dm does not manage are kept as they are. The schedule is five fields or
/// one of `@reboot`, `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
/// `@annually`. `%` in the command is escaped (cron would turn it into a newline). The cron
/// daemon itself is not installed by this operation (Debian: `ops::Apt::present(["cron"])`,
/// which also brings the `crontab` command user crontabs need).
///
/// # Coming from Ansible / pyinfra
///
/// Ansible's `cron` module: `name` → the name (its `#Ansible: NAME` marker is `#dm: NAME` here),
/// `minute`/`hour`/`day`/`month`/`weekday` → the five fields of the schedule, `special_time:
/// reboot` → `"@reboot"`, `job` → the command, `user` → [`Cron::user`], `cron_file` → the
/// default `/etc/cron.d/NAME` (no `cron_file` with `user` → [`Cron::in_user_crontab`]), `state:
/// absent` → [`Cron::absent`]. pyinfra's `server.crontab` (`command`, `user`, `minute`, ...,
/// `special_time`, `cron_name`, `present=False`) is [`Cron::in_user_crontab`]. Differences on
/// purpose: without [`Cron::in_user_crontab`] an entry goes to `/etc/cron.d` (its own file, so
/// no user's crontab is touched unasked); `env`, `insertafter` and `disabled` are not offered
/// (set variables in the command; remove an entry with [`Cron::absent`]); a crontab left empty
/// stays installed (empty) rather than removed.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Cron;
/// let mut step = ctx.step();
/// step.add(Cron::new("backup", "30 3 * * *", "/usr/local/bin/backup --quiet").user("backup"));
/// step.add(Cron::new("old-report", "@daily", "true").absent());
/// step.add(
///     Cron::new("warm the cache", "@reboot", "/srv/app/bin/warm")
///         .user("app")
///         .in_user_crontab(),
/// );
/// # Ok(()) }
/// ```
pub struct Cron {
    name: String,
    schedule: String,
    command: String,
    user: String,
    absent: bool,
    in_crontab: bool,
    file: Option<File>,
    notify: Vec<String>,
}

impl Cron {
    /// Entry `name` running `command` on `schedule` (five fields, or `@daily`, `@hourly`,
    /// `@reboot`, ...), as root. In `/etc/cron.d` the name may have letters, digits, `-`, `_`
    /// and spaces; in a user's crontab anything on one line.
    pub fn new(name: &str, schedule: &str, command: &str) -> Cron {
        Cron {
            name: name.to_string(),
            schedule: schedule.split_whitespace().collect::<Vec<_>>().join(" "),
            command: command.to_string(),
            user: "root".to_string(),
            absent: false,
            in_crontab: false,
            file: None,
            notify: Vec::new(),
        }
    }

    /// Runs the command as `user`.
    pub fn user(mut self, user: &str) -> Cron {
        self.user = user.to_string();
        self
    }

    /// The entry lives in the user's own crontab (`crontab -u USER`, Ansible's `cron` with
    /// `user` and no `cron_file`), below a `#dm: NAME` marker line, instead of
    /// `/etc/cron.d/NAME`. Needs the `crontab` command (Debian's `cron` package).
    pub fn in_user_crontab(mut self) -> Cron {
        self.in_crontab = true;
        self
    }

    /// The entry does not exist (its file, or its lines in the crontab, are removed).
    pub fn absent(mut self) -> Cron {
        self.absent = true;
        self
    }

    fn path(&self) -> String {
        format!("/etc/cron.d/{}", self.name.replace(' ', "_"))
    }

    /// Where Debian keeps the user's crontab: the resource a crontab entry changes.
    fn spool(&self) -> String {
        format!("/var/spool/cron/crontabs/{}", self.user)
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
            self.escaped_command()
        )
    }

    /// The command as cron must read it: `%` would start the command's standard input.
    fn escaped_command(&self) -> String {
        self.command.replace('%', "\\%")
    }

    /// The crontab's text with this entry in place (or gone), and what changed; `None` when it
    /// is already so. Later copies of the entry's marker are removed, so one run settles.
    fn edit_crontab(&self, text: &str) -> Option<(String, &'static str)> {
        let marker = format!("{MARKER}{}", self.name);
        let entry = format!("{} {}", self.schedule, self.escaped_command());
        let lines: Vec<&str> = text.lines().collect();
        let mut out: Vec<&str> = Vec::new();
        let mut verb = None;
        let mut seen = false;
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim_end() != marker {
                out.push(lines[i]);
                i += 1;
                continue;
            }
            // The entry is the line below its marker (unless that is the next marker).
            let exact_marker = lines[i] == marker;
            let current = lines.get(i + 1).filter(|l| !l.starts_with(MARKER));
            i += if current.is_some() { 2 } else { 1 };
            if self.absent || seen {
                verb = verb.or(Some("remove from"));
            } else {
                out.push(&marker);
                out.push(&entry);
                if !exact_marker || current.copied() != Some(entry.as_str()) {
                    verb = verb.or(Some("update in"));
                }
            }
            seen = true;
        }
        if !seen && !self.absent {
            out.push(&marker);
            out.push(&entry);
            verb = Some("add to");
        }
        let verb = verb?;
        let mut new = out.join("\n");
        if !new.is_empty() {
            new.push('\n');
        }
        Some((new, verb))
    }

    fn check(&self) -> Result<(), OpError> {
        let name_ok = if self.in_crontab {
            !self.name.trim().is_empty()
                && self.name.trim() == self.name
                && !self.name.contains(['\n', '\r'])
        } else {
            !self.name.trim().is_empty()
                && self.name.trim() == self.name
                && self
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b))
        };
        if !name_ok {
            return Err(OpError::invalid(
                &self.name(),
                if self.in_crontab {
                    "the name becomes the marker line `#dm: NAME` in the crontab: one line, not empty, no spaces at its ends"
                } else {
                    "the name becomes a file in /etc/cron.d: use letters, digits, -, _ and spaces only (or .in_user_crontab(), where any one-line name goes)"
                },
            ));
        }
        if self.user.is_empty()
            || !self
                .user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(OpError::invalid(
                &self.name(),
                format!("`{}` is not a user name", self.user),
            ));
        }
        if self.absent {
            return Ok(());
        }
        let fields: Vec<&str> = self.schedule.split(' ').collect();
        let schedule_ok = (fields.len() == 1 && SPECIAL.contains(&fields[0]))
            || (fields.len() == 5
                && fields.iter().all(|f| {
                    f.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"*/,-".contains(&b))
                }));
        if !schedule_ok {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "`{}` is not a cron schedule: five fields (minute hour day month weekday) or one of {}",
                    self.schedule,
                    SPECIAL.join(", ")
                ),
            ));
        }
        if self.command.trim().is_empty() || self.command.contains(['\n', '\r']) {
            return Err(OpError::invalid(
                &self.name(),
                "the command must be one non-empty line",
            ));
        }
        Ok(())
    }

    /// Plans the entry in the user's crontab.
    fn plan_crontab(&self, fact: &Fact) -> Result<Plan, OpError> {
        let u = shell_quote(&self.user);
        if fact.get("user").is_none() || fact.get("crontab").is_none() {
            if self.absent {
                // No account or no cron: no entry to remove.
                return Ok(Plan::Ok);
            }
            let message = if fact.get("user").is_none() {
                format!(
                    "user `{0}` does not exist; create it first (ops::User::new(\"{0}\") before this operation)",
                    self.user
                )
            } else {
                "the crontab command is missing on the host: install cron first (ops::Apt::present([\"cron\"]) before this operation)".to_string()
            };
            return Err(OpError::invalid(&self.name(), message));
        }
        let old = fact.bytes("content").unwrap_or_default().to_vec();
        let text = String::from_utf8_lossy(&old);
        let Some((new, verb)) = self.edit_crontab(&text) else {
            return Ok(Plan::Ok);
        };
        let label = format!("crontab of {}", self.user);
        let script = format!(
            "[ \"$(crontab -u {u} -l 2>/dev/null | sha256sum | cut -c1-64)\" = {} ] || {{ echo \"the {label} changed since dm read it; run again\" >&2; exit 1; }}\n\
             head -c {} | crontab -u {u} -",
            sha256_hex(&old),
            new.len()
        );
        let diff = diff::unified(&label, Some(old.as_slice()), new.as_bytes());
        Ok(Plan::Change(
            Change::new(
                format!("{verb} the {label}"),
                Action::with_input(script, Input::Bytes(Arc::from(new.into_bytes()))),
            )
            .with_diff(Some(diff)),
        ))
    }
}

notify_builder!(Cron);

impl Operation for Cron {
    fn name(&self) -> String {
        let place = if self.in_crontab {
            format!(" in {}'s crontab", self.user)
        } else {
            String::new()
        };
        if self.absent {
            format!("cron {}{place} absent", self.name)
        } else {
            format!(
                "cron {}{place}: {} {}",
                self.name, self.schedule, self.command
            )
        }
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        self.check()?;
        if self.in_crontab {
            return Ok(());
        }
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
        if self.in_crontab {
            let u = shell_quote(&self.user);
            return format!(
                "if getent passwd {u} >/dev/null; then echo user=yes; fi; \
                 if command -v crontab >/dev/null; then echo crontab=yes; \
                 printf 'content:b64='; crontab -u {u} -l 2>/dev/null | base64 -w0; echo; fi"
            );
        }
        self.file
            .as_ref()
            .map(|f| f.fact_script(options))
            .unwrap_or_else(|| ":".to_string())
    }

    fn resources(&self) -> Vec<Resource> {
        if self.in_crontab {
            // The account and the crontab command may come earlier in the step; another entry of
            // the same crontab changes what this one reads.
            vec![
                Resource::Path(self.spool()),
                Resource::User(self.user.clone()),
                Resource::Package("cron".to_string()),
            ]
        } else {
            vec![Resource::Path(self.path())]
        }
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        if self.in_crontab {
            return self.plan_crontab(fact);
        }
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

    fn crontab_fact(content: &str) -> String {
        format!(
            "user=yes\ncrontab=yes\ncontent:b64={}\n",
            crate::operation::fact::tests_support::base64(content.as_bytes())
        )
    }

    fn new_crontab(ch: &Change) -> String {
        let Some(Input::Bytes(b)) = &ch.action.input else {
            panic!("input")
        };
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn a_crontab_entry_is_added_below_its_marker_and_other_lines_are_kept() {
        let c = prepared(
            Cron::new("nightly report", "0 2 * * *", "report --day %F")
                .user("app")
                .in_user_crontab(),
        );
        let ch = change(&c, &crontab_fact("MAILTO=ops\n* * * * * mine\n")).expect("change");
        assert_eq!(ch.description, "add to the crontab of app");
        assert_eq!(
            new_crontab(&ch),
            "MAILTO=ops\n* * * * * mine\n#dm: nightly report\n0 2 * * * report --day \\%F\n"
        );
        assert!(
            ch.action.script.ends_with(&format!(
                "head -c {} | crontab -u app -",
                new_crontab(&ch).len()
            )),
            "{}",
            ch.action.script
        );
        let done = new_crontab(&ch);
        assert!(change(&c, &crontab_fact(&done)).is_none());
    }

    #[test]
    fn a_changed_or_doubled_crontab_entry_settles_in_one_run_and_absent_removes_it() {
        let c = prepared(Cron::new("job", "@reboot", "start").in_user_crontab());
        let old = "#dm: job\n@daily start\nkeep\n#dm: job\n@daily start\n";
        let ch = change(&c, &crontab_fact(old)).expect("change");
        assert_eq!(ch.description, "update in the crontab of root");
        assert_eq!(new_crontab(&ch), "#dm: job\n@reboot start\nkeep\n");
        let gone = prepared(
            Cron::new("job", "@reboot", "start")
                .in_user_crontab()
                .absent(),
        );
        let ch = change(&gone, &crontab_fact(old)).expect("change");
        assert_eq!(new_crontab(&ch), "keep\n");
        assert!(change(&gone, &crontab_fact("keep\n")).is_none());
        assert!(change(&gone, "").is_none(), "no account: nothing to remove");
    }

    #[test]
    fn a_missing_crontab_command_or_user_names_the_fix() {
        let c = prepared(
            Cron::new("job", "@daily", "true")
                .user("app")
                .in_user_crontab(),
        );
        let err = c
            .plan(&Fact::parse("user=yes\n"), &mut Simulation::new())
            .expect_err("no crontab");
        assert!(
            err.to_string().contains("Apt::present([\"cron\"])"),
            "{err}"
        );
        let err = c
            .plan(&Fact::parse("crontab=yes\n"), &mut Simulation::new())
            .expect_err("no user");
        assert!(err.to_string().contains("User::new(\"app\")"), "{err}");
    }

    #[test]
    fn names_with_spaces_are_accepted() {
        let c = prepared(Cron::new("nightly backup", "@daily", "true"));
        assert_eq!(c.path(), "/etc/cron.d/nightly_backup");
        let mut c = Cron::new("report: daily (eu)", "@daily", "true");
        assert!(c.prepare(&TemplateVars::default()).is_err());
        prepared(Cron::new("report: daily (eu)", "@daily", "true").in_user_crontab());
    }
}
