//! [`File`]: a file with this content, mode and owner (or no file at all).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::batch::INLINE_LIMIT;
use super::diff::{self, MAX_DIFF_BYTES};
use super::fact::{Fact, FileKind, hex, sha256_hex};
use super::template::TemplateVars;
use super::{
    Action, Change, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::upload_script;
use crate::quote::shell_quote;

/// A file on the host with the given content, mode, owner and group.
///
/// The content comes from bytes, a local file, or a template rendered with the host's
/// variables. Only a SHA-256 of the host's file travels to compare: unchanged content, however
/// large, is not sent. A changed file is written atomically (temporary file, then rename). A
/// file under a systemd unit directory that changes is followed by `systemctl daemon-reload`.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::File;
/// let mut step = ctx.step();
/// step.add(File::bytes("/etc/motd", "Welcome\n").mode(0o644));
/// step.add(File::local("/usr/local/bin/app", "build/app").mode(0o755).owner("root"));
/// step.add(
///     File::template("/etc/nginx/sites-enabled/app", "templates/site.conf.j2")
///         .var("port", 8080)
///         .notify("reload-nginx"),
/// );
/// step.add(File::absent("/etc/nginx/sites-enabled/default"));
/// # Ok(()) }
/// ```
pub struct File {
    path: String,
    source: Source,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
    vars: Map<String, Value>,
    notify: Vec<String>,
    content: Option<Content>,
}

enum Source {
    Bytes(Arc<[u8]>),
    Local(PathBuf),
    Template(PathBuf),
    TemplateStr { name: String, text: String },
    Absent,
}

/// Prepared content: its hash, size, and the bytes (or the local file, when large).
struct Content {
    sha256: String,
    size: u64,
    bytes: Option<Arc<[u8]>>,
    local: Option<PathBuf>,
}

impl Content {
    fn of_bytes(bytes: Arc<[u8]>) -> Content {
        Content {
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            bytes: Some(bytes),
            local: None,
        }
    }
}

/// Directories whose files are systemd units: a change there needs `systemctl daemon-reload`.
const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system/",
    "/run/systemd/system/",
    "/lib/systemd/system/",
    "/usr/lib/systemd/system/",
];

impl File {
    fn with_source(path: &str, source: Source) -> File {
        File {
            path: path.to_string(),
            source,
            mode: None,
            owner: None,
            group: None,
            vars: Map::new(),
            notify: Vec::new(),
            content: None,
        }
    }

    /// A file at `path` with exactly these bytes.
    pub fn bytes(path: &str, content: impl Into<Vec<u8>>) -> File {
        File::with_source(path, Source::Bytes(Arc::from(content.into())))
    }

    /// A file at `path` with the content of the local file `local` (relative paths start at
    /// the inventory's directory; read when the step is applied; large files are streamed, not
    /// held in memory).
    pub fn local(path: &str, local: impl Into<PathBuf>) -> File {
        File::with_source(path, Source::Local(local.into()))
    }

    /// A file at `path` rendered from the minijinja template file `template` (relative paths
    /// start at the inventory's directory). See [`crate::operation`] for the variables.
    pub fn template(path: &str, template: impl Into<PathBuf>) -> File {
        File::with_source(path, Source::Template(template.into()))
    }

    /// A file at `path` rendered from template source `text`, called `name` in errors.
    pub fn template_str(path: &str, name: &str, text: &str) -> File {
        File::with_source(
            path,
            Source::TemplateStr {
                name: name.to_string(),
                text: text.to_string(),
            },
        )
    }

    /// No file at `path` (removed if there is one).
    pub fn absent(path: &str) -> File {
        File::with_source(path, Source::Absent)
    }

    /// Permission bits, e.g. `0o640` (default: 0644 for a new file, unchanged for an existing
    /// one).
    pub fn mode(mut self, mode: u32) -> File {
        self.mode = Some(mode);
        self
    }

    /// Owner, by name or uid.
    pub fn owner(mut self, user: &str) -> File {
        self.owner = Some(user.to_string());
        self
    }

    /// Group, by name or gid.
    pub fn group(mut self, group: &str) -> File {
        self.group = Some(group.to_string());
        self
    }

    /// A template variable for this file only (wins over every other source).
    pub fn var(mut self, name: &str, value: impl serde::Serialize) -> File {
        self.vars.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// The path on the host.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn is_unit_file(&self) -> bool {
        UNIT_DIRS.iter().any(|d| self.path.starts_with(d))
    }

    fn prepare_local(&self, path: &PathBuf) -> Result<Content, OpError> {
        let local_err = |source| OpError::LocalFile {
            host: String::new(),
            op: self.name(),
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(local_err)?.len();
        if size <= INLINE_LIMIT {
            let bytes: Arc<[u8]> = Arc::from(std::fs::read(path).map_err(local_err)?);
            return Ok(Content::of_bytes(bytes));
        }
        // Large: hash while streaming, keep only the path.
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let mut file = std::fs::File::open(path).map_err(local_err)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(local_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Content {
            sha256: hex(&hasher.finalize()),
            size,
            bytes: None,
            local: Some(path.clone()),
        })
    }

    /// The shell fragment that removes the file.
    fn removal(&self) -> Action {
        Action::shell(format!("rm -f -- {}", shell_quote(&self.path)))
    }
}

notify_builder!(File);

impl Operation for File {
    fn name(&self) -> String {
        format!("file {}", self.path)
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.path)?;
        // Decimal 512..1023 (e.g. 644 for 0o644) sets the sticky bit, which means nothing on a
        // file: almost surely a mode written in decimal.
        if let Some(mode) = self.mode
            && (mode > 0o7777 || mode & 0o1000 != 0)
        {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "mode {mode:o} (octal) is not a file mode; write modes in octal: .mode(0o{mode}) for {mode}"
                ),
            ));
        }
        self.content = match &self.source {
            Source::Absent => None,
            Source::Bytes(b) => Some(Content::of_bytes(b.clone())),
            Source::Local(path) => Some(self.prepare_local(&vars.resolve(path))?),
            Source::Template(path) => {
                let full = vars.resolve(path);
                let text = std::fs::read_to_string(&full).map_err(|source| OpError::LocalFile {
                    host: String::new(),
                    op: self.name(),
                    path: full.clone(),
                    source,
                })?;
                let rendered = vars
                    .with(&self.vars)
                    .render(&path.display().to_string(), &text)?;
                Some(Content::of_bytes(Arc::from(rendered.into_bytes())))
            }
            Source::TemplateStr { name, text } => {
                let rendered = vars.with(&self.vars).render(name, text)?;
                Some(Content::of_bytes(Arc::from(rendered.into_bytes())))
            }
        };
        Ok(())
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        let p = shell_quote(&self.path);
        let mut s = format!("dm_stat f {p}; dm_sha f {p}");
        if let (true, Some(content)) = (options.diff, &self.content) {
            s.push_str(&format!(
                "\nif [ -f {p} ] && [ ! -L {p} ] && [ \"$(stat -c %s {p})\" -le {MAX_DIFF_BYTES} ] \
                 && [ \"$(sha256sum < {p} | cut -c1-64)\" != {sha} ]; then dm_b64 old {p}; fi",
                sha = content.sha256
            ));
        }
        s
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.path.clone())]
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("f");
        let Some(content) = &self.content else {
            return Ok(match stat.kind {
                FileKind::Absent => Plan::Ok,
                FileKind::Dir => {
                    return Err(OpError::invalid(
                        &self.name(),
                        format!(
                            "{} is a directory; remove it with ops::Directory::new(..).absent()",
                            self.path
                        ),
                    ));
                }
                kind => {
                    sim.forget_content(&self.path);
                    Plan::Change(Change::new(
                        format!("remove {}", kind.word()),
                        self.removal(),
                    ))
                }
            });
        };
        if stat.kind == FileKind::Dir {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is a directory on the host; a file cannot replace it (remove it first)",
                    self.path
                ),
            ));
        }
        let exists = stat.kind == FileKind::File;
        let same_content = exists && stat.sha256.as_deref() == Some(content.sha256.as_str());
        let mut changes = Vec::new();
        let q = shell_quote(&self.path);
        let script;
        let mut input = None;
        if !same_content {
            let mode = self.mode.or(stat.mode.filter(|_| exists)).unwrap_or(0o644);
            if !exists {
                let mut what = format!("create ({} bytes, mode {}", content.size, diff::mode(mode));
                if let Some(o) = &self.owner {
                    what.push_str(&format!(", owner {o}"));
                }
                if let Some(g) = &self.group {
                    what.push_str(&format!(", group {g}"));
                }
                what.push(')');
                if stat.kind != FileKind::Absent {
                    what = format!("replace {} with a file: {what}", stat.kind.word());
                }
                changes.push(what);
            } else {
                changes.push(format!(
                    "content ({} → {} bytes)",
                    stat.size.unwrap_or(0),
                    content.size
                ));
                if let Some(m) = self.mode.filter(|&m| Some(m) != stat.mode) {
                    changes.push(format!(
                        "mode {} → {}",
                        stat.mode.map(diff::mode).unwrap_or_default(),
                        diff::mode(m)
                    ));
                }
            }
            // Keep the current owner of an existing file unless one is asked for.
            let keep_owner = (exists && self.owner.is_none())
                .then(|| stat.uid.map(|u| u.to_string()))
                .flatten();
            let keep_group = (exists && self.group.is_none())
                .then(|| stat.gid.map(|g| g.to_string()))
                .flatten();
            let owner = self.owner.clone().or(keep_owner);
            let group = self.group.clone().or(keep_group);
            if exists {
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
            }
            // Missing directories are made by the upload, as whoever may write there.
            script = upload_script(
                &self.path,
                content.size,
                mode,
                owner.as_deref(),
                group.as_deref(),
            );
            input = Some(match (&content.bytes, &content.local) {
                (Some(b), _) => Input::Bytes(b.clone()),
                (None, Some(path)) => Input::File {
                    path: path.clone(),
                    size: content.size,
                },
                (None, None) => Input::Bytes(Arc::from(Vec::new())),
            });
        } else {
            let mut lines = Vec::new();
            stat.attribute_changes(
                &q,
                self.mode,
                self.owner.as_deref(),
                self.group.as_deref(),
                &mut changes,
                &mut lines,
            );
            if lines.is_empty() {
                return Ok(Plan::Ok);
            }
            script = lines.join("\n");
        }
        let mut script = script;
        if !same_content && self.is_unit_file() {
            script.push_str("\nsystemctl daemon-reload");
        }
        match &content.bytes {
            Some(b) => sim.set_content(&self.path, b.to_vec()),
            None => sim.forget_content(&self.path),
        }
        let diff = match (&content.bytes, same_content) {
            (Some(new), false) if stat.kind == FileKind::Absent => {
                Some(diff::unified(&self.path, None, new))
            }
            (Some(new), false) => fact
                .bytes("old")
                .map(|old| diff::unified(&self.path, Some(old), new)),
            _ => None,
        };
        Ok(Plan::Change(
            Change::new(
                changes.join(", "),
                Action {
                    script,
                    input,
                    apt: None,
                },
            )
            .with_diff(diff),
        ))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(mut f: File) -> File {
        f.prepare(&TemplateVars::default()).expect("prepares");
        f
    }

    fn plan(f: &File, fact: &str) -> Plan {
        f.plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
    }

    fn existing(sha: &str, mode: &str) -> String {
        format!(
            "f.type=file\nf.mode={mode}\nf.uid=0\nf.user=root\nf.gid=0\nf.group=root\nf.size=6\nf.sha256={sha}\n"
        )
    }

    #[test]
    fn same_content_and_mode_is_ok() {
        let f = prepared(File::bytes("/etc/motd", "hello\n").mode(0o644));
        let sha = sha256_hex(b"hello\n");
        assert!(matches!(plan(&f, &existing(&sha, "644")), Plan::Ok));
    }

    #[test]
    fn a_new_file_is_created_with_a_diff_from_nothing() {
        let f = prepared(File::bytes("/etc/motd", "hello\n").owner("www-data"));
        let Plan::Change(c) = plan(&f, "f.type=absent\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "create (6 bytes, mode 0644, owner www-data)");
        assert!(c.diff.as_deref().unwrap_or_default().contains("+hello"));
        assert!(
            c.action
                .script
                .ends_with("\ndm_put /etc motd 6 644 www-data '' motd"),
            "{}",
            c.action.script
        );
        assert_eq!(c.action.input.map(|i| i.len()), Some(6));
    }

    #[test]
    fn changed_content_uploads_and_diffs_against_the_old_content() {
        let f = prepared(File::bytes("/etc/motd", "hello\n"));
        let fact = format!("{}old:b64=aGVsbG8gd29ybGQK\n", existing("abc", "600"));
        let Plan::Change(c) = plan(&f, &fact) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "content (6 → 6 bytes)");
        assert_eq!(
            c.diff.as_deref(),
            Some("--- a/etc/motd\n+++ b/etc/motd\n@@ -1 +1 @@\n-hello world\n+hello\n")
        );
        // An existing file keeps its mode and owner unless asked otherwise.
        assert!(
            c.action
                .script
                .ends_with("\ndm_put /etc motd 6 600 0 0 motd"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn only_metadata_changes_without_sending_content() {
        let f = prepared(File::bytes("/etc/motd", "hello\n").mode(0o600).group("adm"));
        let sha = sha256_hex(b"hello\n");
        let Plan::Change(c) = plan(&f, &existing(&sha, "644")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mode 0644 → 0600, group root → adm");
        assert!(c.action.input.is_none());
        assert_eq!(
            c.action.script,
            "if [ -L /etc/motd ]; then echo /etc/motd' is now a symbolic link; dm does not follow links: remove it and run again' >&2; exit 1; fi\n\
             chmod 600 -- /etc/motd\nchgrp -h adm -- /etc/motd"
        );
    }

    #[test]
    fn absent_removes_a_file_and_refuses_a_directory() {
        let f = prepared(File::absent("/etc/x"));
        assert!(matches!(plan(&f, "f.type=absent\n"), Plan::Ok));
        let Plan::Change(c) = plan(&f, "f.type=file\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "remove a file");
        assert!(
            f.plan(&Fact::parse("f.type=dir\n"), &mut Simulation::new())
                .is_err()
        );
    }

    #[test]
    fn unit_files_reload_systemd_when_they_change() {
        let f = prepared(File::bytes("/etc/systemd/system/app.service", "[Unit]\n"));
        let Plan::Change(c) = plan(&f, "f.type=absent\n") else {
            panic!("expected a change")
        };
        assert!(c.action.script.ends_with("systemctl daemon-reload"));
    }

    #[test]
    fn relative_paths_and_bad_modes_are_refused_before_anything_runs() {
        let mut f = File::bytes("etc/motd", "x");
        let err = f.prepare(&TemplateVars::default()).expect_err("relative");
        assert!(err.to_string().contains("not an absolute path"), "{err}");
        let mut f = File::bytes("/etc/motd", "x").mode(644);
        assert!(f.prepare(&TemplateVars::default()).is_err());
    }

    #[test]
    fn diff_mode_asks_for_the_old_content_only_when_it_differs() {
        let f = prepared(File::bytes("/etc/motd", "hello\n"));
        let with = f.fact_script(&FactOptions { diff: true });
        assert!(with.contains(&sha256_hex(b"hello\n")) && with.contains("dm_b64 old"));
        let without = f.fact_script(&FactOptions { diff: false });
        assert!(!without.contains("dm_b64"));
    }
}
