//! Getting the repository onto the host: a bare mirror in `<app.path>/repo`, updated from a git
//! URL the host can reach, or from a local repository on the controller sent as a git bundle.
//!
//! Test and many production hosts cannot reach a git server, so a local `app.repo` (a directory
//! on the controller) is bundled locally and uploaded. The bundle holds only what the host's
//! mirror lacks (`git bundle create ... --not <the host's tips>`), so later deploys send just
//! the new commits; when nothing is new, nothing is sent.

use std::path::Path;

use dm_core::{Ctx, shell_quote};

use super::as_user::as_user;
use crate::app::AppConfig;

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// The tip of a branch.
    Branch(String),
    /// A tag.
    Tag(String),
    /// A commit (7 to 40 hex digits), reachable from a branch or tag of the repository.
    Commit(String),
}

impl Revision {
    /// The revision chosen by the command line: at most one of branch, tag and commit; else the
    /// app's branch.
    pub fn choose(
        app: &AppConfig,
        branch: Option<String>,
        tag: Option<String>,
        commit: Option<String>,
    ) -> anyhow::Result<Revision> {
        let revision = match (branch, tag, commit) {
            (None, None, None) => Revision::Branch(app.branch.clone()),
            (Some(b), None, None) => Revision::Branch(b),
            (None, Some(t), None) => Revision::Tag(t),
            (None, None, Some(c)) => Revision::Commit(c.to_ascii_lowercase()),
            _ => anyhow::bail!("give at most one of --branch, --tag and --commit"),
        };
        let (text, ok) = match &revision {
            Revision::Branch(r) | Revision::Tag(r) => (
                r,
                !r.is_empty()
                    && !r.starts_with('-')
                    && !r.contains(['\n', ' ', '\0', '~', '^', ':', '\\']),
            ),
            Revision::Commit(c) => (
                c,
                (7..=40).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit()),
            ),
        };
        anyhow::ensure!(
            ok,
            "`{text}` is not a valid branch, tag or commit (a commit is 7 to 40 hex digits)"
        );
        Ok(revision)
    }

    /// The expression `git rev-parse` resolves to the commit.
    pub fn rev_parse_arg(&self) -> String {
        match self {
            Revision::Branch(b) => format!("refs/heads/{b}^{{commit}}"),
            Revision::Tag(t) => format!("refs/tags/{t}^{{commit}}"),
            Revision::Commit(c) => format!("{c}^{{commit}}"),
        }
    }

    /// `branch main`, `tag v1.2`, `commit 3f2c1a9`.
    pub fn describe(&self) -> String {
        match self {
            Revision::Branch(b) => format!("branch {b}"),
            Revision::Tag(t) => format!("tag {t}"),
            Revision::Commit(c) => format!("commit {c}"),
        }
    }
}

/// The git command for the host's mirror, as the app user.
fn mirror_git(app: &AppConfig, args: &str) -> String {
    as_user(
        app.user(),
        &app.path(),
        &format!(
            "git -c safe.directory='*' --git-dir={} {args}",
            shell_quote(&app.mirror_dir())
        ),
    )
}

/// The refspecs a mirror fetches: every branch and tag, moved even when not fast-forward.
const REFSPECS: &str = "'+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'";

/// Brings the host's mirror up to date with `repo` (the `app.repo` value).
pub async fn update_mirror(ctx: &Ctx, app: &AppConfig, repo: &str) -> anyhow::Result<()> {
    let mirror = shell_quote(&app.mirror_dir());
    ctx.sudo(format!(
        "command -v git >/dev/null || {{ echo 'git is not installed on this host: run the appnode recipe (launch) first, or apt-get install git' >&2; exit 1; }}\n\
         [ -d {mirror} ] || {init}",
        init = as_user(
            app.user(),
            &app.path(),
                &format!("git init -q --bare {mirror}")
        )
    ))
    .quiet()
    .await?;
    if Path::new(repo).is_dir() {
        send_bundle(ctx, app, repo).await
    } else {
        ctx.sudo(mirror_git(
            app,
            &format!(
                "fetch -q --prune --force -- {} {REFSPECS}",
                shell_quote(repo)
            ),
        ))
        .quiet()
        .await
        .map_err(|e| anyhow::anyhow!("cannot fetch {repo} on {}: {e}", ctx.name()))?;
        Ok(())
    }
}

/// `sha refname` lines of `for-each-ref`, as pairs.
fn parse_refs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .filter(|(sha, _)| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(sha, name)| (sha.to_string(), name.to_string()))
        .collect()
}

/// How to bring the host's refs to the local ones: refs to send in a bundle, refs the host can
/// set itself (their object is already one of its tips: a bundle cannot carry a ref whose tip
/// it excludes), and the host's tips that the bundle leaves out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BundlePlan {
    pub(crate) send: Vec<String>,
    pub(crate) set_on_host: Vec<(String, String)>,
    pub(crate) exclude: Vec<String>,
}

/// Plans a bundle from the local refs, the host's refs, and the host tips known locally.
pub(crate) fn plan_bundle(
    local: &[(String, String)],
    host: &[(String, String)],
    known_tips: &[String],
) -> BundlePlan {
    let host_tips: Vec<&str> = host.iter().map(|(sha, _)| sha.as_str()).collect();
    let mut plan = BundlePlan::default();
    for (sha, name) in local {
        if host.iter().any(|(s, n)| s == sha && n == name) {
            continue;
        }
        if host_tips.contains(&sha.as_str()) {
            plan.set_on_host.push((name.clone(), sha.clone()));
        } else {
            plan.send.push(name.clone());
        }
    }
    for tip in known_tips {
        if !plan.exclude.contains(tip) {
            plan.exclude.push(tip.clone());
        }
    }
    plan
}

/// Bundles what the host's mirror lacks from the local repository `repo`, uploads it and
/// fetches it into the mirror.
async fn send_bundle(ctx: &Ctx, app: &AppConfig, repo: &str) -> anyhow::Result<()> {
    let local = shell_quote(repo);
    const REFS: &str = "for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags";
    let host_refs = parse_refs(
        &ctx.sudo(mirror_git(app, REFS))
            .quiet()
            .check_safe()
            .await?
            .stdout,
    );
    let local_refs = ctx
        .local(format!("git -C {local} {REFS}"))
        .quiet()
        .check_safe()
        .await
        .map_err(|e| anyhow::anyhow!("app.repo {repo} is not a readable git repository: {e}"))?;
    let local_refs = parse_refs(&local_refs.stdout);
    // The host's tips that the local repository knows: the bundle leaves out their history.
    let mut check = String::from("true");
    for (sha, _) in &host_refs {
        check.push_str(&format!(
            "; git -C {local} cat-file -e {sha}^{{commit}} 2>/dev/null && echo {sha}"
        ));
    }
    let known: Vec<String> = ctx
        .local(check)
        .quiet()
        .check_safe()
        .await?
        .stdout
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let plan = plan_bundle(&local_refs, &host_refs, &known);

    let private = private_bundle_dir(repo)?;
    let bundle = private
        .path()
        .join(format!("{}-{}.bundle", app.name, ctx.name()));
    let mut bundle_ok = false;
    if !plan.send.is_empty() {
        let bundle_arg = shell_quote(&bundle.to_string_lossy());
        let refs: Vec<String> = plan.send.iter().map(|r| shell_quote(r)).collect();
        let exclude: Vec<String> = plan.exclude.iter().map(|sha| format!("^{sha}")).collect();
        let made = ctx
            .local(format!(
                "git -C {local} bundle create -q {bundle_arg} {} {}",
                refs.join(" "),
                exclude.join(" ")
            ))
            .quiet()
            .allow_failure()
            .await?;
        // A ref moved back to a commit the host already has makes an empty bundle: its
        // objects are there, the update-ref below sets it.
        let empty = made.stderr.contains("empty bundle");
        if !made.success() && !empty {
            let _ = std::fs::remove_file(&bundle);
            anyhow::bail!(
                "cannot bundle the local repository {repo} (app.repo): {}",
                made.stderr.trim()
            );
        }
        bundle_ok = !empty;
    }
    if bundle_ok {
        let remote = format!("{}/.deploy-bundle", app.path());
        // Only the app user, who fetches it, reads it on the host.
        let sent = ctx
            .put(&bundle, &remote)
            .mode(0o600)
            .owner(app.user())
            .await;
        let _ = std::fs::remove_file(&bundle);
        sent?;
        let fetched = ctx
            .sudo(format!(
                "{}; status=$?; rm -f {}; exit $status",
                mirror_git(
                    app,
                    &format!("fetch -q --force {} {REFSPECS}", shell_quote(&remote))
                ),
                shell_quote(&remote)
            ))
            .quiet()
            .await;
        fetched.map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot fetch the bundle of {repo} into {}: {e}",
                ctx.name(),
                app.mirror_dir()
            )
        })?;
    }
    // Every changed ref is set explicitly: a bundle drops refs whose tips it excludes.
    let updates: Vec<String> = local_refs
        .iter()
        .filter(|(sha, name)| {
            plan.send.contains(name) || plan.set_on_host.contains(&(name.clone(), sha.clone()))
        })
        .map(|(sha, name)| mirror_git(app, &format!("update-ref {} {sha}", shell_quote(name))))
        .collect();
    if !updates.is_empty() {
        ctx.sudo(updates.join(" && ")).quiet().await.map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot update the refs of {}: {e}",
                ctx.name(),
                app.mirror_dir()
            )
        })?;
    }
    Ok(())
}

/// A directory of the bundle's own, mode 0700 (removed with everything in it when dropped): the
/// bundle is the app's source, which other accounts of this machine must not read, so it never
/// lies in the shared temporary directory itself.
fn private_bundle_dir(repo: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("dm-deploy-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot make a private temporary directory for the bundle of {repo}: {e}"
            )
        })
}

/// The full commit `revision` names in the host's mirror, or an error listing what exists.
pub async fn resolve(ctx: &Ctx, app: &AppConfig, revision: &Revision) -> anyhow::Result<String> {
    let out = ctx
        .sudo(mirror_git(
            app,
            &format!(
                "rev-parse -q --verify {}",
                shell_quote(&revision.rev_parse_arg())
            ),
        ))
        .quiet()
        .check_safe()
        .allow_failure()
        .await?;
    let sha = out.trimmed();
    if out.success() && sha.len() == 40 {
        return Ok(sha.to_string());
    }
    let refs = ctx
        .sudo(mirror_git(
            app,
            "for-each-ref --format='%(refname:short)' refs/heads refs/tags",
        ))
        .quiet()
        .check_safe()
        .allow_failure()
        .await?;
    let names: Vec<&str> = refs.stdout.split_whitespace().collect();
    anyhow::bail!(
        "{}: {} is not in the repository {} (branches and tags: {})",
        ctx.name(),
        revision.describe(),
        app.repo.as_deref().unwrap_or("?"),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_bundle_lies_in_a_directory_only_its_owner_can_enter() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_bundle_dir("/srv/repo").expect("private dir");
        let mode = std::fs::metadata(dir.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{:o}", mode & 0o777);
        assert_ne!(dir.path(), std::env::temp_dir());
    }

    #[test]
    fn one_revision_at_a_time() {
        let app = AppConfig::default();
        assert_eq!(
            Revision::choose(&app, None, None, None).expect("default"),
            Revision::Branch("main".into())
        );
        assert_eq!(
            Revision::choose(&app, None, None, Some("ABCDEF1".into())).expect("commit"),
            Revision::Commit("abcdef1".into())
        );
        assert!(Revision::choose(&app, Some("a".into()), Some("b".into()), None).is_err());
        assert!(Revision::choose(&app, None, None, Some("xyz".into())).is_err());
        assert!(Revision::choose(&app, Some("--upload-pack=x".into()), None, None).is_err());
        assert_eq!(
            Revision::Tag("v1".into()).rev_parse_arg(),
            "refs/tags/v1^{commit}"
        );
    }

    #[test]
    fn bundles_carry_only_what_the_host_lacks() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let r = |sha: &str, name: &str| (sha.to_string(), name.to_string());
        let host = vec![r(&a, "refs/heads/main")];
        // main moved to b; a new tag points at a commit the host has as a tip; feature is new.
        let local = vec![
            r(&b, "refs/heads/main"),
            r(&a, "refs/tags/v1"),
            r(&c, "refs/heads/feature"),
        ];
        let plan = plan_bundle(&local, &host, std::slice::from_ref(&a));
        assert_eq!(plan.send, vec!["refs/heads/main", "refs/heads/feature"]);
        assert_eq!(
            plan.set_on_host,
            vec![("refs/tags/v1".to_string(), a.clone())]
        );
        assert_eq!(plan.exclude, vec![a.clone()]);
        // Nothing new: nothing to send.
        let plan = plan_bundle(&host, &host, std::slice::from_ref(&a));
        assert_eq!(
            plan,
            BundlePlan {
                exclude: vec![a],
                ..BundlePlan::default()
            }
        );
    }
}
