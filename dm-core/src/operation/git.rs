//! [`Git`]: a git checkout of a repository at a branch, tag or commit.

use super::fact::Fact;
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::quote::shell_quote;

/// What to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rev {
    /// The remote's default branch.
    Default,
    Branch(String),
    Tag(String),
    Commit(String),
}

/// A checkout of `repo` in `dest`, at the tip of a branch, a tag, or a commit.
///
/// The remote is asked (`git ls-remote`) where the branch or tag points, so a checkout that is
/// already there costs no fetch. Local modifications of tracked files stop the operation unless
/// [`Git::force`] discards them. git itself must be installed on the host: the operation does
/// not install it (add `ops::Apt::present(["git"])` before it).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Git;
/// let mut step = ctx.step();
/// step.add(Git::new("https://example.invalid/shop.git", "/srv/shop").branch("main").user("deploy"));
/// step.add(Git::new("/srv/mirror/tools.git", "/opt/tools").tag("v1.4.0"));
/// step.add(Git::new("/srv/mirror/lib.git", "/opt/lib").commit("3f2c1a9").force());
/// # Ok(()) }
/// ```
pub struct Git {
    repo: String,
    dest: String,
    rev: Rev,
    user: Option<String>,
    force: bool,
    notify: Vec<String>,
}

impl Git {
    /// `repo` (any URL or path git accepts) checked out in `dest`, at the remote's default
    /// branch unless told otherwise.
    pub fn new(repo: &str, dest: &str) -> Git {
        Git {
            repo: repo.to_string(),
            dest: dest.to_string(),
            rev: Rev::Default,
            user: None,
            force: false,
            notify: Vec::new(),
        }
    }

    /// At the tip of this branch (checked out as that local branch).
    pub fn branch(mut self, branch: &str) -> Git {
        self.rev = Rev::Branch(branch.to_string());
        self
    }

    /// At this tag (detached).
    pub fn tag(mut self, tag: &str) -> Git {
        self.rev = Rev::Tag(tag.to_string());
        self
    }

    /// At this commit (full or abbreviated hash; detached).
    pub fn commit(mut self, commit: &str) -> Git {
        self.rev = Rev::Commit(commit.to_ascii_lowercase());
        self
    }

    /// Runs git as this user (its keys reach the remote; it owns the checkout).
    pub fn user(mut self, user: &str) -> Git {
        self.user = Some(user.to_string());
        self
    }

    /// Discards local modifications of tracked files instead of failing on them.
    pub fn force(mut self) -> Git {
        self.force = true;
        self
    }

    /// The git command prefix: as the user if given, trusting the checkout's owner either way.
    fn git(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "runuser -u {u} -- env HOME=\"$(getent passwd {u} | cut -d: -f6)\" git -c safe.directory='*'",
                u = shell_quote(u)
            ),
            None => "git -c safe.directory='*'".to_string(),
        }
    }

    /// The ref `ls-remote` is asked about.
    fn remote_ref(&self) -> Option<String> {
        match &self.rev {
            Rev::Default => Some("HEAD".to_string()),
            Rev::Branch(b) => Some(format!("refs/heads/{b}")),
            // The peeled entry (`^{}`) is the commit an annotated tag points to.
            Rev::Tag(t) => Some(format!("refs/tags/{t}")),
            Rev::Commit(_) => None,
        }
    }
}

notify_builder!(Git);

impl Operation for Git {
    fn name(&self) -> String {
        let at = match &self.rev {
            Rev::Default => String::new(),
            Rev::Branch(b) => format!(" ({b})"),
            Rev::Tag(t) => format!(" (tag {t})"),
            Rev::Commit(c) => format!(" ({c})"),
        };
        format!("git {} in {}{at}", self.repo, self.dest)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.dest)?;
        let bad_ref = |r: &str| r.is_empty() || r.starts_with('-') || r.contains(['\n', ' ', '\0']);
        let bad = match &self.rev {
            Rev::Default => false,
            Rev::Branch(r) | Rev::Tag(r) => bad_ref(r),
            Rev::Commit(c) => c.len() < 7 || !c.bytes().all(|b| b.is_ascii_hexdigit()),
        };
        if bad || self.repo.is_empty() || self.repo.starts_with('-') {
            return Err(OpError::invalid(
                &self.name(),
                "bad repository, branch, tag or commit (a commit is 7 to 40 hex digits)",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let g = self.git();
        let d = shell_quote(&self.dest);
        let mut s = format!(
            "command -v git >/dev/null 2>&1 || {{ echo git=missing; exit 0; }}\n\
             if [ -d {d}/.git ]; then echo cloned=1\n\
               printf 'head=%s\\n' \"$({g} -C {d} rev-parse HEAD 2>/dev/null)\"\n\
               printf 'url=%s\\n' \"$({g} -C {d} config --get remote.origin.url 2>/dev/null)\"\n\
               printf 'branch=%s\\n' \"$({g} -C {d} symbolic-ref -q --short HEAD 2>/dev/null)\"\n\
               printf 'dirty=%s\\n' \"$({g} -C {d} status --porcelain --untracked-files=no 2>/dev/null | head -n 5 | tr '\\n' ';')\"\n\
             elif [ -e {d} ] && [ -n \"$(ls -A {d} 2>/dev/null)\" ]; then echo occupied=1; fi\n"
        );
        if let Some(r) = self.remote_ref() {
            s.push_str(&format!(
                "if dm_r=$({g} ls-remote -- {repo} {r} {r}^{{}} 2>&1); then \
                 printf '%s\\n' \"$dm_r\" | while read -r sha ref; do printf 'remote=%s %s\\n' \"$sha\" \"$ref\"; done; \
                 else printf 'remote_error=%s\\n' \"$(printf '%s' \"$dm_r\" | tr '\\n' ' ')\"; fi\n",
                repo = shell_quote(&self.repo),
                r = shell_quote(&r)
            ));
        }
        s
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::Package("git".to_string()),
            Resource::Path(self.dest.clone()),
        ]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        if fact.get("git") == Some("missing") {
            return Err(OpError::invalid(
                &self.name(),
                "git is not installed on the host; install it first with ops::Apt::present([\"git\"]) before this operation",
            ));
        }
        if fact.flag("occupied") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} exists and is not a git checkout; move it away first",
                    self.dest
                ),
            ));
        }
        // Where the wanted revision is, by the remote's word (or the commit given).
        let wanted = match &self.rev {
            Rev::Commit(c) => c.clone(),
            _ => {
                if let Some(e) = fact.get("remote_error") {
                    return Err(OpError::invalid(
                        &self.name(),
                        format!("cannot reach {}: {}", self.repo, e.trim()),
                    ));
                }
                let refs: Vec<(&str, &str)> = fact
                    .all("remote")
                    .filter_map(|l| l.split_once(' '))
                    .collect();
                let name = self.remote_ref().unwrap_or_default();
                let peeled = format!("{name}^{{}}");
                let found = refs
                    .iter()
                    .find(|(_, r)| *r == peeled)
                    .or_else(|| refs.iter().find(|(_, r)| *r == name));
                match found {
                    Some((sha, _)) => sha.to_string(),
                    None => {
                        return Err(OpError::invalid(
                            &self.name(),
                            format!("{} has no {name}", self.repo),
                        ));
                    }
                }
            }
        };
        let cloned = fact.flag("cloned");
        let head = fact.get("head").unwrap_or_default();
        let url = fact.get("url").unwrap_or_default();
        let branch = fact.get("branch").unwrap_or_default();
        let dirty = fact.get("dirty").unwrap_or_default();
        let at_rev = !head.is_empty() && head.starts_with(&wanted);
        let on_branch = match &self.rev {
            Rev::Branch(b) => branch == b,
            _ => true,
        };
        if cloned && at_rev && on_branch && url == self.repo && dirty.is_empty() {
            return Ok(Plan::Ok);
        }
        if cloned && !dirty.is_empty() && !self.force {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} has local modifications ({}); commit or remove them, or use .force() to discard them",
                    self.dest,
                    dirty.trim_end_matches(';')
                ),
            ));
        }
        let g = self.git();
        let d = shell_quote(&self.dest);
        let repo = shell_quote(&self.repo);
        let short = |s: &str| s.chars().take(10).collect::<String>();
        let mut lines = Vec::new();
        let mut words = Vec::new();
        if !cloned {
            words.push(format!("clone at {}", short(&wanted)));
            lines.push(format!("mkdir -p -- {d}"));
            if let Some(u) = &self.user {
                lines.push(format!("chown {} -- {d}", shell_quote(u)));
            }
            lines.push(format!("{g} clone -q --no-checkout -- {repo} {d}"));
        } else {
            if url != self.repo {
                words.push(format!("remote {url} → {}", self.repo));
                lines.push(format!("{g} -C {d} remote set-url origin {repo}"));
            }
            if !at_rev || !on_branch {
                words.push(format!("{} → {}", short(head), short(&wanted)));
            }
            if !dirty.is_empty() {
                words.push(format!(
                    "discard local modifications ({})",
                    dirty.trim_end_matches(';')
                ));
            }
        }
        lines.push(format!("{g} -C {d} fetch -q --tags --force origin"));
        lines.push(match &self.rev {
            Rev::Branch(b) => format!(
                "{g} -C {d} checkout -q -f -B {} {}",
                shell_quote(b),
                shell_quote(&format!("origin/{b}"))
            ),
            Rev::Default => format!("{g} -C {d} checkout -q -f --detach {wanted}"),
            Rev::Tag(t) => format!(
                "{g} -C {d} checkout -q -f --detach {}",
                shell_quote(&format!("refs/tags/{t}"))
            ),
            Rev::Commit(c) => format!("{g} -C {d} checkout -q -f --detach {c}"),
        });
        Ok(Plan::Change(Change::new(
            words.join(", "),
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

    const SHA: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";

    fn plan(g: &Git, fact: &str) -> Result<Plan, OpError> {
        g.plan(&Fact::parse(fact), &mut Simulation::new())
    }

    fn checkout(head: &str, dirty: &str) -> String {
        format!(
            "cloned=1\nhead={head}\nurl=/srv/repo.git\nbranch=main\ndirty={dirty}\nremote={SHA} refs/heads/main\n"
        )
    }

    #[test]
    fn checkout_at_the_branch_tip_is_ok() {
        let g = Git::new("/srv/repo.git", "/srv/app").branch("main");
        assert!(matches!(plan(&g, &checkout(SHA, "")), Ok(Plan::Ok)));
    }

    #[test]
    fn missing_checkout_is_cloned() {
        let g = Git::new("/srv/repo.git", "/srv/app").branch("main");
        let Ok(Plan::Change(c)) = plan(&g, &format!("remote={SHA} refs/heads/main\n")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "clone at 1111111111");
        assert!(
            c.action
                .script
                .contains("clone -q --no-checkout -- /srv/repo.git /srv/app")
        );
        assert!(
            c.action
                .script
                .ends_with("checkout -q -f -B main origin/main"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn an_old_head_moves_and_local_changes_need_force() {
        let g = Git::new("/srv/repo.git", "/srv/app").branch("main");
        let Ok(Plan::Change(c)) = plan(&g, &checkout(OLD, "")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "2222222222 → 1111111111");
        let err = plan(&g, &checkout(SHA, " M README;")).expect_err("dirty");
        assert!(err.to_string().contains(".force()"), "{err}");
        let g = g.force();
        let Ok(Plan::Change(c)) = plan(&g, &checkout(SHA, " M README;")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "discard local modifications ( M README)");
    }

    #[test]
    fn annotated_tags_compare_by_the_peeled_commit() {
        let g = Git::new("/srv/repo.git", "/srv/app").tag("v1");
        let fact = format!(
            "cloned=1\nhead={SHA}\nurl=/srv/repo.git\ndirty=\nremote={OLD} refs/tags/v1\nremote={SHA} refs/tags/v1^{{}}\n"
        );
        assert!(matches!(plan(&g, &fact), Ok(Plan::Ok)));
    }

    #[test]
    fn missing_git_names_the_fix() {
        let g = Git::new("/srv/repo.git", "/srv/app");
        let err = plan(&g, "git=missing\n").expect_err("no git");
        assert!(
            err.to_string().contains("ops::Apt::present([\"git\"])"),
            "{err}"
        );
    }

    #[test]
    fn commits_compare_by_prefix() {
        let g = Git::new("/srv/repo.git", "/srv/app").commit("1111111");
        let fact = format!("cloned=1\nhead={SHA}\nurl=/srv/repo.git\ndirty=\n");
        assert!(matches!(plan(&g, &fact), Ok(Plan::Ok)));
        let mut bad = Git::new("/srv/repo.git", "/srv/app").commit("xyz");
        assert!(bad.prepare(&super::super::TemplateVars::default()).is_err());
    }

    #[test]
    fn unreachable_remote_is_reported() {
        let g = Git::new("/srv/nothing.git", "/srv/app");
        let err = plan(&g, "remote_error=fatal: not a git repository\n").expect_err("unreachable");
        assert!(
            err.to_string().contains("cannot reach /srv/nothing.git"),
            "{err}"
        );
    }
}
