//! [`Line`]: one line in a text file present, replaced, or absent.

use std::sync::Arc;

use regex::Regex;

use super::diff;
use super::fact::{Fact, FileKind, sha256_hex};
use super::{
    Action, Change, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::upload_script_with;
use crate::quote::shell_quote;

/// Files larger than this are not edited line by line (their content travels to be edited).
const MAX_EDIT_BYTES: u64 = 4 * 1024 * 1024;

/// A line in a text file: present (appended, or replacing the last line that matches a
/// pattern) or absent (every matching line removed).
///
/// The file keeps its mode and owner. Several line operations on one file in a step are planned
/// on each other's results and applied together. If the file changes between reading its facts
/// and applying, the operation fails instead of overwriting the other change.
///
/// Patterns are Rust regular expressions (the `regex` crate), matched against each line without
/// its line ending.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Line;
/// let mut step = ctx.step();
/// step.add(
///     Line::present("/etc/ssh/sshd_config", "PasswordAuthentication no")
///         .matching(r"^#?\s*PasswordAuthentication\s")
///         .notify("reload-sshd"),
/// );
/// step.add(Line::present("/etc/hosts", "10.0.0.5 db").create());
/// step.add(Line::absent("/etc/fstab", r"\s/mnt/old\s"));
/// # Ok(()) }
/// ```
pub struct Line {
    path: String,
    line: Option<String>,
    pattern: Option<String>,
    regex: Option<Regex>,
    create: bool,
    notify: Vec<String>,
}

impl Line {
    /// `line` is in the file at `path` (appended if missing).
    pub fn present(path: &str, line: &str) -> Line {
        Line {
            path: path.to_string(),
            line: Some(line.to_string()),
            pattern: None,
            regex: None,
            create: false,
            notify: Vec::new(),
        }
    }

    /// No line of the file at `path` matches `pattern` (matching lines are removed).
    pub fn absent(path: &str, pattern: &str) -> Line {
        Line {
            path: path.to_string(),
            line: None,
            pattern: Some(pattern.to_string()),
            regex: None,
            create: false,
            notify: Vec::new(),
        }
    }

    /// The last line matching `pattern` is replaced by the line; the line is appended only when
    /// no line matches. Make the pattern match the new line too, so a second run finds it.
    pub fn matching(mut self, pattern: &str) -> Line {
        self.pattern = Some(pattern.to_string());
        self
    }

    /// Creates the file (mode 0644) if it does not exist; without this a missing file is an
    /// error.
    pub fn create(mut self) -> Line {
        self.create = true;
        self
    }

    /// The new content for `old`, or `None` when nothing changes, with a description.
    fn edit(&self, old: &str) -> Option<(String, String)> {
        let mut lines: Vec<&str> = old.lines().collect();
        let matches = |l: &str| match (&self.regex, &self.line) {
            (Some(re), _) => re.is_match(l),
            (None, Some(wanted)) => l == wanted,
            (None, None) => false,
        };
        let description;
        match &self.line {
            None => {
                let before = lines.len();
                lines.retain(|l| !matches(l));
                let removed = before - lines.len();
                if removed == 0 {
                    return None;
                }
                description = format!(
                    "remove {removed} line{} matching `{}`",
                    if removed == 1 { "" } else { "s" },
                    self.pattern.as_deref().unwrap_or_default()
                );
            }
            Some(wanted) => match lines.iter().rposition(|l| matches(l)) {
                Some(i) if lines[i] == wanted => return None,
                Some(i) => {
                    description = format!("line {}: `{}` → `{wanted}`", i + 1, lines[i]);
                    lines[i] = wanted;
                }
                None if lines.iter().any(|l| l == wanted) => return None,
                None => {
                    description = format!("append `{wanted}`");
                    lines.push(wanted);
                }
            },
        }
        let mut new = lines.join("\n");
        if !new.is_empty() {
            new.push('\n');
        }
        Some((new, description))
    }
}

notify_builder!(Line);

impl Operation for Line {
    fn name(&self) -> String {
        match (&self.line, &self.pattern) {
            (Some(l), _) => format!("line in {}: {l}", self.path),
            (None, Some(p)) => format!("no line in {} matching {p}", self.path),
            (None, None) => format!("line in {}", self.path),
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.path)?;
        if let Some(l) = &self.line
            && l.contains('\n')
        {
            return Err(OpError::invalid(
                &self.name(),
                "the line contains a newline",
            ));
        }
        if let Some(p) = &self.pattern {
            self.regex =
                Some(Regex::new(p).map_err(|e| {
                    OpError::invalid(&self.name(), format!("bad pattern `{p}`: {e}"))
                })?);
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let p = shell_quote(&self.path);
        format!(
            "dm_stat f {p}; dm_sha f {p}\n\
             if [ -f {p} ] && [ \"$(stat -c %s {p})\" -le {MAX_EDIT_BYTES} ]; then dm_b64 content {p}; fi"
        )
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.path.clone())]
    }

    fn follows_predictions(&self) -> bool {
        true
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("f");
        let predicted = sim.content(&self.path).map(<[u8]>::to_vec);
        let (old, existed) = match (&predicted, stat.kind) {
            (Some(p), _) => (p.clone(), true),
            (None, FileKind::File) => match fact.bytes("content") {
                Some(b) => (b.to_vec(), true),
                None => {
                    return Err(OpError::invalid(
                        &self.name(),
                        format!(
                            "{} is larger than {} MiB; edit it with a template instead",
                            self.path,
                            MAX_EDIT_BYTES >> 20
                        ),
                    ));
                }
            },
            (None, FileKind::Absent) if self.create || self.line.is_none() => (Vec::new(), false),
            (None, FileKind::Absent) => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} does not exist; add .create() or write it with ops::File first",
                        self.path
                    ),
                ));
            }
            (None, kind) => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!("{} is {}, not a text file", self.path, kind.word()),
                ));
            }
        };
        let Ok(text) = String::from_utf8(old.clone()) else {
            return Err(OpError::invalid(
                &self.name(),
                format!("{} is not a UTF-8 text file", self.path),
            ));
        };
        let Some((new, description)) = self.edit(&text) else {
            return Ok(Plan::Ok);
        };
        // The file must still be what was planned on; then it is replaced keeping its mode
        // and owner (a new file gets 0644, root).
        let p = shell_quote(&self.path);
        let guard = if existed {
            format!(
                "[ \"$(sha256sum < {p} | cut -c1-64)\" = {} ] || {{ echo \"{} changed since dm read it; run again\" >&2; exit 1; }}",
                sha256_hex(&old),
                self.path.replace(['"', '$', '`', '\\'], "_")
            )
        } else {
            format!(
                "[ ! -e {p} ] || {{ echo \"{} appeared since dm read it; run again\" >&2; exit 1; }}",
                self.path.replace(['"', '$', '`', '\\'], "_")
            )
        };
        // Replaced keeping its mode and owner (a new file gets 0644, root), through the same
        // upload as files: never through a link, never by a predictable temporary name. A file
        // an earlier operation of the step writes is described on the host when it is edited.
        let attributes = match (stat.kind, existed) {
            (FileKind::File, _) => format!(
                "set -- {:o} {} {}",
                stat.mode.unwrap_or(0o644),
                stat.uid.map(|u| u.to_string()).unwrap_or_default(),
                stat.gid.map(|g| g.to_string()).unwrap_or_default()
            ),
            (_, true) => format!(
                "if [ -L {p} ]; then echo \"{} is a symbolic link; dm does not edit through links\" >&2; exit 1; fi\n\
                 set -- $(stat -c '%a %u %g' -- {p} 2>/dev/null || echo 644 0 0)",
                self.path.replace(['"', '$', '`', '\\'], "_")
            ),
            (_, false) => "set -- 644 0 0".to_string(),
        };
        let script = format!(
            "{guard}\n{attributes}\n{}",
            upload_script_with(&self.path, new.len() as u64, "\"$1\"", "\"$2\"", "\"$3\"")
        );
        let diff = diff::unified(
            &self.path,
            existed.then_some(old.as_slice()),
            new.as_bytes(),
        );
        sim.set_content(&self.path, new.clone().into_bytes());
        Ok(Plan::Change(
            Change::new(
                description,
                Action::with_input(script, Input::Bytes(Arc::from(new.into_bytes()))),
            )
            .with_diff(Some(diff)),
        ))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(mut l: Line) -> Line {
        l.prepare(&super::super::TemplateVars::default())
            .expect("prepares");
        l
    }

    fn fact_of(content: &str) -> Fact {
        let b64 = super::super::fact::tests_support::base64(content.as_bytes());
        Fact::parse(&format!("f.type=file\nf.mode=644\ncontent:b64={b64}\n"))
    }

    fn change(l: &Line, content: &str) -> Option<Change> {
        match l
            .plan(&fact_of(content), &mut Simulation::new())
            .expect("plans")
        {
            Plan::Ok => None,
            Plan::Change(c) => Some(c),
        }
    }

    #[test]
    fn missing_line_is_appended_and_present_line_is_ok() {
        let l = prepared(Line::present("/etc/hosts", "10.0.0.5 db"));
        let c = change(&l, "127.0.0.1 localhost").expect("change");
        assert_eq!(c.description, "append `10.0.0.5 db`");
        assert!(
            c.diff
                .as_deref()
                .unwrap_or_default()
                .contains("+10.0.0.5 db")
        );
        assert!(change(&l, "127.0.0.1 localhost\n10.0.0.5 db\n").is_none());
    }

    #[test]
    fn the_last_matching_line_is_replaced() {
        let l = prepared(
            Line::present("/etc/ssh/sshd_config", "PasswordAuthentication no")
                .matching(r"^#?\s*PasswordAuthentication\s"),
        );
        let c = change(
            &l,
            "#PasswordAuthentication yes\nPort 22\nPasswordAuthentication yes\n",
        )
        .expect("change");
        assert_eq!(
            c.description,
            "line 3: `PasswordAuthentication yes` → `PasswordAuthentication no`"
        );
        assert_eq!(
            c.diff.as_deref(),
            Some(
                "--- a/etc/ssh/sshd_config\n+++ b/etc/ssh/sshd_config\n@@ -1,3 +1,3 @@\n \
                 #PasswordAuthentication yes\n Port 22\n-PasswordAuthentication yes\n+PasswordAuthentication no\n"
            )
        );
        assert!(change(&l, "PasswordAuthentication no\n").is_none());
    }

    #[test]
    fn absent_removes_every_matching_line() {
        let l = prepared(Line::absent("/etc/fstab", r"/mnt/old"));
        let c = change(&l, "a\n/dev/x /mnt/old ext4\nb\n/dev/y /mnt/old xfs\n").expect("change");
        assert_eq!(c.description, "remove 2 lines matching `/mnt/old`");
        assert!(change(&l, "a\nb\n").is_none());
    }

    #[test]
    fn a_second_edit_of_the_same_file_plans_on_the_first() {
        let a = prepared(Line::present("/etc/x", "one"));
        let b = prepared(Line::present("/etc/x", "two"));
        let mut sim = Simulation::new();
        let fact = fact_of("zero\n");
        assert!(matches!(a.plan(&fact, &mut sim), Ok(Plan::Change(_))));
        let Ok(Plan::Change(c)) = b.plan(&fact, &mut sim) else {
            panic!("expected a change")
        };
        // The guard expects the content the first edit writes.
        assert!(c.action.script.contains(&sha256_hex(b"zero\none\n")));
        assert_eq!(sim.content("/etc/x"), Some(&b"zero\none\ntwo\n"[..]));
    }

    #[test]
    fn a_missing_file_needs_create_and_bad_patterns_are_refused() {
        let l = prepared(Line::present("/etc/new", "x"));
        assert!(
            l.plan(&Fact::parse("f.type=absent\n"), &mut Simulation::new())
                .is_err()
        );
        let l = prepared(Line::present("/etc/new", "x").create());
        let Ok(Plan::Change(c)) = l.plan(&Fact::parse("f.type=absent\n"), &mut Simulation::new())
        else {
            panic!("expected a change")
        };
        assert!(c.action.script.starts_with("[ ! -e /etc/new ]"));
        let mut bad = Line::absent("/etc/x", "(");
        assert!(bad.prepare(&super::super::TemplateVars::default()).is_err());
    }

    #[test]
    fn the_apply_script_writes_the_new_content_keeping_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("conf");
        std::fs::write(&path, "a\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let l = prepared(Line::present(path.to_str().expect("utf8"), "b"));
        // The mode the facts report is kept.
        let fact = Fact::parse(&format!(
            "f.type=file\nf.mode=600\ncontent:b64={}\n",
            super::super::fact::tests_support::base64(b"a\n")
        ));
        let Plan::Change(c) = l.plan(&fact, &mut Simulation::new()).expect("plans") else {
            panic!("change")
        };
        let Some(Input::Bytes(input)) = &c.action.input else {
            panic!("input")
        };
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -e\n{}", c.action.script))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\nb\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
