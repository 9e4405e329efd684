//! [`Symlink`]: a symbolic link pointing where it should (or none at all).

use super::fact::{Fact, FileKind};
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::{link_script, removal_script};
use crate::quote::shell_quote;

/// A symbolic link at `link` pointing to `target` (created with its parent directories).
///
/// A link pointing elsewhere is changed atomically enough for releases (`ln -sfn`). A target
/// that does not exist is refused unless asked for ([`Symlink::dangling`] or
/// [`Symlink::force`]): a typo in a target would otherwise leave a link to nothing. A target
/// that an earlier operation of the same step writes counts (it exists when the link is made). A
/// regular file, or an empty directory, in the way is replaced only with [`Symlink::force`]; a
/// directory with something in it is always an error.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::{Directory, Symlink};
/// let mut step = ctx.step();
/// step.add(Directory::new("/srv/app/releases/42"));
/// step.add(Symlink::new("/srv/app/current", "/srv/app/releases/42").owner("deploy"));
/// step.add(Symlink::new("/etc/app/plugin.conf", "/opt/plugin/conf").dangling());
/// step.add(Symlink::absent("/etc/nginx/sites-enabled/default"));
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `file` with `state: link`: `src` is the target, `path` the link; `force: yes` is
/// [`Symlink::force`] (it also allows a missing target, as in Ansible; [`Symlink::dangling`]
/// allows only that); `owner`/`group` are [`Symlink::owner`]/[`Symlink::group`] (the link's
/// own, `chown -h`); `state: absent` on a link is [`Symlink::absent`], which leaves anything
/// that is not a link alone. Differences: `follow` does not apply (a link's mode means nothing
/// on Linux, so there is no `mode`), and hard links (`state: hard`) are not offered. pyinfra's
/// `files.link(path, target)`: `force` and `create_remote_dir` (always on here) as above;
/// pyinfra links to a missing target without asking, dm asks for `.dangling()`.
pub struct Symlink {
    link: String,
    target: Option<String>,
    force: bool,
    dangling: bool,
    owner: Option<String>,
    group: Option<String>,
    notify: Vec<String>,
}

impl Symlink {
    /// A link at `link` pointing to `target` (the target may be relative, and need not exist).
    pub fn new(link: &str, target: &str) -> Symlink {
        Symlink {
            link: link.to_string(),
            target: Some(target.to_string()),
            force: false,
            dangling: false,
            owner: None,
            group: None,
            notify: Vec::new(),
        }
    }

    /// No symlink at `link` (a file or directory there is left alone and reported).
    pub fn absent(link: &str) -> Symlink {
        Symlink {
            link: link.to_string(),
            target: None,
            force: false,
            dangling: false,
            owner: None,
            group: None,
            notify: Vec::new(),
        }
    }

    /// Replaces a regular file, a special file or an empty directory found at the link's path,
    /// and allows a target that does not exist (as Ansible's `force`).
    pub fn force(mut self) -> Symlink {
        self.force = true;
        self
    }

    /// Allows a target that does not exist (yet): without this, and without
    /// [`Symlink::force`], a missing target is an error.
    pub fn dangling(mut self) -> Symlink {
        self.dangling = true;
        self
    }

    /// The link's own owner, by name or uid (`chown -h`; the target is not touched).
    pub fn owner(mut self, user: &str) -> Symlink {
        self.owner = Some(user.to_string());
        self
    }

    /// The link's own group, by name or gid (`chgrp -h`; the target is not touched).
    pub fn group(mut self, group: &str) -> Symlink {
        self.group = Some(group.to_string());
        self
    }

    /// Where the target is, as an absolute path without `.` and `..` (not following links):
    /// what an earlier operation that makes the target names.
    fn target_path(&self) -> Option<String> {
        let target = self.target.as_deref()?;
        let joined = if target.starts_with('/') {
            target.to_string()
        } else {
            let (dir, _) = crate::ctx::dir_and_base(&self.link);
            format!("{dir}/{target}")
        };
        let mut parts: Vec<&str> = Vec::new();
        for part in joined.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        Some(format!("/{}", parts.join("/")))
    }
}

notify_builder!(Symlink);

impl Operation for Symlink {
    fn name(&self) -> String {
        match &self.target {
            Some(t) => format!("symlink {} -> {t}", self.link),
            None => format!("symlink {}", self.link),
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.link)?;
        if let Some(t) = &self.target
            && (t.is_empty() || t.contains('\n'))
        {
            return Err(OpError::invalid(
                &self.name(),
                "the target is empty or has a newline",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let l = shell_quote(&self.link);
        let mut s = format!("dm_stat l {l}");
        if self.target.is_some() {
            // Whether the target exists, as the link will see it (relative to its directory);
            // and, only when a directory is in the way, whether it is empty.
            let target = match self.target.as_deref() {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("{}/{t}", crate::ctx::dir_and_base(&self.link).0),
                None => String::new(),
            };
            s.push_str(&format!(
                "\nif [ -e {t} ]; then echo l.target_exists=1; fi\n\
                 if [ -d {l} ] && [ ! -L {l} ] && [ -z \"$(ls -A -- {l} 2>/dev/null)\" ]; then echo l.empty=1; fi",
                t = shell_quote(&target)
            ));
        }
        s
    }

    fn resources(&self) -> Vec<Resource> {
        // Not the target: the gathering command would hash it (it may be a large binary) on
        // every run. A target an earlier operation makes is seen in the simulation instead.
        vec![Resource::Path(self.link.clone())]
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("l");
        let Some(target) = &self.target else {
            return match stat.kind {
                FileKind::Absent => Ok(Plan::Ok),
                FileKind::Link => Ok(Plan::Change(Change::new(
                    format!("remove (pointed to {})", stat.target.unwrap_or_default()),
                    Action::shell(removal_script(&[&self.link], false)),
                ))),
                kind => Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is {}, not a symlink; leaving it alone",
                        self.link,
                        kind.word()
                    ),
                )),
            };
        };
        // An earlier operation of the step that writes the target makes it.
        let made_now = self
            .target_path()
            .is_some_and(|t| sim.is_dirty(&Resource::Path(t)));
        if !fact.flag("l.target_exists") && !made_now && !self.dangling && !self.force {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "the target {target} does not exist; fix the target, or add .dangling() to link to it anyway"
                ),
            ));
        }
        // Made, re-pointed or put in place of what is there in one way: under a temporary name,
        // renamed over the path, by whoever may act in its directory (never following a link
        // another account planted on the way; see `link_script`).
        let make = |replace_empty_dir: bool| {
            link_script(
                &self.link,
                target,
                replace_empty_dir,
                self.owner.as_deref(),
                self.group.as_deref(),
            )
        };
        let create = make(false);
        let mut attributes = Vec::new();
        if let Some(o) = &self.owner {
            attributes.push(format!("owner {o}"));
        }
        if let Some(g) = &self.group {
            attributes.push(format!("group {g}"));
        }
        let with_attributes = |what: String| {
            if attributes.is_empty() {
                what
            } else {
                format!("{what} ({})", attributes.join(", "))
            }
        };
        let change = |what: String, script: String| {
            Ok(Plan::Change(Change::new(
                with_attributes(what),
                Action::shell(script),
            )))
        };
        match stat.kind {
            FileKind::Link if stat.target.as_deref() == Some(target.as_str()) => {
                // Only the link's own owner and group can differ. They change by making the link
                // again (a `chown -h` of the path would follow a directory on the way that
                // another account swapped for a link).
                let mut changes = Vec::new();
                if let Some(o) = self.owner.as_deref().filter(|o| !stat.owner_is(o)) {
                    changes.push(format!(
                        "owner {} → {o}",
                        stat.user.as_deref().unwrap_or("?")
                    ));
                }
                if let Some(g) = self.group.as_deref().filter(|g| !stat.group_is(g)) {
                    changes.push(format!(
                        "group {} → {g}",
                        stat.group.as_deref().unwrap_or("?")
                    ));
                }
                if changes.is_empty() {
                    return Ok(Plan::Ok);
                }
                Ok(Plan::Change(Change::new(
                    changes.join(", "),
                    Action::shell(create),
                )))
            }
            FileKind::Link => change(
                format!(
                    "point to {target} (was {})",
                    stat.target.clone().unwrap_or_default()
                ),
                create,
            ),
            FileKind::Absent => change(format!("create, pointing to {target}"), create),
            // rename(2) replaces a file in place.
            FileKind::File | FileKind::Other if self.force => change(
                format!("replace {} with a link to {target}", stat.kind.word()),
                create,
            ),
            FileKind::Dir if self.force && fact.flag("l.empty") => change(
                format!("replace an empty directory with a link to {target}"),
                make(true),
            ),
            FileKind::Dir => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is a directory{}; dm does not remove it to make a link: move what is in it and remove it first",
                    self.link,
                    if fact.flag("l.empty") {
                        " (empty: .force() replaces it)"
                    } else {
                        " with files in it"
                    }
                ),
            )),
            kind => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is {}; remove it first, or use .force() to replace it",
                    self.link,
                    kind.word(),
                ),
            )),
        }
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(s: &Symlink, fact: &str) -> Result<Plan, OpError> {
        s.plan(&Fact::parse(fact), &mut Simulation::new())
    }

    #[test]
    fn correct_link_is_ok_and_a_wrong_one_is_repointed() {
        let s = Symlink::new("/srv/current", "/srv/releases/2");
        let ok = "l.type=link\nl.target=/srv/releases/2\nl.target_exists=1\n";
        assert!(matches!(plan(&s, ok), Ok(Plan::Ok)));
        let Ok(Plan::Change(c)) = plan(
            &s,
            "l.type=link\nl.target=/srv/releases/1\nl.target_exists=1\n",
        ) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "point to /srv/releases/2 (was /srv/releases/1)"
        );
        assert!(
            c.action
                .script
                .ends_with("\ndm_ln /srv current /srv/releases/2 - '' ''"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn a_file_or_an_empty_directory_in_the_way_needs_force() {
        let s = Symlink::new("/srv/current", "/x");
        let err = plan(&s, "l.type=file\nl.target_exists=1\n").expect_err("refused");
        assert!(err.to_string().contains(".force()"), "{err}");
        assert!(matches!(
            plan(&s.force(), "l.type=file\n"),
            Ok(Plan::Change(_))
        ));
        let s = Symlink::new("/srv/current", "/x").force();
        let Ok(Plan::Change(c)) = plan(&s, "l.type=dir\nl.empty=1\n") else {
            panic!("an empty directory is replaced")
        };
        assert_eq!(
            c.description,
            "replace an empty directory with a link to /x"
        );
        assert!(
            c.action.script.ends_with("\ndm_ln /srv current /x d '' ''"),
            "{}",
            c.action.script
        );
        let err = plan(&s, "l.type=dir\n").expect_err("a full directory is refused");
        assert!(err.to_string().contains("with files in it"), "{err}");
        let err = plan(
            &Symlink::new("/srv/current", "/x"),
            "l.type=dir\nl.empty=1\nl.target_exists=1\n",
        )
        .expect_err("refused without force");
        assert!(err.to_string().contains(".force() replaces it"), "{err}");
    }

    #[test]
    fn a_missing_target_needs_dangling_or_force() {
        let s = Symlink::new("/srv/current", "releases/9");
        let err = plan(&s, "l.type=absent\n").expect_err("dangling refused");
        assert!(
            err.to_string().contains("releases/9 does not exist"),
            "{err}"
        );
        assert!(err.to_string().contains(".dangling()"), "{err}");
        for s in [
            s.dangling(),
            Symlink::new("/srv/current", "releases/9").force(),
        ] {
            assert!(matches!(plan(&s, "l.type=absent\n"), Ok(Plan::Change(_))));
        }
        // The fact looks where the link will: relative to its directory.
        let s = Symlink::new("/srv/app/current", "../releases/9");
        assert!(
            s.fact_script(&FactOptions::default())
                .contains("[ -e /srv/app/../releases/9 ]")
        );
        // A target an earlier operation of the step makes counts.
        let mut sim = Simulation::new();
        sim.mark([Resource::Path("/srv/releases/9".into())]);
        assert!(matches!(
            s.plan(&Fact::parse("l.type=absent\n"), &mut sim),
            Ok(Plan::Change(_))
        ));
    }

    #[test]
    fn the_links_own_owner_and_group_are_set() {
        let s = Symlink::new("/srv/current", "/x")
            .owner("deploy")
            .group("adm");
        let Ok(Plan::Change(c)) = plan(&s, "l.type=absent\nl.target_exists=1\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "create, pointing to /x (owner deploy, group adm)"
        );
        assert!(
            c.action
                .script
                .ends_with("\ndm_ln /srv current /x - deploy adm")
        );
        let right = "l.type=link\nl.target=/x\nl.target_exists=1\nl.uid=0\nl.user=root\nl.gid=4\nl.group=adm\n";
        let Ok(Plan::Change(c)) = plan(&s, right) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "owner root → deploy");
        // Made again, not `chown -h` through a path another account may have redirected.
        assert!(
            c.action
                .script
                .ends_with("\ndm_ln /srv current /x - deploy adm")
        );
        let Ok(Plan::Ok) = plan(&s, &right.replace("l.user=root", "l.user=deploy")) else {
            panic!("nothing to do")
        };
    }

    #[test]
    fn absent_removes_only_links() {
        let s = Symlink::absent("/etc/nginx/sites-enabled/default");
        assert!(matches!(plan(&s, "l.type=absent\n"), Ok(Plan::Ok)));
        assert!(matches!(
            plan(&s, "l.type=link\nl.target=x\n"),
            Ok(Plan::Change(_))
        ));
        assert!(plan(&s, "l.type=file\n").is_err());
    }

    /// Runs a plan's script with `sh` on this machine.
    fn apply(s: &Symlink, fact: &str) -> std::process::Output {
        let Ok(Plan::Change(c)) = plan(s, fact) else {
            panic!("expected a change")
        };
        std::process::Command::new("sh")
            .args(["-c", &c.action.script])
            .output()
            .expect("sh runs")
    }

    #[test]
    fn links_are_made_repointed_and_put_in_place_of_a_file_or_an_empty_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let at = |name: &str| dir.path().join(name).display().to_string();
        let target_of = |name: &str| {
            std::fs::read_link(dir.path().join(name))
                .map(|t| t.display().to_string())
                .unwrap_or_else(|e| format!("not a link: {e}"))
        };
        let run = |s: Symlink, fact: &str| {
            let out = apply(&s, fact);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Made in a directory that does not exist yet, then re-pointed.
        run(
            Symlink::new(&at("sub/current"), "releases/1").dangling(),
            "l.type=absent\n",
        );
        assert_eq!(target_of("sub/current"), "releases/1");
        run(
            Symlink::new(&at("sub/current"), "releases/2").dangling(),
            "l.type=link\nl.target=releases/1\n",
        );
        assert_eq!(target_of("sub/current"), "releases/2");
        // A file and an empty directory in the way, with .force().
        std::fs::write(dir.path().join("file"), "x").expect("file");
        run(Symlink::new(&at("file"), "/x").force(), "l.type=file\n");
        assert_eq!(target_of("file"), "/x");
        std::fs::create_dir(dir.path().join("empty")).expect("dir");
        run(
            Symlink::new(&at("empty"), "/x").force(),
            "l.type=dir\nl.empty=1\n",
        );
        assert_eq!(target_of("empty"), "/x");
        // Nothing is left behind under a temporary name.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["empty", "file", "sub"]);
        // A directory that filled up meanwhile is not replaced.
        std::fs::create_dir(dir.path().join("full")).expect("dir");
        std::fs::write(dir.path().join("full/kept"), "x").expect("file");
        let out = apply(
            &Symlink::new(&at("full"), "/x").force(),
            "l.type=dir\nl.empty=1\n",
        );
        assert!(!out.status.success());
        assert!(dir.path().join("full/kept").exists());
    }
}
