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

    /// Runs git as this user (its keys reach the remote; it owns the checkout). Without it git
    /// runs as root, and a checkout that another account owns is refused: git as root would run
    /// what that account wrote into `.git` (hooks, config commands).
    pub fn user(mut self, user: &str) -> Git {
        self.user = Some(user.to_string());
        self
    }

    /// Discards local modifications of tracked files instead of failing on them.
    pub fn force(mut self) -> Git {
        self.force = true;
        self
    }

    /// The git command prefix. With a user, git runs as that user and trusts exactly the
    /// checkout (`safe.directory`), so the user's checkout works whoever created its directory.
    /// Without one, git runs as root and trusts nothing but root's own repositories: git's
    /// ownership check is what keeps a checkout another account can write (its hooks, its
    /// `core.*` commands) from running code as root. [`Operation::plan`] refuses such a checkout
    /// before git is asked to do anything in it.
    fn git(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "runuser -u {u} -- env HOME=\"$(getent passwd {u} | cut -d: -f6)\" git -c safe.directory={d}",
                u = shell_quote(u),
                d = shell_quote(&self.dest)
            ),
            None => "git".to_string(),
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

    /// Refuses what git must not touch: no git on the host, a checkout another account owns
    /// while git would run as root, a destination that holds something else.
    fn refuse_unsafe(&self, fact: &Fact, checkout: &Checkout) -> Result<(), OpError> {
        if fact.get("git") == Some("missing") {
            return Err(OpError::invalid(
                &self.name(),
                "git is not installed on the host; install it first with ops::Apt::present([\"git\"]) before this operation",
            ));
        }
        let owner = &checkout.owner;
        if checkout.cloned && self.user.is_none() && owner != "root" {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is owned by {owner}, and git as root would run what that account wrote \
                     there (hooks, config); give .user(\"{owner}\") so git runs as {owner}, or \
                     give the checkout to root",
                    self.dest
                ),
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
        Ok(())
    }

    /// Where the wanted revision is, by the remote's word (or the commit given).
    fn wanted_commit(&self, fact: &Fact) -> Result<String, OpError> {
        if let Rev::Commit(c) = &self.rev {
            return Ok(c.clone());
        }
        if fact.bytes("remote_error").is_some() {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "cannot reach {}: {}",
                    self.repo,
                    fact_text(fact, "remote_error").trim()
                ),
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
            Some((sha, _)) if is_object_id(sha) => Ok(sha.to_string()),
            Some((sha, _)) => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} gave {sha:?} for {name}, which is not a commit hash",
                    self.repo
                ),
            )),
            None => Err(OpError::invalid(
                &self.name(),
                format!("{} has no {name}", self.repo),
            )),
        }
    }

    /// Cloning, or moving the checkout to `wanted` (fixing its remote, discarding local
    /// modifications), in words and as a script.
    fn change(&self, checkout: &Checkout, wanted: &str, at_wanted: bool) -> Change {
        let g = self.git();
        let d = shell_quote(&self.dest);
        let repo = shell_quote(&self.repo);
        let short = |s: &str| s.chars().take(10).collect::<String>();
        let mut lines = Vec::new();
        let mut words = Vec::new();
        if !checkout.cloned {
            words.push(format!("clone at {}", short(wanted)));
            lines.push(format!("mkdir -p -- {d}"));
            if let Some(u) = &self.user {
                lines.push(format!("chown {} -- {d}", shell_quote(u)));
            }
            lines.push(format!("{g} clone -q --no-checkout -- {repo} {d}"));
        } else {
            let url = &checkout.url;
            if *url != self.repo {
                words.push(format!("remote {url:?} → {}", self.repo));
                // `--replace-all`: `remote set-url` refuses a URL given more than once.
                lines.push(format!(
                    "{g} -C {d} config --replace-all remote.origin.url {repo}"
                ));
            }
            if !at_wanted {
                words.push(format!("{} → {}", short(&checkout.head), short(wanted)));
            }
            if !checkout.dirty.is_empty() {
                words.push(format!(
                    "discard local modifications ({})",
                    checkout.dirty.trim_end_matches(';')
                ));
            }
        }
        lines.push(format!("{g} -C {d} fetch -q --tags --force origin"));
        lines.push(self.checkout_command(wanted));
        Change::new(words.join(", "), Action::shell(lines.join("\n")))
    }

    /// The `git checkout` that puts the work tree at the wanted revision (on the branch, when a
    /// branch is wanted).
    fn checkout_command(&self, wanted: &str) -> String {
        let g = self.git();
        let d = shell_quote(&self.dest);
        match &self.rev {
            Rev::Branch(b) => format!(
                "{g} -C {d} checkout -q -f -B {} {}",
                shell_quote(b),
                shell_quote(&format!("origin/{b}"))
            ),
            Rev::Default => format!("{g} -C {d} checkout -q -f --detach {}", shell_quote(wanted)),
            Rev::Tag(t) => format!(
                "{g} -C {d} checkout -q -f --detach {}",
                shell_quote(&format!("refs/tags/{t}"))
            ),
            Rev::Commit(c) => format!("{g} -C {d} checkout -q -f --detach {}", shell_quote(c)),
        }
    }
}

/// The checkout on the host as the fact script found it (empty strings where there is none).
struct Checkout {
    cloned: bool,
    owner: String,
    head: String,
    url: String,
    branch: String,
    /// The first modified files, `;`-separated.
    dirty: String,
}

impl Checkout {
    fn read(fact: &Fact) -> Checkout {
        Checkout {
            cloned: fact.flag("cloned"),
            owner: fact_text(fact, "owner"),
            head: fact_text(fact, "head"),
            url: fact_text(fact, "url"),
            branch: fact_text(fact, "branch"),
            dirty: fact_text(fact, "dirty"),
        }
    }
}

/// A base64-encoded fact value as text (empty when absent).
fn fact_text(fact: &Fact, key: &str) -> String {
    fact.bytes(key)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
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

    /// What the checkout holds is written by its user (`.git/config`): every value read from it
    /// is printed base64-encoded (`key:b64=`), so no value can forge another fact line.
    fn fact_script(&self, _options: &FactOptions) -> String {
        let g = self.git();
        let d = shell_quote(&self.dest);
        let mut s = format!(
            "command -v git >/dev/null 2>&1 || {{ echo git=missing; exit 0; }}\n\
             dm_git_fact() {{ printf '%s:b64=' \"$1\"; printf '%s' \"$2\" | base64 -w0; echo; }}\n\
             if [ -d {d}/.git ]; then echo cloned=1\n\
               dm_git_fact owner \"$(stat -c %U -- {d}/.git 2>/dev/null)\"\n\
               dm_git_fact head \"$({g} -C {d} rev-parse HEAD 2>/dev/null)\"\n\
               dm_git_fact url \"$({g} -C {d} config --get remote.origin.url 2>/dev/null)\"\n\
               dm_git_fact branch \"$({g} -C {d} symbolic-ref -q --short HEAD 2>/dev/null)\"\n\
               dm_git_fact dirty \"$({g} -C {d} status --porcelain --untracked-files=no 2>/dev/null | head -n 5 | tr '\\n' ';')\"\n\
             elif [ -e {d} ] && [ -n \"$(ls -A {d} 2>/dev/null)\" ]; then echo occupied=1; fi\n"
        );
        if let Some(r) = self.remote_ref() {
            s.push_str(&format!(
                "if dm_r=$({g} ls-remote -- {repo} {r} {r}^{{}} 2>&1); then \
                 printf '%s\\n' \"$dm_r\" | while read -r sha ref; do printf 'remote=%s %s\\n' \"$sha\" \"$ref\"; done; \
                 else dm_git_fact remote_error \"$(printf '%s' \"$dm_r\" | tr '\\n' ' ')\"; fi\n",
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
        let checkout = Checkout::read(fact);
        self.refuse_unsafe(fact, &checkout)?;
        let wanted = self.wanted_commit(fact)?;
        let at_rev = !checkout.head.is_empty() && checkout.head.starts_with(&wanted);
        let on_branch = match &self.rev {
            Rev::Branch(b) => checkout.branch == *b,
            _ => true,
        };
        let dirty = checkout.dirty.as_str();
        if checkout.cloned && at_rev && on_branch && checkout.url == self.repo && dirty.is_empty() {
            return Ok(Plan::Ok);
        }
        if checkout.cloned && !dirty.is_empty() && !self.force {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} has local modifications ({}); commit or remove them, or use .force() to discard them",
                    self.dest,
                    dirty.trim_end_matches(';')
                ),
            ));
        }
        Ok(Plan::Change(self.change(
            &checkout,
            &wanted,
            at_rev && on_branch,
        )))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

/// Whether `text` is a full object id as `git ls-remote` prints it: 40 hex digits (SHA-1), or
/// 64 (SHA-256 repositories).
fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";

    fn plan(g: &Git, fact: &str) -> Result<Plan, OpError> {
        g.plan(&Fact::parse(fact), &mut Simulation::new())
    }

    /// A fact line as the fact script prints it: the value base64-encoded.
    fn encoded(key: &str, value: &str) -> String {
        let b64 = crate::operation::fact::tests_support::base64(value.as_bytes());
        format!("{key}:b64={b64}\n")
    }

    /// The facts of a root-owned checkout of /srv/repo.git on `main`.
    fn cloned(head: &str, dirty: &str) -> String {
        ["cloned=1\n".to_string()]
            .into_iter()
            .chain([
                encoded("owner", "root"),
                encoded("head", head),
                encoded("url", "/srv/repo.git"),
                encoded("branch", "main"),
                encoded("dirty", dirty),
            ])
            .collect()
    }

    fn checkout(head: &str, dirty: &str) -> String {
        format!("{}remote={SHA} refs/heads/main\n", cloned(head, dirty))
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
            "{}remote={OLD} refs/tags/v1\nremote={SHA} refs/tags/v1^{{}}\n",
            cloned(SHA, "")
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
        assert!(matches!(plan(&g, &cloned(SHA, "")), Ok(Plan::Ok)));
        let mut bad = Git::new("/srv/repo.git", "/srv/app").commit("xyz");
        assert!(bad.prepare(&super::super::TemplateVars::default()).is_err());
    }

    #[test]
    fn unreachable_remote_is_reported() {
        let g = Git::new("/srv/nothing.git", "/srv/app");
        let fact = encoded("remote_error", "fatal: not a git repository");
        let err = plan(&g, &fact).expect_err("unreachable");
        assert!(
            err.to_string().contains("cannot reach /srv/nothing.git"),
            "{err}"
        );
    }

    #[test]
    fn a_remote_url_with_a_newline_forges_no_fact() {
        let g = Git::new("/srv/repo.git", "/srv/app");
        let forged = "/srv/repo.git\nremote=$(id>/tmp/x) HEAD";
        let fact = format!(
            "cloned=1\n{}{}{}{}remote={SHA} HEAD\n",
            encoded("owner", "root"),
            encoded("head", OLD),
            encoded("url", forged),
            encoded("dirty", "")
        );
        let Ok(Plan::Change(c)) = plan(&g, &fact) else {
            panic!("expected a change")
        };
        assert!(
            c.action
                .script
                .ends_with(&format!("checkout -q -f --detach {SHA}")),
            "{}",
            c.action.script
        );
        assert!(!c.action.script.contains("$(id"), "{}", c.action.script);
    }

    #[test]
    fn a_remote_revision_that_is_no_hash_is_refused() {
        let g = Git::new("/srv/repo.git", "/srv/app");
        let fact = format!("{}remote=$(id>/tmp/x) HEAD\n", cloned(OLD, ""));
        let err = plan(&g, &fact).expect_err("not a hash");
        assert!(err.to_string().contains("not a commit hash"), "{err}");
    }

    #[test]
    fn root_refuses_a_checkout_another_account_owns() {
        let g = Git::new("/srv/repo.git", "/srv/app").branch("main");
        let fact = checkout(SHA, "").replace(&encoded("owner", "root"), &encoded("owner", "app"));
        let err = plan(&g, &fact).expect_err("owned by app");
        assert!(err.to_string().contains(".user(\"app\")"), "{err}");
        let g = g.user("app");
        assert!(matches!(plan(&g, &fact), Ok(Plan::Ok)));
        assert!(g.git().contains("safe.directory=/srv/app"), "{}", g.git());
        assert!(!g.git().contains('*'), "{}", g.git());
    }
}
