//! [`Directory`]: a directory with this mode and owner (or none at all).

use super::diff;
use super::fact::{Fact, FileKind};
use super::mode::ModeSpec;
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::{mkdir_script, removal_script};
use crate::quote::shell_quote;

/// A directory on the host, created with its parents if missing, with the given mode, owner
/// and group — with [`Directory::recurse`], for everything inside it too.
///
/// A symbolic link at the path is an error unless [`Directory::follow`] accepts a link to a
/// directory.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Directory;
/// let mut step = ctx.step();
/// step.add(Directory::new("/srv/app/releases").mode(0o755).owner("deploy").group("deploy"));
/// step.add(Directory::new("/srv/app/shared").owner("deploy").group("deploy").recurse());
/// step.add(Directory::new("/var/www").follow());
/// step.add(Directory::new("/srv/old-app").absent());
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `file` with `state: directory`: `mode` ([`Directory::mode`] for octal numbers,
/// [`Directory::chmod`] for `"0750"` or `"u=rwx,g=rx,o="`), `owner`, `group`, `recurse: yes`
/// ([`Directory::recurse`]), `follow: yes` ([`Directory::follow`]), `state: absent`
/// ([`Directory::absent`]). Differences: with `recurse`, a mode must be octal (Ansible also
/// applies it to the files inside; `u=rwX`-style modes, whose result depends on each file,
/// are not offered recursively), links inside are never followed (their own owner changes, as
/// `chown -h`), and `follow` accepts the link but does not set attributes through it (root
/// changing a file through a link lets whoever controls the link choose the file): set them on
/// the target's own path. pyinfra's `files.directory(path, user, group, mode, recursive)` maps
/// the same way.
pub struct Directory {
    path: String,
    mode: Option<ModeSpec>,
    recurse: bool,
    follow: bool,
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
            recurse: false,
            follow: false,
            owner: None,
            group: None,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// Permission bits, e.g. `0o750` (default: 0755 for a new directory, unchanged for an
    /// existing one). A number that reads as a mode only in decimal (`.mode(755)`) is refused.
    pub fn mode(mut self, mode: u32) -> Directory {
        self.mode = Some(ModeSpec::Bits(mode));
        self
    }

    /// The mode in chmod's notation: octal text (`"0750"`) or symbolic clauses
    /// (`"u=rwx,g=rx,o="`, `"g+w"`), applied to the directory's current mode (0755 for a new
    /// one).
    pub fn chmod(mut self, mode: &str) -> Directory {
        self.mode = Some(ModeSpec::Symbolic(mode.to_string()));
        self
    }

    /// Owner, group and (octal) mode apply to everything inside the directory too, as
    /// `chown -R -h`/`chmod -R`: links inside are not followed. Whether anything inside differs
    /// is read with the other facts (one `find` that stops at the first difference).
    pub fn recurse(mut self) -> Directory {
        self.recurse = true;
        self
    }

    /// A symbolic link to a directory at the path is accepted as the directory (without this
    /// it is an error). Mode, owner and group are not set through the link.
    pub fn follow(mut self) -> Directory {
        self.follow = true;
        self
    }

    /// The `find` condition true for a path inside that differs from what is asked.
    fn differs_inside(&self) -> Option<String> {
        let mut tests = Vec::new();
        if let Some(o) = &self.owner {
            tests.push(format!("! -user {}", shell_quote(o)));
        }
        if let Some(g) = &self.group {
            tests.push(format!("! -group {}", shell_quote(g)));
        }
        if let Some(ModeSpec::Bits(m)) = &self.mode {
            // All of the mode's permission bits set and none other (setuid/setgid/sticky,
            // which chmod keeps on directories, are not compared); links have no mode.
            let extra = 0o777 & !m;
            let mut perm = format!("! -perm -{:o}", m & 0o777);
            if extra != 0 {
                perm.push_str(&format!(" -o -perm /{extra:o}"));
            }
            tests.push(format!("\\( ! -type l \\( {perm} \\) \\)"));
        }
        (!tests.is_empty()).then(|| tests.join(" -o "))
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
        let bad_mode = |message: String| OpError::invalid(&self.name(), message);
        match &self.mode {
            Some(ModeSpec::Bits(m)) => ModeSpec::check_bits(*m).map_err(bad_mode)?,
            Some(ModeSpec::Symbolic(text)) => {
                self.mode = Some(ModeSpec::parse(text).map_err(bad_mode)?);
            }
            None => {}
        }
        if self.recurse && matches!(self.mode, Some(ModeSpec::Symbolic(_))) {
            return Err(OpError::invalid(
                &self.name(),
                "a recursive mode must be octal (.mode(0o750) or .chmod(\"0750\")): a symbolic one would differ from file to file",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let p = shell_quote(&self.path);
        let mut s = format!("dm_stat d {p}");
        if self.follow {
            s.push_str(&format!(
                "\nif [ -L {p} ] && [ -d {p} ]; then echo d.link_to_dir=1; fi"
            ));
        }
        if let (true, Some(differs)) = (self.recurse, self.differs_inside()) {
            // The first path inside that differs, if any; a find that fails (an unknown user)
            // counts as a difference, for the change to say what is wrong.
            s.push_str(&format!(
                "\nif [ -d {p} ] && [ ! -L {p} ]; then \
                 dm_r=$(find {p} -mindepth 1 \\( {differs} \\) -print -quit 2>/dev/null) || dm_r=failed; \
                 [ -z \"$dm_r\" ] || echo d.inside_differs=1; fi"
            ));
        }
        s
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
                    self.mode.as_ref().map(|m| m.resolve(None, true)),
                    self.owner.as_deref(),
                    self.group.as_deref(),
                ));
                if let Some(m) = &self.mode {
                    details.push(format!("mode {}", diff::mode(m.resolve(None, true))));
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
                    self.mode.as_ref().map(|m| m.resolve(stat.mode, true)),
                    self.owner.as_deref(),
                    self.group.as_deref(),
                    &mut changes,
                    &mut lines,
                );
            }
            FileKind::Link if self.follow && fact.flag("d.link_to_dir") => {
                if self.mode.is_some() || self.owner.is_some() || self.group.is_some() {
                    return Err(OpError::invalid(
                        &self.name(),
                        format!(
                            "{} is a link to a directory ({}); dm does not set mode, owner or group through a link: give them for the target's own path",
                            self.path,
                            stat.target.as_deref().unwrap_or("?")
                        ),
                    ));
                }
                return Ok(Plan::Ok);
            }
            kind => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is {}, not a directory; remove it first (ops::File::absent){}",
                        self.path,
                        kind.word(),
                        if kind == FileKind::Link {
                            ", or accept a link to a directory with .follow()"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        // Everything inside: after the directory itself, links changed themselves (`-h`), never
        // followed (`-P`, chmod skips them).
        if self.recurse && fact.flag("d.inside_differs") && self.differs_inside().is_some() {
            if let Some(o) = &self.owner {
                lines.push(format!("chown -R -h -P -- {} {q}", shell_quote(o)));
            }
            if let Some(g) = &self.group {
                lines.push(format!("chgrp -R -h -P -- {} {q}", shell_quote(g)));
            }
            if let Some(ModeSpec::Bits(m)) = &self.mode {
                lines.push(format!("chmod -R {m:o} -- {q}"));
            }
            changes.push("owner, group or mode of what is inside".to_string());
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
    fn recurse_changes_what_is_inside_only_when_something_differs() {
        let d = Directory::new("/srv/app")
            .owner("deploy")
            .mode(0o750)
            .recurse();
        let facts = d.fact_script(&FactOptions::default());
        assert!(
            facts.contains("find /srv/app -mindepth 1 \\( ! -user deploy -o \\( ! -type l \\( ! -perm -750 -o -perm /27 \\) \\) \\) -print -quit"),
            "{facts}"
        );
        let ok = "d.type=dir\nd.mode=750\nd.uid=1000\nd.user=deploy\n";
        assert!(matches!(plan(&d, ok), Ok(Plan::Ok)));
        let Ok(Plan::Change(c)) = plan(&d, &format!("{ok}d.inside_differs=1\n")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "owner, group or mode of what is inside");
        assert_eq!(
            c.action.script,
            "chown -R -h -P -- deploy /srv/app\nchmod -R 750 -- /srv/app"
        );
        let mut symbolic = Directory::new("/srv/app").chmod("u=rwX").recurse();
        assert!(
            symbolic
                .prepare(&super::super::TemplateVars::default())
                .is_err()
        );
    }

    #[test]
    fn follow_accepts_a_link_to_a_directory_and_modes_are_checked() {
        let link = "d.type=link\nd.target=/data/www\nd.link_to_dir=1\n";
        let err = plan(&Directory::new("/var/www"), link).expect_err("a link is refused");
        assert!(err.to_string().contains(".follow()"), "{err}");
        assert!(matches!(
            plan(&Directory::new("/var/www").follow(), link),
            Ok(Plan::Ok)
        ));
        assert!(plan(&Directory::new("/var/www").follow().owner("x"), link).is_err());
        assert!(
            plan(
                &Directory::new("/var/www").follow(),
                "d.type=link\nd.target=/etc/motd\n"
            )
            .is_err(),
            "a link to a file is not a directory"
        );
        let mut decimal = Directory::new("/srv").mode(755);
        assert!(
            decimal
                .prepare(&super::super::TemplateVars::default())
                .is_err()
        );
        let g_plus_w = Directory::new("/srv").chmod("g+w");
        let Ok(Plan::Change(c)) = plan(&g_plus_w, SRV) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mode 0755 → 0775");
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
