//! [`File`]: a file with this content, mode and owner (or no file at all).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::batch::INLINE_LIMIT;
use super::diff::{self, MAX_DIFF_BYTES};
use super::fact::{Fact, FileKind, FileStat, hex, sha256_hex};
use super::mode::ModeSpec;
use super::template::{RenderOptions, TemplateVars};
use super::{
    Action, Change, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation, check_path,
    notify_builder,
};
use crate::ctx::{removal_script, upload_script};
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
/// step.add(File::touch("/var/log/app.log").chmod("u=rw,g=r,o=").owner("www-data"));
/// # Ok(()) }
/// ```
///
/// A symbolic link at the path is replaced by the file (as Ansible's `copy` does by default);
/// dm never writes through it. An empty directory there is replaced only with
/// [`File::force`]; one with files in it is always an error.
///
/// # Coming from Ansible / pyinfra
/// Ansible's `copy` (`content` is [`File::bytes`], `src` is [`File::local`]) and `template`
/// ([`File::template`]; `trim_blocks`, `lstrip_blocks`, `newline_sequence` and Jinja's
/// `keep_trailing_newline` are the methods of those names), with `mode` ([`File::mode`] for
/// octal numbers, [`File::chmod`] for `"0644"` or `"u=rw,g=r,o=r"`), `owner`, `group`,
/// `backup` ([`File::backup`]) and `force` ([`File::force`], for an empty directory in the
/// way); the `file` module's `state: touch` is [`File::touch`] and `state: absent`
/// [`File::absent`]. Differences: `follow: yes` is not offered, on purpose: root writing
/// through a link lets whoever can change the link choose the file root writes (see
/// [`crate::ctx::Put`]); manage the link's target path itself, and the link with
/// [`super::Symlink`]. `validate` is not offered (use a reaction that checks and reloads).
/// `touch` does not update timestamps, so a second run changes nothing. A template's output
/// ends with as many newlines as the template, also when a block tag ends it (as Ansible).
/// pyinfra's `files.put`/`files.template`/`files.file(touch=True)` map the same way; its
/// `create_remote_dir` is always on.
pub struct File {
    path: String,
    source: Source,
    mode: Option<ModeSpec>,
    render: RenderOptions,
    backup: bool,
    force: bool,
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
    Touch,
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
    /// The content as the upload's input: the bytes, or the local file streamed.
    fn input(&self) -> Input {
        match (&self.bytes, &self.local) {
            (Some(b), _) => Input::Bytes(b.clone()),
            (None, Some(path)) => Input::File {
                path: path.clone(),
                size: self.size,
            },
            (None, None) => Input::Bytes(Arc::from(Vec::new())),
        }
    }

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
            render: RenderOptions::default(),
            backup: false,
            force: false,
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

    /// A file at `path`, created empty if missing; the content of an existing file is never
    /// touched, only its mode, owner and group. Unlike Ansible's `state: touch`, the timestamps
    /// are left alone, so a second run changes nothing.
    pub fn touch(path: &str) -> File {
        File::with_source(path, Source::Touch)
    }

    /// Permission bits, e.g. `0o640` (default: 0644 for a new file, unchanged for an existing
    /// one). A number that reads as a mode only in decimal (`.mode(644)`, `.mode(444)`) is
    /// refused before anything runs.
    pub fn mode(mut self, mode: u32) -> File {
        self.mode = Some(ModeSpec::Bits(mode));
        self
    }

    /// The mode in chmod's notation: octal text (`"0640"`) or symbolic clauses
    /// (`"u=rw,g=r,o="`, `"u+x"`, `"go-w"`), applied to the file's current mode (0644 for a
    /// new file). A clause without `u`, `g`, `o` or `a` means `a`, whatever the host's umask.
    pub fn chmod(mut self, mode: &str) -> File {
        self.mode = Some(ModeSpec::Symbolic(mode.to_string()));
        self
    }

    /// Before the file's content is replaced, the old file is kept next to it as
    /// `PATH.PID.YYYY-MM-DD@HH:MM:SS~` (a hard link: same owner, mode and bytes). Something
    /// else in the way (a directory, even with files in it, a link, a special file) is renamed
    /// to that name instead of being replaced or refused.
    pub fn backup(mut self) -> File {
        self.backup = true;
        self
    }

    /// Replaces an empty directory found at the path (a directory with something in it is
    /// always an error). Links and special files at the path are replaced without it.
    pub fn force(mut self) -> File {
        self.force = true;
        self
    }

    /// Templates: whether a block tag takes the newline after it (default: yes, as Ansible).
    pub fn trim_blocks(mut self, on: bool) -> File {
        self.render.trim_blocks = on;
        self
    }

    /// Templates: whether spaces and tabs before a block tag are dropped (default: no).
    pub fn lstrip_blocks(mut self, on: bool) -> File {
        self.render.lstrip_blocks = on;
        self
    }

    /// Templates: whether the output ends with as many newlines as the template (default:
    /// yes, as Ansible); off, one final newline is dropped, as plain Jinja does.
    pub fn keep_trailing_newline(mut self, on: bool) -> File {
        self.render.keep_trailing_newline = on;
        self
    }

    /// Templates: the line ending written, `"\n"` (default), `"\r\n"` or `"\r"`.
    pub fn newline_sequence(mut self, newline: &str) -> File {
        self.render.newline_sequence = newline.to_string();
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

    /// The shell fragment that removes the file, following no link planted on the way to it
    /// (see [`removal_script`]).
    fn removal(&self) -> Action {
        Action::shell(removal_script(&[&self.path], false))
    }

    /// The plan of `File::absent`: remove whatever file, link or node is at the path (a
    /// directory is another operation's business).
    fn plan_absent(&self, stat: &FileStat, sim: &mut Simulation) -> Result<Plan, OpError> {
        Ok(match stat.kind {
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
        })
    }

    /// What must go before the write: an empty directory replaced (forced), or a guard that the
    /// path a touch creates is still free (a file that appeared since is not emptied). An error
    /// when what is at the path cannot become the file.
    fn first_step(
        &self,
        fact: &Fact,
        stat: &FileStat,
        touch: bool,
    ) -> Result<Option<String>, OpError> {
        let q = shell_quote(&self.path);
        match stat.kind {
            // Moved aside before the upload (see write_script).
            FileKind::Dir if self.backup && !touch => Ok(None),
            FileKind::Dir if self.force && fact.flag("f.empty") && !touch => {
                Ok(Some(format!("rmdir -- {q}")))
            }
            FileKind::Dir => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is a directory on the host; a file cannot replace it ({})",
                    self.path,
                    if fact.flag("f.empty") && !touch {
                        "it is empty: .force() replaces it, .backup() moves it aside"
                    } else {
                        "remove it first, or move it aside with .backup()"
                    }
                ),
            )),
            FileKind::Link | FileKind::Other if touch => Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} is {}; File::touch does not follow or replace it",
                    self.path,
                    stat.kind.word()
                ),
            )),
            FileKind::Absent if touch => Ok(Some(format!(
                "if [ -e {q} ] || [ -L {q} ]; then echo {} >&2; exit 1; fi",
                shell_quote(&format!(
                    "{} appeared since dm read it; run again",
                    self.path
                ))
            ))),
            _ => Ok(None),
        }
    }

    /// Writing new content, in words: a file created (or replacing what is there), or new
    /// content with the mode, owner and group that change with it.
    fn describe_write(
        &self,
        stat: &FileStat,
        content: &Content,
        mode: u32,
        wanted_mode: Option<u32>,
        changes: &mut Vec<String>,
    ) {
        let exists = stat.kind == FileKind::File;
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
            return;
        }
        changes.push(format!(
            "content ({} → {} bytes)",
            stat.size.unwrap_or(0),
            content.size
        ));
        if let Some(m) = wanted_mode.filter(|&m| Some(m) != stat.mode) {
            changes.push(format!(
                "mode {} → {}",
                stat.mode.map(diff::mode).unwrap_or_default(),
                diff::mode(m)
            ));
        }
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

    /// The script that uploads the content (and first keeps what is there as a backup, when
    /// asked; said in `changes`).
    fn write_script(
        &self,
        stat: &FileStat,
        content: &Content,
        mode: u32,
        changes: &mut Vec<String>,
    ) -> String {
        let exists = stat.kind == FileKind::File;
        // Keep the current owner of an existing file unless one is asked for.
        let keep_owner = (exists && self.owner.is_none())
            .then(|| stat.uid.map(|u| u.to_string()))
            .flatten();
        let keep_group = (exists && self.group.is_none())
            .then(|| stat.gid.map(|g| g.to_string()))
            .flatten();
        let owner = self.owner.clone().or(keep_owner);
        let group = self.group.clone().or(keep_group);
        // Missing directories are made by the upload, as whoever may write there.
        let upload = upload_script(
            &self.path,
            content.size,
            mode,
            owner.as_deref(),
            group.as_deref(),
        );
        // Kept between the upload's functions (the backup decides who writes in the
        // directory the same way) and the upload itself.
        let keep = match stat.kind {
            _ if !self.backup => None,
            FileKind::File => Some((
                "old file kept as a backup".to_string(),
                super::line::backup_script(&self.path),
            )),
            FileKind::Absent => None,
            kind => Some((
                format!("{} moved aside as a backup", kind.word()),
                super::line::move_aside_script(&self.path),
            )),
        };
        match (keep, upload.rsplit_once('\n')) {
            (Some((what, keep)), Some((functions, put))) => {
                changes.push(what);
                format!("{functions}\n{keep}\n{put}")
            }
            _ => upload,
        }
    }
}

notify_builder!(File);

impl Operation for File {
    fn name(&self) -> String {
        format!("file {}", self.path)
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        check_path(&self.name(), &self.path)?;
        let bad_mode = |message: String| OpError::invalid(&self.name(), message);
        match &self.mode {
            Some(ModeSpec::Bits(mode)) => {
                ModeSpec::check_bits(*mode).map_err(bad_mode)?;
                // The sticky bit means nothing on a file: a mode with it was meant otherwise.
                if mode & 0o1000 != 0 {
                    return Err(bad_mode(format!(
                        "mode {mode:o} (octal) sets the sticky bit, which means nothing on a file; write modes in octal: .mode(0o{mode}) for {mode}"
                    )));
                }
            }
            Some(ModeSpec::Symbolic(text)) => {
                self.mode = Some(ModeSpec::parse(text).map_err(bad_mode)?);
            }
            None => {}
        }
        self.content = match &self.source {
            Source::Absent => None,
            Source::Touch => Some(Content::of_bytes(Arc::from(Vec::new()))),
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
                let rendered = vars.with(&self.vars).render_with(
                    &path.display().to_string(),
                    &text,
                    &self.render,
                )?;
                Some(Content::of_bytes(Arc::from(rendered.into_bytes())))
            }
            Source::TemplateStr { name, text } => {
                let rendered = vars
                    .with(&self.vars)
                    .render_with(name, text, &self.render)?;
                Some(Content::of_bytes(Arc::from(rendered.into_bytes())))
            }
        };
        Ok(())
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        let p = shell_quote(&self.path);
        let mut s = format!("dm_stat f {p}; dm_sha f {p}");
        if self.force || matches!(self.source, Source::Touch) {
            // Only when a directory is in the way: whether it is empty (`.force()` replaces it).
            s.push_str(&format!(
                "\nif [ -d {p} ] && [ ! -L {p} ] && [ -z \"$(ls -A -- {p} 2>/dev/null)\" ]; then echo f.empty=1; fi"
            ));
        }
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
            return self.plan_absent(&stat, sim);
        };
        let touch = matches!(self.source, Source::Touch);
        let before = self.first_step(fact, &stat, touch)?;
        let exists = stat.kind == FileKind::File;
        let wanted_mode = self
            .mode
            .as_ref()
            .map(|m| m.resolve(stat.mode.filter(|_| exists), false));
        // A touched file's content is whatever it is.
        let same_content =
            exists && (touch || stat.sha256.as_deref() == Some(content.sha256.as_str()));
        let mut changes = Vec::new();
        let (script, input) = if same_content {
            let mut lines = Vec::new();
            stat.attribute_changes(
                &shell_quote(&self.path),
                wanted_mode,
                self.owner.as_deref(),
                self.group.as_deref(),
                &mut changes,
                &mut lines,
            );
            if lines.is_empty() {
                return Ok(Plan::Ok);
            }
            (lines.join("\n"), None)
        } else {
            let mode = wanted_mode
                .or(stat.mode.filter(|_| exists))
                .unwrap_or(0o644);
            self.describe_write(&stat, content, mode, wanted_mode, &mut changes);
            let script = self.write_script(&stat, content, mode, &mut changes);
            (script, Some(content.input()))
        };
        let mut script = match before {
            Some(first) => format!("{first}\n{script}"),
            None => script,
        };
        if !same_content && self.is_unit_file() {
            script.push_str("\nsystemctl daemon-reload");
        }
        match &content.bytes {
            Some(b) if !(touch && exists) => sim.set_content(&self.path, b.to_vec()),
            _ => sim.forget_content(&self.path),
        }
        let diff = match (&content.bytes, same_content || touch) {
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
    fn decimal_looking_modes_are_refused_and_symbolic_modes_apply_to_the_current_mode() {
        for decimal in [444, 400, 644] {
            let mut f = File::bytes("/etc/motd", "x").mode(decimal);
            let err = f.prepare(&TemplateVars::default()).expect_err("decimal");
            assert!(err.to_string().contains(&format!("0o{decimal}")), "{err}");
        }
        let mut f = File::bytes("/etc/motd", "x").chmod("u=rw,x");
        assert!(f.prepare(&TemplateVars::default()).is_err());
        let sha = sha256_hex(b"hello\n");
        let f = prepared(File::bytes("/etc/motd", "hello\n").chmod("u=rw,g=r,o="));
        let Plan::Change(c) = plan(&f, &existing(&sha, "644")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mode 0644 → 0640");
        assert!(matches!(plan(&f, &existing(&sha, "640")), Plan::Ok));
        let f = prepared(File::bytes("/etc/motd", "hello\n").chmod("u+x"));
        assert!(matches!(plan(&f, &existing(&sha, "744")), Plan::Ok));
        let Plan::Change(c) = plan(&f, "f.type=absent\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "create (6 bytes, mode 0744)");
    }

    #[test]
    fn touch_creates_an_empty_file_and_never_touches_content() {
        let f = prepared(File::touch("/var/log/app.log").chmod("0640"));
        let Plan::Change(c) = plan(&f, "f.type=absent\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "create (0 bytes, mode 0640)");
        assert!(
            c.action
                .script
                .starts_with("if [ -e /var/log/app.log ] || [ -L /var/log/app.log ]")
        );
        assert!(matches!(plan(&f, &existing("abc", "640")), Plan::Ok));
        let Plan::Change(c) = plan(&f, &existing("abc", "644")) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mode 0644 → 0640");
        assert!(c.action.input.is_none());
        assert!(
            f.plan(
                &Fact::parse("f.type=link\nf.target=/x\n"),
                &mut Simulation::new()
            )
            .is_err()
        );
    }

    #[test]
    fn force_replaces_an_empty_directory_and_backup_keeps_the_old_file() {
        let f = prepared(File::bytes("/etc/motd", "hello\n"));
        let err = f
            .plan(&Fact::parse("f.type=dir\n"), &mut Simulation::new())
            .expect_err("refused");
        assert!(err.to_string().contains("remove it first"), "{err}");
        let aside = prepared(File::bytes("/etc/motd", "hello\n").backup());
        let Plan::Change(c) = plan(&aside, "f.type=dir\n") else {
            panic!("a directory is moved aside")
        };
        assert_eq!(
            c.description,
            "replace a directory with a file: create (6 bytes, mode 0644), a directory moved aside as a backup"
        );
        assert!(c.action.script.contains("mv -n -T -- motd"));
        let f = prepared(File::bytes("/etc/motd", "hello\n").force());
        assert!(
            f.fact_script(&FactOptions::default())
                .contains("echo f.empty=1")
        );
        let Plan::Change(c) = plan(&f, "f.type=dir\nf.empty=1\n") else {
            panic!("expected a change")
        };
        assert!(c.action.script.starts_with("rmdir -- /etc/motd\n"));
        assert!(
            f.plan(&Fact::parse("f.type=dir\n"), &mut Simulation::new())
                .is_err(),
            "a directory with files is never replaced"
        );
        let f = prepared(File::bytes("/etc/motd", "hello\n").backup());
        let Plan::Change(c) = plan(&f, &existing("abc", "644")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "content (6 → 6 bytes), old file kept as a backup"
        );
        assert!(c.action.script.contains("ln -P -- motd"));
        let Plan::Change(c) = plan(&f, "f.type=absent\n") else {
            panic!("expected a change")
        };
        assert!(!c.action.script.contains("ln -P"), "nothing to keep");
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
