//! [`Symlink`]: a symbolic link pointing where it should (or none at all).

use super::fact::{Fact, FileKind};
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::quote::shell_quote;

/// A symbolic link at `link` pointing to `target` (created with its parent directories).
///
/// A link pointing elsewhere is changed atomically enough for releases (`ln -sfn`). A regular
/// file in the way is replaced only with [`Symlink::force`]; a directory in the way is an error.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Symlink;
/// let mut step = ctx.step();
/// step.add(Symlink::new("/srv/app/current", "/srv/app/releases/42"));
/// step.add(Symlink::absent("/etc/nginx/sites-enabled/default"));
/// # Ok(()) }
/// ```
pub struct Symlink {
    link: String,
    target: Option<String>,
    force: bool,
    notify: Vec<String>,
}

impl Symlink {
    /// A link at `link` pointing to `target` (the target may be relative, and need not exist).
    pub fn new(link: &str, target: &str) -> Symlink {
        Symlink {
            link: link.to_string(),
            target: Some(target.to_string()),
            force: false,
            notify: Vec::new(),
        }
    }

    /// No symlink at `link` (a file or directory there is left alone and reported).
    pub fn absent(link: &str) -> Symlink {
        Symlink {
            link: link.to_string(),
            target: None,
            force: false,
            notify: Vec::new(),
        }
    }

    /// Replaces a regular file found at the link's path.
    pub fn force(mut self) -> Symlink {
        self.force = true;
        self
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
        format!("dm_stat l {}", shell_quote(&self.link))
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.link.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("l");
        let l = shell_quote(&self.link);
        let Some(target) = &self.target else {
            return match stat.kind {
                FileKind::Absent => Ok(Plan::Ok),
                FileKind::Link => Ok(Plan::Change(Change::new(
                    format!("remove (pointed to {})", stat.target.unwrap_or_default()),
                    Action::shell(format!("rm -f -- {l}")),
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
        let t = shell_quote(target);
        let create = format!("mkdir -p -- \"$(dirname -- {l})\"\nln -sfn -- {t} {l}");
        match stat.kind {
            FileKind::Link if stat.target.as_deref() == Some(target.as_str()) => Ok(Plan::Ok),
            FileKind::Link => Ok(Plan::Change(Change::new(
                format!(
                    "point to {target} (was {})",
                    stat.target.unwrap_or_default()
                ),
                Action::shell(create),
            ))),
            FileKind::Absent => Ok(Plan::Change(Change::new(
                format!("create, pointing to {target}"),
                Action::shell(create),
            ))),
            FileKind::File | FileKind::Other if self.force => Ok(Plan::Change(Change::new(
                format!("replace {} with a link to {target}", stat.kind.word()),
                Action::shell(format!("rm -f -- {l}\n{create}")),
            ))),
            kind => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is {}; remove it first{}",
                    self.link,
                    kind.word(),
                    if kind == FileKind::Dir {
                        ""
                    } else {
                        ", or use .force() to replace it"
                    }
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
        let ok = "l.type=link\nl.target=/srv/releases/2\n";
        assert!(matches!(plan(&s, ok), Ok(Plan::Ok)));
        let Ok(Plan::Change(c)) = plan(&s, "l.type=link\nl.target=/srv/releases/1\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "point to /srv/releases/2 (was /srv/releases/1)"
        );
        assert!(
            c.action
                .script
                .ends_with("ln -sfn -- /srv/releases/2 /srv/current")
        );
    }

    #[test]
    fn a_file_in_the_way_needs_force_and_a_directory_is_refused() {
        let s = Symlink::new("/srv/current", "/x");
        let err = plan(&s, "l.type=file\n").expect_err("refused");
        assert!(err.to_string().contains(".force()"), "{err}");
        assert!(matches!(
            plan(&s.force(), "l.type=file\n"),
            Ok(Plan::Change(_))
        ));
        let s = Symlink::new("/srv/current", "/x").force();
        assert!(plan(&s, "l.type=dir\n").is_err());
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
}
