//! Gathering the facts of many operations in one command.
//!
//! Every operation's read-only fact script runs in its own subshell, after a marker line naming
//! its index; the output is cut at the markers. One command, one round trip, however many
//! operations the step has.

use super::Operation;
use super::error::OpError;
use super::fact::{Fact, HELPERS};
use super::shell::{self, Data, Effect, RunAs};
use super::simulation::Resource;
use crate::ctx::Ctx;
use crate::quote::shell_quote;

/// At most this many paths are prefetched: the helpers' lookups scan the prefetched text.
const MAX_PREFETCH: usize = 256;

/// The paths `ops` read and change: what the gathering command prefetches (see
/// [`HELPERS`]).
pub(crate) fn paths_of<'a>(ops: impl Iterator<Item = &'a dyn Operation>) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for resource in ops.flat_map(|op| op.resources()) {
        if let Resource::Path(p) = resource
            && prefetchable(&p)
            && !paths.contains(&p)
            && paths.len() < MAX_PREFETCH
        {
            paths.push(p);
        }
    }
    paths
}

/// Whether `dm_prefetch` can take `path`: its stat and `sha256sum --tag` lines must be found
/// again by their exact start, which control characters, backslashes (escaped by `sha256sum`),
/// `|` (the stat line's separator) and `) = ` (the `--tag` separator) would make ambiguous.
fn prefetchable(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(") = ")
        && !path
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == '|')
}

/// The script printing the facts of `scripts`, each after `TOKEN INDEX`, then `TOKEN end`;
/// `paths` (from [`paths_of`]) are stat'ed and hashed up front in one command each.
pub(crate) fn script(token: &str, scripts: &[String], paths: &[String]) -> String {
    let mut s = format!("T='{token}'\n{HELPERS}");
    let plain: Vec<String> = paths
        .iter()
        .filter(|p| prefetchable(p))
        .map(|p| shell_quote(p))
        .collect();
    if !plain.is_empty() {
        s.push_str(&format!("dm_prefetch {}\n", plain.join(" ")));
    }
    for (i, body) in scripts.iter().enumerate() {
        s.push_str(&format!(
            "printf '\\n%s %s\\n' \"$T\" {i}\n( {body}\n) </dev/null 2>/dev/null\n"
        ));
    }
    s.push_str("printf '\\n%s end\\n' \"$T\"\n");
    s
}

/// Cuts the output at the markers: one fact per script, or `None` when the output stopped
/// before the end marker.
pub(crate) fn parse(token: &str, count: usize, stdout: &str) -> Option<Vec<Fact>> {
    let mut sections = vec![String::new(); count];
    let mut current: Option<usize> = None;
    let mut ended = false;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(token).and_then(|r| r.strip_prefix(' ')) {
            if rest == "end" {
                ended = true;
                break;
            }
            current = rest.parse().ok().filter(|&i| i < count);
            continue;
        }
        if let Some(i) = current {
            sections[i].push_str(line);
            sections[i].push('\n');
        }
    }
    ended.then(|| sections.iter().map(|s| Fact::parse(s)).collect())
}

/// Runs the fact scripts on the host, as `run_as`, in one command and returns their facts in
/// order; `paths` are prefetched (see [`paths_of`]).
pub(crate) async fn gather(
    ctx: &Ctx,
    run_as: RunAs,
    scripts: &[String],
    paths: &[String],
) -> Result<Vec<Fact>, OpError> {
    let token = shell::token();
    let script = script(&token, scripts, paths);
    let label = format!(
        "[gather facts of {} operation{}]",
        scripts.len(),
        if scripts.len() == 1 { "" } else { "s" }
    );
    let out =
        shell::run_script(ctx, run_as, &script, Data::None, &label, Effect::ReadsOnly).await?;
    match parse(&token, scripts.len(), &out.stdout) {
        Some(facts) if out.success() => Ok(facts),
        _ => Err(OpError::Incomplete {
            host: ctx.name().to_string(),
            what: "gathering facts".to_string(),
            status: out.status.to_string(),
            stderr: out.stderr,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_gets_its_own_fact_even_when_one_fails() {
        let token = "@@dm-test";
        let scripts = vec![
            "echo a=1; printf 'no newline=x'".to_string(),
            "echo b=2; false; exit 7".to_string(),
            "cat; echo c=3".to_string(),
        ];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(token, &scripts, &[]))
            .output()
            .expect("sh");
        assert!(out.status.success());
        let facts = parse(token, 3, &String::from_utf8_lossy(&out.stdout)).expect("complete");
        assert_eq!(facts[0].get("a"), Some("1"));
        assert_eq!(facts[0].get("no newline"), None);
        assert_eq!(facts[1].get("b"), Some("2"));
        assert_eq!(facts[2].get("c"), Some("3"), "stdin is /dev/null");
    }

    /// Paths of every kind, plain and awkward, for the prefetch tests.
    fn awkward_tree(dir: &std::path::Path) -> Vec<String> {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
        std::fs::create_dir(dir.join("d")).expect("dir");
        std::fs::write(dir.join("f"), b"content\n").expect("file");
        std::fs::write(dir.join("empty"), b"").expect("empty file");
        std::fs::write(dir.join("with space (1)"), b"x").expect("file with space");
        std::fs::write(dir.join("x) = y"), b"tag separator").expect("file with ) = ");
        std::fs::write(dir.join("new\nline"), b"newline").expect("file with newline");
        std::fs::write(dir.join("back\\slash"), b"backslash").expect("file with backslash");
        std::fs::write(dir.join("pi|pe"), b"pipe").expect("file with a pipe");
        std::fs::set_permissions(dir.join("f"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        symlink(dir.join("f"), dir.join("link")).expect("symlink");
        let names = [
            "d",
            "f",
            "empty",
            "with space (1)",
            "x) = y",
            "new\nline",
            "back\\slash",
            "pi|pe",
            "link",
            "absent",
        ];
        names.iter().map(|n| p(n)).collect()
    }

    /// Runs the gathering script of `dm_stat`/`dm_sha` on `paths` with `shell`, prefetching
    /// `prefetch`, with `stat` and `sha256sum` counted through wrappers; returns the facts and
    /// how many processes of the two were started.
    fn gather_locally(
        shell: &str,
        paths: &[String],
        prefetch: &[String],
        bin: &std::path::Path,
    ) -> (Vec<Fact>, usize) {
        let token = "@@dm-prefetch-test";
        let scripts: Vec<String> = paths
            .iter()
            .map(|p| format!("dm_stat x {q}; dm_sha x {q}", q = shell_quote(p)))
            .collect();
        let log = bin.join("calls");
        let _ = std::fs::remove_file(&log);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(shell)
            .arg("-c")
            .arg(script(token, &scripts, prefetch))
            .env("PATH", path)
            .output()
            .expect("shell runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let facts = parse(token, scripts.len(), &String::from_utf8_lossy(&out.stdout))
            .expect("complete output");
        let calls = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        (facts, calls)
    }

    /// `stat` and `sha256sum` wrappers that log each call, then run the real program.
    fn counting_wrappers(dir: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        for program in ["stat", "sha256sum"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(program))
                .find(|p| p.exists())
                .expect("coreutils installed");
            let wrapper = dir.join(program);
            std::fs::write(
                &wrapper,
                format!(
                    "#!/bin/sh\necho {program} >> '{}'\nexec {} \"$@\"\n",
                    dir.join("calls").display(),
                    real.display()
                ),
            )
            .expect("wrapper");
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
                .expect("chmod wrapper");
        }
    }

    #[test]
    fn prefetched_facts_equal_facts_read_one_by_one_in_sh_and_bash() {
        let tree = tempfile::tempdir().expect("tempdir");
        let bin = tempfile::tempdir().expect("tempdir");
        counting_wrappers(bin.path());
        let paths = awkward_tree(tree.path());
        let prefetch: Vec<String> = paths.iter().filter(|p| prefetchable(p)).cloned().collect();
        assert_eq!(
            prefetch.len(),
            paths.len() - 4,
            "newline, backslash, `|` and `) = ` are not prefetched"
        );
        for shell in ["sh", "bash"] {
            let (one_by_one, slow_calls) = gather_locally(shell, &paths, &[], bin.path());
            let (prefetched, fast_calls) = gather_locally(shell, &paths, &prefetch, bin.path());
            assert_eq!(
                prefetched, one_by_one,
                "{shell}: same facts with and without prefetch"
            );
            assert_eq!(one_by_one[1].get("x.mode"), Some("640"));
            assert_eq!(one_by_one[1].get("x.type"), Some("file"));
            assert_eq!(one_by_one[8].get("x.type"), Some("link"));
            assert_eq!(one_by_one[9].get("x.type"), Some("absent"));
            assert_eq!(
                one_by_one[1].get("x.sha256").map(str::len),
                Some(64),
                "{shell}: a file's hash"
            );
            // One by one: a stat per present path (9) and a hash per regular file (7).
            assert_eq!(slow_calls, 16, "{shell}");
            // Prefetched: one stat, one sha256sum, and the four awkward files one by one.
            assert_eq!(fast_calls, 2 + 4 * 2, "{shell}");
        }
    }

    #[test]
    fn paths_are_prefetched_once_and_only_plain_ones() {
        assert!(prefetchable("/srv/app/with space (1)"));
        assert!(!prefetchable("/srv/a) = b"));
        assert!(!prefetchable("/srv/a\nb"));
        assert!(!prefetchable("/srv/a\\b"));
        assert!(!prefetchable("/srv/a|b"));
        assert!(!prefetchable(""));
        let s = script("@@t", &[], &["/a b".to_string(), "/c\nd".to_string()]);
        assert!(s.contains("dm_prefetch '/a b'\n"), "{s}");
        assert!(!script("@@t", &[], &[]).contains("dm_prefetch "));
    }

    #[test]
    fn output_cut_short_is_not_a_fact() {
        assert!(parse("@@t", 1, "@@t 0\na=1\n").is_none());
        let facts = parse("@@t", 1, "@@t 0\na=1\n@@t end\n").expect("complete");
        assert_eq!(facts[0].get("a"), Some("1"));
    }
}
