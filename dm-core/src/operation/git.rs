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
/// already there costs no fetch. A branch, tag or commit that does not exist is said to not
/// exist when the facts are read, before anything changes (check mode says so too): a commit
/// the checkout does not hold is looked up on the remote in a temporary repository, fetching
/// only that commit object where the remote allows it. Local modifications of tracked files
/// stop the operation unless [`Git::force`] discards them. git itself must be installed on the
/// host: the operation does not install it (add `ops::Apt::present(["git"])` before it).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Git;
/// let mut step = ctx.step();
/// step.add(Git::new("https://example.invalid/shop.git", "/srv/shop").branch("main").user("deploy"));
/// step.add(Git::new("/srv/mirror/tools.git", "/opt/tools").tag("v1.4.0"));
/// step.add(Git::new("/srv/mirror/lib.git", "/opt/lib").commit("3f2c1a9").force());
/// step.add(Git::new("https://example.invalid/big.git", "/opt/big").tag("v2.0").depth(1));
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `git` module: `repo` and `dest` are [`Git::new`]'s arguments; `version` is
/// [`Git::branch`], [`Git::tag`] or [`Git::commit`] (dm asks which one you mean, so a branch
/// named like a hash is never taken for one); `depth` is [`Git::depth`]; `force` is
/// [`Git::force`]; `become_user` is [`Git::user`]. pyinfra's `git.repo` maps the same way (its
/// `branch` is [`Git::branch`], its `user` is [`Git::user`]). Differences, on purpose: dm does
/// not install git (Ansible's module does not either) and does not pull with a merge or
/// rebase (the checkout is moved to the remote's revision, as Ansible's `update: yes`;
/// pyinfra's `rebase` is not offered: a deployment tracks the remote, local commits are not
/// kept). `update: no`, `bare`, `separate_git_dir`, submodules, `refspec`, `archive`, and
/// Ansible's `accept_hostkey` / pyinfra's `ssh_keyscan` are not offered (record the remote's
/// host key in `known_hosts` yourself: trusting whatever key answers first is what SSH's
/// host key check exists to refuse). A checkout another
/// account owns is refused as root (git would run what that account wrote into `.git`);
/// Ansible runs git there anyway. With a depth, every fetch is shallow too, so a full checkout
/// given `.depth(1)` becomes shallow at its next change, as with Ansible's `depth`.
pub struct Git {
    repo: String,
    dest: String,
    rev: Rev,
    user: Option<String>,
    force: bool,
    depth: Option<u32>,
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
            depth: None,
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

    /// A shallow checkout: only the last `commits` commits of the wanted revision's history are
    /// fetched (Ansible's `depth`; at least 1). Only the wanted branch, tag or commit is
    /// fetched, not every branch and tag. Give the remote as a URL (`file:///srv/repo.git`
    /// rather than `/srv/repo.git`) for a repository on the host itself: git makes no shallow
    /// copy of a plain local path.
    pub fn depth(mut self, commits: u32) -> Git {
        self.depth = Some(commits);
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
        let runner = &checkout.runner;
        if checkout.cloned && self.user.is_none() && owner != runner {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is owned by {owner}, and git as {runner} would run what that account wrote \
                     there (hooks, config); give .user(\"{owner}\") so git runs as {owner}, or \
                     give the checkout to {runner}",
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

    /// Where the wanted revision is, by the remote's word (or, for a commit, the full hash
    /// the checkout or the remote knows it by). A revision that does not exist is an error
    /// here, before anything changes.
    fn wanted_commit(&self, fact: &Fact) -> Result<String, OpError> {
        if let Rev::Commit(c) = &self.rev {
            return self.resolved_commit(fact, c);
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
                format!(
                    "{} does not exist in {} (git ls-remote lists no {name}); nothing was changed",
                    match &self.rev {
                        Rev::Branch(b) => format!("branch `{b}`"),
                        Rev::Tag(t) => format!("tag `{t}`"),
                        _ => "a default branch (HEAD)".to_string(),
                    },
                    self.repo
                ),
            )),
        }
    }

    /// The full hash of the wanted commit `c`, as the fact script found it in the checkout or
    /// on the remote.
    fn resolved_commit(&self, fact: &Fact, c: &str) -> Result<String, OpError> {
        let found = fact_text(fact, "commit");
        if is_object_id(&found) && found.starts_with(c) {
            return Ok(found);
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
        if fact.flag("commit_missing") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "commit {c} does not exist in {} (nor in {}): no branch or tag there \
                     holds a commit by that hash{}; nothing was changed",
                    self.repo,
                    self.dest,
                    if c.len() < 40 {
                        ", or the abbreviation is ambiguous"
                    } else {
                        ""
                    }
                ),
            ));
        }
        // Facts from before this version of dm, or a probe that printed nothing: as before,
        // the commit as given.
        Ok(c.to_string())
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
            words.push(match self.depth {
                Some(n) => format!("shallow clone (depth {n}) at {}", short(wanted)),
                None => format!("clone at {}", short(wanted)),
            });
            lines.push(format!("mkdir -p -- {d}"));
            if let Some(u) = &self.user {
                lines.push(format!("chown {} -- {d}", shell_quote(u)));
            }
            if self.depth.is_some() {
                // `clone --depth` would fetch the default branch first; only the wanted
                // revision is fetched below.
                lines.push(format!("{g} init -q -- {d}"));
                lines.push(format!("{g} -C {d} remote add origin {repo}"));
            } else {
                lines.push(format!("{g} clone -q --no-checkout -- {repo} {d}"));
            }
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
        lines.push(self.fetch_command(wanted));
        lines.push(self.checkout_command(wanted));
        Change::new(words.join(", "), Action::shell(lines.join("\n")))
    }

    /// The `git fetch` that brings the wanted revision: every branch and tag, or with a depth
    /// only the wanted one, shallow. A wanted commit no branch or tag reaches is fetched by its
    /// hash.
    fn fetch_command(&self, wanted: &str) -> String {
        let g = self.git();
        let d = shell_quote(&self.dest);
        let Some(depth) = self.depth else {
            let all = format!("{g} -C {d} fetch -q --tags --force origin");
            return match &self.rev {
                Rev::Commit(_) => format!(
                    "{all}\n{g} -C {d} cat-file -e {c} 2>/dev/null || {g} -C {d} fetch -q origin {w}",
                    c = shell_quote(&format!("{wanted}^{{commit}}")),
                    w = shell_quote(wanted)
                ),
                _ => all,
            };
        };
        let refspec = match &self.rev {
            Rev::Default => "HEAD".to_string(),
            Rev::Branch(b) => format!("+refs/heads/{b}:refs/remotes/origin/{b}"),
            Rev::Tag(t) => format!("+refs/tags/{t}:refs/tags/{t}"),
            Rev::Commit(_) => wanted.to_string(),
        };
        format!(
            "{g} -C {d} fetch -q --depth {depth} --force origin {}",
            shell_quote(&refspec)
        )
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
            Rev::Commit(_) => format!("{g} -C {d} checkout -q -f --detach {}", shell_quote(wanted)),
        }
    }
}

impl Git {
    /// The fact script's part that finds the wanted commit `c`: `commit` (its full hash) when
    /// the checkout holds it; else the remote is asked in a temporary repository: by the full
    /// hash, only that commit object is fetched (`tree:0` leaves its files behind), which most
    /// remotes allow; for an abbreviation, or a remote that refuses a commit no branch points
    /// at, every branch and tag without their files. When the remote has no such commit,
    /// `commit_missing=1`; when it cannot be reached, `remote_error`. When the temporary
    /// repository cannot be made (as [`Git::user`] in a step that is not root), nothing is
    /// said and the commit is planned as given. The temporary repository is removed; the
    /// checkout is never written.
    fn commit_fact_script(&self, c: &str) -> String {
        let g = self.git();
        let d = shell_quote(&self.dest);
        let repo = shell_quote(&self.repo);
        let want = shell_quote(&format!("{c}^{{commit}}"));
        let every_ref = format!(
            "{g} -C \"$dm_t\" fetch -q --filter=tree:0 -- {repo} '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'"
        );
        let probe = if matches!(c.len(), 40 | 64) {
            format!(
                "dm_e=$({g} -C \"$dm_t\" fetch -q --depth=1 --filter=tree:0 -- {repo} {} 2>&1) || dm_e=$({every_ref} 2>&1)",
                shell_quote(c)
            )
        } else {
            format!("dm_e=$({every_ref} 2>&1)")
        };
        let chown = match &self.user {
            Some(u) => format!("chown {} -- \"$dm_t\" && ", shell_quote(u)),
            None => String::new(),
        };
        format!(
            "dm_c=\n\
             if [ -d {d}/.git ]; then dm_c=$({g} -C {d} rev-parse -q --verify {want} 2>/dev/null); fi\n\
             if [ -z \"$dm_c\" ] && dm_t=$(mktemp -d); then\n\
               if ! {{ {chown}{g} -C \"$dm_t\" init -q --bare; }} >/dev/null 2>&1; then :\n\
               elif {probe}; then\n\
                 dm_c=$({g} -C \"$dm_t\" rev-parse -q --verify {want} 2>/dev/null) || echo commit_missing=1\n\
               else dm_git_fact remote_error \"$(printf '%s' \"$dm_e\" | tr '\\n' ' ')\"; fi\n\
               rm -rf -- \"$dm_t\"\n\
             fi\n\
             dm_git_fact commit \"$dm_c\"\n"
        )
    }
}

/// The checkout on the host as the fact script found it (empty strings where there is none).
struct Checkout {
    cloned: bool,
    owner: String,
    /// The account the step's scripts run as (root, or the login user), who runs git unless
    /// [`Git::user`] names another.
    runner: String,
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
            runner: Some(fact_text(fact, "runner"))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "root".to_string()),
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
        if self.depth == Some(0) {
            return Err(OpError::invalid(
                &self.name(),
                ".depth(0) fetches no commit; give 1 or more, or leave depth out for the whole history",
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
               dm_git_fact runner \"$(id -un)\"\n\
               dm_git_fact head \"$({g} -C {d} rev-parse HEAD 2>/dev/null)\"\n\
               dm_git_fact url \"$({g} -C {d} config --get remote.origin.url 2>/dev/null)\"\n\
               dm_git_fact branch \"$({g} -C {d} symbolic-ref -q --short HEAD 2>/dev/null)\"\n\
               dm_git_fact dirty \"$({g} -C {d} status --porcelain --untracked-files=no 2>/dev/null | head -n 5 | tr '\\n' ';')\"\n\
             elif [ -e {d} ] && [ -n \"$(ls -A {d} 2>/dev/null)\" ]; then echo occupied=1; fi\n"
        );
        if let Rev::Commit(c) = &self.rev {
            s.push_str(&self.commit_fact_script(c));
        }
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
    fn a_missing_commit_or_branch_is_an_error_before_anything_changes() {
        let g = Git::new("/srv/repo.git", "/srv/app").commit(SHA);
        let err = plan(&g, "commit_missing=1\n").expect_err("missing");
        assert!(
            err.to_string()
                .contains(&format!("commit {SHA} does not exist in /srv/repo.git")),
            "{err}"
        );
        let g = Git::new("/srv/repo.git", "/srv/app").branch("nope");
        let err = plan(&g, &format!("remote={SHA} refs/heads/main\n")).expect_err("no branch");
        assert!(
            err.to_string()
                .contains("branch `nope` does not exist in /srv/repo.git"),
            "{err}"
        );
    }

    #[test]
    fn an_abbreviated_commit_is_checked_out_by_the_full_hash_found() {
        let g = Git::new("/srv/repo.git", "/srv/app").commit("1111111");
        let Ok(Plan::Change(c)) = plan(&g, &encoded("commit", SHA)) else {
            panic!("expected a change")
        };
        assert!(
            c.action
                .script
                .ends_with(&format!("checkout -q -f --detach {SHA}")),
            "{}",
            c.action.script
        );
        // A hash the probe printed that is not the one asked for is not taken.
        let Ok(Plan::Change(c)) = plan(&g, &encoded("commit", OLD)) else {
            panic!("expected a change")
        };
        assert!(
            c.action.script.ends_with("--detach 1111111"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn a_shallow_clone_fetches_only_the_wanted_revision() {
        let g = Git::new("file:///srv/repo.git", "/srv/app")
            .branch("main")
            .depth(1);
        let Ok(Plan::Change(c)) = plan(&g, &format!("remote={SHA} refs/heads/main\n")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "shallow clone (depth 1) at 1111111111");
        assert!(!c.action.script.contains(" clone "), "{}", c.action.script);
        assert!(
            c.action.script.contains(
                "fetch -q --depth 1 --force origin +refs/heads/main:refs/remotes/origin/main"
            ),
            "{}",
            c.action.script
        );
        let mut zero = Git::new("/srv/repo.git", "/srv/app").depth(0);
        assert!(
            zero.prepare(&super::super::TemplateVars::default())
                .is_err()
        );
    }

    /// Runs `g`'s fact script with sh on this machine and parses it.
    fn local_fact(g: &Git) -> Fact {
        local_fact_with(g, &[])
    }

    /// [`local_fact`] with environment variables (git configuration through `GIT_CONFIG_*`).
    fn local_fact_with(g: &Git, env: &[(&str, &str)]) -> Fact {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(g.fact_script(&FactOptions::default()))
            .envs(env.iter().copied())
            .output()
            .expect("sh");
        Fact::parse(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn the_fact_script_finds_a_commit_on_the_remote_without_a_checkout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let sh = |script: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .expect("sh");
            assert!(out.status.success(), "{script}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        sh(&format!(
            "cd {d} && git init -q -b main work && cd work && for i in 1 2; do echo $i > f; git add f; \
             git -c user.name=t -c user.email=t@t commit -qm c$i; done && git clone -q --bare . ../origin.git"
        ));
        let first = sh(&format!("git -C {d}/origin.git rev-parse main~1"));
        let origin = format!("file://{d}/origin.git");
        let dest = format!("{d}/checkout");
        for asked in [first.clone(), first[..9].to_string()] {
            let fact = local_fact(&Git::new(&origin, &dest).commit(&asked));
            assert_eq!(fact_text(&fact, "commit"), first, "{fact:?}");
        }
        for missing in ["1234567890123456789012345678901234567890", "1234567"] {
            let fact = local_fact(&Git::new(&origin, &dest).commit(missing));
            assert!(fact.flag("commit_missing"), "{missing}: {fact:?}");
        }
        // Protocol version 0 refuses a commit no branch points at: every branch is fetched.
        let v0 = [
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "protocol.version"),
            ("GIT_CONFIG_VALUE_0", "0"),
        ];
        let fact = local_fact_with(&Git::new(&origin, &dest).commit(&first), &v0);
        assert_eq!(fact_text(&fact, "commit"), first, "{fact:?}");
        let fact = local_fact(&Git::new(&format!("{d}/nothing.git"), &dest).commit(&first));
        assert!(fact.bytes("remote_error").is_some(), "{fact:?}");
        assert!(!std::path::Path::new(&dest).exists(), "the facts wrote");
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

    #[test]
    fn as_the_login_user_git_works_in_that_users_checkout_only() {
        let g = Git::new("/srv/repo.git", "/home/solo/app").branch("main");
        let own = checkout(SHA, "").replace(&encoded("owner", "root"), &encoded("owner", "solo"))
            + &encoded("runner", "solo");
        assert!(matches!(plan(&g, &own), Ok(Plan::Ok)));
        let roots = checkout(SHA, "") + &encoded("runner", "solo");
        let err = plan(&g, &roots).expect_err("owned by root, run as solo");
        assert!(err.to_string().contains("git as solo"), "{err}");
    }
}
