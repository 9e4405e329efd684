//! [`Directory`]: a directory with this mode and owner (or none at all).

use super::diff;
use super::fact::{Fact, FileKind};
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::{mkdir_script, removal_script};
use crate::quote::shell_quote;

/// A directory on the host, created with its parents if missing, with the given mode, owner
/// and group.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Directory;
/// let mut step = ctx.step();
/// step.add(Directory::new("/srv/app/releases").mode(0o755).owner("deploy").group("deploy"));
/// step.add(Directory::new("/srv/old-app").absent());
/// # Ok(()) }
/// ```
pub struct Directory {
    path: String,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
    absent: bool,
    notify: Vec<String>,
}

impl Directory {
    /// A directory at `path`.
    pub fn new(path: &str) -> Directory {
        Directory {
            path: path.to_string(),
            mode: None,
            owner: None,
            group: None,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// Permission bits, e.g. `0o750` (default: 0755 for a new directory, unchanged for an
    /// existing one).
    pub fn mode(mut self, mode: u32) -> Directory {
        self.mode = Some(mode);
        self
    }

    /// Owner, by name or uid.
    pub fn owner(mut self, user: &str) -> Directory {
        self.owner = Some(user.to_string());
        self
    }

    /// Group, by name or gid.
    pub fn group(mut self, group: &str) -> Directory {
        self.group = Some(group.to_string());
        self
    }

    /// No directory at the path: removed with everything in it.
    pub fn absent(mut self) -> Directory {
        self.absent = true;
        self
    }
}

notify_builder!(Directory);

impl Operation for Directory {
    fn name(&self) -> String {
        format!("directory {}", self.path)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.path)?;
        if self.path.trim_end_matches('/').is_empty() && self.absent {
            return Err(OpError::invalid(&self.name(), "refusing to remove /"));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        format!("dm_stat d {}", shell_quote(&self.path))
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.path.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("d");
        let q = shell_quote(&self.path);
        if self.absent {
            return match stat.kind {
                FileKind::Absent => Ok(Plan::Ok),
                FileKind::Dir => Ok(Plan::Change(Change::new(
                    "remove the directory and everything in it",
                    // Following no link planted on the way: a directory above it that another
                    // account owns could be swapped for a link to one of root's.
                    Action::shell(removal_script(&[&self.path], true)),
                ))),
                kind => Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is {}, not a directory; remove it with ops::File::absent",
                        self.path,
                        kind.word()
                    ),
                )),
            };
        }
        let mut changes = Vec::new();
        let mut lines = Vec::new();
        match stat.kind {
            FileKind::Absent => {
                let mut what = String::from("create");
                let mut details = Vec::new();
                // Made as whoever may write there: a directory on the way that another account
                // owns could be a link by the time it is made.
                lines.push(mkdir_script(
                    &self.path,
                    self.mode,
                    self.owner.as_deref(),
                    self.group.as_deref(),
                ));
                if let Some(m) = self.mode {
                    details.push(format!("mode {}", diff::mode(m)));
                }
                if let Some(o) = &self.owner {
                    details.push(format!("owner {o}"));
                }
                if let Some(g) = &self.group {
                    details.push(format!("group {g}"));
                }
                if !details.is_empty() {
                    what.push_str(&format!(" ({})", details.join(", ")));
                }
                changes.push(what);
            }
            FileKind::Dir => {
                stat.attribute_changes(
                    &q,
                    self.mode,
                    self.owner.as_deref(),
                    self.group.as_deref(),
                    &mut changes,
                    &mut lines,
                );
            }
            kind => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is {}, not a directory; remove it first (ops::File::absent)",
                        self.path,
                        kind.word()
                    ),
                ));
            }
        }
        if lines.is_empty() {
            return Ok(Plan::Ok);
        }
        Ok(Plan::Change(Change::new(
            changes.join(", "),
            Action::shell(lines.join("\n")),
        )))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(d: &Directory, fact: &str) -> Result<Plan, OpError> {
        d.plan(&Fact::parse(fact), &mut Simulation::new())
    }

    const SRV: &str = "d.type=dir\nd.mode=755\nd.uid=0\nd.user=root\nd.gid=0\nd.group=root\n";

    #[test]
    fn missing_directory_is_created_with_mode_and_owner() {
        let d = Directory::new("/srv/app").mode(0o750).owner("www-data");
        let Ok(Plan::Change(c)) = plan(&d, "d.type=absent\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "create (mode 0750, owner www-data)");
        assert!(
            c.action
                .script
                .ends_with("\ndm_mkdir /srv/app 750 www-data ''"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn matching_directory_is_ok_and_differences_are_fixed() {
        assert!(matches!(
            plan(&Directory::new("/srv").mode(0o755).owner("root"), SRV),
            Ok(Plan::Ok)
        ));
        let Ok(Plan::Change(c)) = plan(&Directory::new("/srv").mode(0o700).group("adm"), SRV)
        else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mode 0755 → 0700, group root → adm");
    }

    #[test]
    fn a_file_in_the_way_is_an_error_and_absent_removes() {
        assert!(plan(&Directory::new("/srv"), "d.type=file\n").is_err());
        let Ok(Plan::Change(c)) = plan(&Directory::new("/srv/x").absent(), SRV) else {
            panic!("expected a change")
        };
        assert!(
            c.action.script.ends_with("\ndm_rm /srv x r"),
            "{}",
            c.action.script
        );
        assert!(matches!(
            plan(&Directory::new("/srv/x").absent(), "d.type=absent\n"),
            Ok(Plan::Ok)
        ));
    }
}
