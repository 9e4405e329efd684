//! [`Line`]: one line in a text file present, replaced, or absent.

use std::sync::Arc;

use regex::{Captures, Regex};

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

/// A line in a text file: present (inserted, or replacing the line that matches a pattern) or
/// absent (every matching line removed).
///
/// The file keeps its mode and owner, and its line endings: a file written with CRLF gets
/// CRLF on the lines dm writes, and the other lines are left byte for byte. Several line
/// operations on one file in a step are planned on each other's results and applied together.
/// If the file changes between reading its facts and applying, the operation fails instead of
/// overwriting the other change.
///
/// Patterns are Rust regular expressions (the `regex` crate), matched anywhere in each line
/// without its line ending (anchor them with `^` and `$`), or plain text with
/// [`Line::literal`]. An empty pattern is refused: it would match every line.
///
/// Where the line goes when nothing matches: at the end (default), at the start
/// ([`Line::at_start`]), or after or before the last line matching another pattern
/// ([`Line::insert_after`], [`Line::insert_before`]; [`Line::first_match`] takes the first).
///
/// A pattern that does not match the line itself (`^#Port` for `Port 22`) would select one more
/// commented line on every run; dm takes a file that already has the wanted line as converged,
/// so several matching lines settle in one run and a second run changes nothing.
///
/// A file whose last line has no line ending gets one when dm writes or finds the wanted line
/// there (as Ansible does); other lines are not touched.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Line;
/// let mut step = ctx.step();
/// step.add(
///     Line::present("/etc/ssh/sshd_config", "PasswordAuthentication no")
///         .matching(r"^#?\s*PasswordAuthentication\s")
///         .insert_after(r"^#?\s*PubkeyAuthentication\s")
///         .backup()
///         .notify("reload-sshd"),
/// );
/// step.add(Line::present("/etc/hosts", "10.0.0.5 db").create());
/// step.add(Line::present("/etc/default/grub", r#"GRUB_CMDLINE_LINUX="\1 quiet""#)
///     .matching(r#"^GRUB_CMDLINE_LINUX="(.*?)(?: quiet)?"$"#)
///     .backrefs());
/// step.add(Line::absent("/etc/fstab", " /mnt/old ").literal());
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `lineinfile`: `line` + `regexp` is `Line::present(path, line).matching(regexp)`,
/// `search_string` is `.matching(text).literal()`, `insertafter`/`insertbefore` are
/// [`Line::insert_after`]/[`Line::insert_before`] (`BOF` is [`Line::at_start`], `EOF` the
/// default), `firstmatch` is [`Line::first_match`], `backrefs` is [`Line::backrefs`] (with
/// Python's `\1` and `\g<name>`), `backup` is [`Line::backup`], `create` is [`Line::create`]
/// (the file is made 0644 and owned by the step's account, root unless
/// [`Step::as_login_user`](super::Step::as_login_user), with its missing directories), `state=absent` is
/// [`Line::absent`]. Differences: regular expressions are Rust's (no look-around), an exact
/// copy of the line anywhere in the file counts as present when the pattern does not match the
/// line itself (see above), and `validate` is not offered (use a reaction that checks and
/// reloads). pyinfra's `files.line(path, line, replace=...)`: its `line` is the pattern here
/// and its `replace` the line; `escape_regex_characters` is [`Line::literal`], `backup` is
/// [`Line::backup`]; pyinfra replaces every matching line, dm the last (or first) one, as
/// Ansible does.
pub struct Line {
    path: String,
    line: Option<String>,
    pattern: Option<String>,
    regex: Option<Regex>,
    literal: bool,
    backrefs: bool,
    first_match: bool,
    insert: Insert,
    insert_regex: Option<Regex>,
    backup: bool,
    create: bool,
    notify: Vec<String>,
}

/// Where a present line goes when no line matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Insert {
    End,
    Start,
    After(String),
    Before(String),
}

/// One line of a file: its text and its line ending (`\n`, `\r\n`, or none for an unterminated
/// last line), so that a file is rebuilt byte for byte except where it is edited.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TextLine<'a> {
    text: std::borrow::Cow<'a, str>,
    ending: &'a str,
}

/// The lines of `text`, each with its own line ending.
fn split_lines(text: &str) -> Vec<TextLine<'_>> {
    text.split_inclusive('\n')
        .map(|piece| {
            let (body, ending) = if let Some(b) = piece.strip_suffix("\r\n") {
                (b, &piece[b.len()..])
            } else if let Some(b) = piece.strip_suffix('\n') {
                (b, &piece[b.len()..])
            } else {
                (piece, "")
            };
            TextLine {
                text: std::borrow::Cow::Borrowed(body),
                ending,
            }
        })
        .collect()
}

/// The line ending the file uses: that of its first line (`\n` for a file without one).
fn newline_style<'a>(lines: &[TextLine<'a>]) -> &'a str {
    lines
        .iter()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .unwrap_or("\n")
}

/// `template` with Python's (Ansible's) backreferences replaced from `caps`: `\1`..`\99`,
/// `\g<1>`, `\g<name>`, and `\\` for a backslash. Any other backslash is kept as it is.
fn expand_backrefs(template: &str, caps: &Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('\\') {
            out.push('\\');
            rest = stripped;
        } else if let Some(group) = after.strip_prefix("g<").and_then(|g| g.split_once('>')) {
            let (name, tail) = group;
            let value = match name.parse::<usize>() {
                Ok(n) => caps.get(n),
                Err(_) => caps.name(name),
            };
            out.push_str(value.map(|m| m.as_str()).unwrap_or_default());
            rest = tail;
        } else {
            // `\0` is not a group in Python's templates: it is kept as written.
            let digits = if after.starts_with(|c: char| ('1'..='9').contains(&c)) {
                after.bytes().take(2).take_while(u8::is_ascii_digit).count()
            } else {
                0
            };
            if digits == 0 {
                out.push('\\');
                rest = after;
            } else {
                let n: usize = after[..digits].parse().unwrap_or(0);
                out.push_str(caps.get(n).map(|m| m.as_str()).unwrap_or_default());
                rest = &after[digits..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Line {
    fn new(path: &str, line: Option<String>, pattern: Option<String>) -> Line {
        Line {
            path: path.to_string(),
            line,
            pattern,
            regex: None,
            literal: false,
            backrefs: false,
            first_match: false,
            insert: Insert::End,
            insert_regex: None,
            backup: false,
            create: false,
            notify: Vec::new(),
        }
    }

    /// `line` is in the file at `path` (added at the end if missing; see [`Line::insert_after`]
    /// and [`Line::at_start`] for other places).
    pub fn present(path: &str, line: &str) -> Line {
        Line::new(path, Some(line.to_string()), None)
    }

    /// No line of the file at `path` matches `pattern` (every matching line is removed).
    pub fn absent(path: &str, pattern: &str) -> Line {
        Line::new(path, None, Some(pattern.to_string()))
    }

    /// The last line matching `pattern` (the first with [`Line::first_match`]) is replaced by
    /// the line; the line is inserted only when no line matches. Make the pattern match the new
    /// line too, so that a changed line is found again on the next run.
    pub fn matching(mut self, pattern: &str) -> Line {
        self.pattern = Some(pattern.to_string());
        self
    }

    /// The pattern is plain text found anywhere in a line, not a regular expression (Ansible's
    /// `search_string`, pyinfra's `escape_regex_characters`).
    pub fn literal(mut self) -> Line {
        self.literal = true;
        self
    }

    /// The line is a replacement for the matching line, with the pattern's groups filled in:
    /// `\1`, `\g<1>` or `\g<name>` (as in Ansible; `\\` for a backslash). When no line matches,
    /// the file is left as it is (there is nothing to fill the groups from). Needs
    /// [`Line::matching`].
    pub fn backrefs(mut self) -> Line {
        self.backrefs = true;
        self
    }

    /// When no line matches, the line is inserted after the last line matching `pattern` (a
    /// regular expression), or at the end when none does.
    pub fn insert_after(mut self, pattern: &str) -> Line {
        self.insert = Insert::After(pattern.to_string());
        self
    }

    /// When no line matches, the line is inserted before the last line matching `pattern` (a
    /// regular expression), or at the end when none does.
    pub fn insert_before(mut self, pattern: &str) -> Line {
        self.insert = Insert::Before(pattern.to_string());
        self
    }

    /// When no line matches, the line is inserted as the file's first line.
    pub fn at_start(mut self) -> Line {
        self.insert = Insert::Start;
        self
    }

    /// The first matching line is replaced, and [`Line::insert_after`]/[`Line::insert_before`]
    /// go by the first line their pattern matches (default: the last).
    pub fn first_match(mut self) -> Line {
        self.first_match = true;
        self
    }

    /// Before the file is changed, its old content is kept next to it as
    /// `PATH.PID.YYYY-MM-DD@HH:MM:SS~` (a hard link to the old file: same owner, mode and bytes).
    pub fn backup(mut self) -> Line {
        self.backup = true;
        self
    }

    /// Creates the file (mode 0644, owned by the step's account: root unless the step runs as the
    /// login user; with its missing directories) if it does not exist; without this a missing
    /// file is an error.
    pub fn create(mut self) -> Line {
        self.create = true;
        self
    }

    fn pattern_matches(&self, text: &str) -> bool {
        self.regex.as_ref().is_some_and(|re| re.is_match(text))
    }

    /// The index of the first or last line that `select` accepts.
    fn select(&self, lines: &[TextLine<'_>], select: impl Fn(&str) -> bool) -> Option<usize> {
        if self.first_match {
            lines.iter().position(|l| select(&l.text))
        } else {
            lines.iter().rposition(|l| select(&l.text))
        }
    }

    /// The new content for `old`, or `None` when nothing changes, with a description.
    fn edit(&self, old: &str) -> Option<(String, String)> {
        let mut lines = split_lines(old);
        let style = newline_style(&lines);
        let description = match &self.line {
            None => {
                let before = lines.len();
                lines.retain(|l| !self.pattern_matches(&l.text));
                let removed = before - lines.len();
                if removed == 0 {
                    return None;
                }
                format!(
                    "remove {removed} line{} matching `{}`",
                    if removed == 1 { "" } else { "s" },
                    self.pattern.as_deref().unwrap_or_default()
                )
            }
            Some(wanted) => self.edit_present(&mut lines, wanted, style)?,
        };
        let new: String = lines
            .iter()
            .flat_map(|l| [l.text.as_ref(), l.ending])
            .collect();
        Some((new, description))
    }

    /// Puts `wanted` in `lines`; the description of the change, `None` when there is none.
    fn edit_present<'a>(
        &self,
        lines: &mut Vec<TextLine<'a>>,
        wanted: &str,
        style: &'a str,
    ) -> Option<String> {
        let exact = |l: &str| l == wanted;
        let chosen = match &self.regex {
            Some(_) => self.select(lines, |l| self.pattern_matches(l)),
            None => self.select(lines, exact),
        };
        // A line already there but left without a line ending at the end of the file gets one.
        let terminate = |lines: &mut Vec<TextLine<'a>>, i: usize| {
            (lines[i].ending.is_empty()).then(|| {
                lines[i].ending = style;
                format!("end line {} with a newline", i + 1)
            })
        };
        if let Some(i) = chosen {
            let new_text = match (&self.regex, self.backrefs) {
                (Some(re), true) => re
                    .captures(&lines[i].text)
                    .map(|caps| expand_backrefs(wanted, &caps))
                    .unwrap_or_else(|| wanted.to_string()),
                _ => wanted.to_string(),
            };
            if lines[i].text == new_text {
                return terminate(lines, i);
            }
            // A pattern that does not select the line itself: a copy of the line already there
            // is what an earlier run wrote, and the other matches are left alone.
            if !self.backrefs
                && !self.pattern_matches(wanted)
                && let Some(j) = lines.iter().position(|l| exact(&l.text))
            {
                return terminate(lines, j);
            }
            let description = format!("line {}: `{}` → `{new_text}`", i + 1, lines[i].text);
            lines[i].text = std::borrow::Cow::Owned(new_text);
            if lines[i].ending.is_empty() {
                lines[i].ending = style;
            }
            return Some(description);
        }
        if self.backrefs {
            return None;
        }
        if let Some(j) = lines.iter().position(|l| exact(&l.text)) {
            return terminate(lines, j);
        }
        let new_line = TextLine {
            text: std::borrow::Cow::Owned(wanted.to_string()),
            ending: style,
        };
        let anchor = self
            .insert_regex
            .as_ref()
            .and_then(|re| self.select(lines, |l| re.is_match(l)));
        let (at, description) = match (&self.insert, anchor) {
            (Insert::Start, _) => (0, format!("insert `{wanted}` at the start")),
            (Insert::After(_), Some(a)) => {
                (a + 1, format!("insert `{wanted}` after line {}", a + 1))
            }
            (Insert::Before(_), Some(a)) => (a, format!("insert `{wanted}` before line {}", a + 1)),
            _ => (lines.len(), format!("append `{wanted}`")),
        };
        // The line before the new one must end; the new one ends too (the file's style).
        if at > 0 && lines[at - 1].ending.is_empty() {
            lines[at - 1].ending = style;
        }
        lines.insert(at, new_line);
        Some(description)
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
        let name = self.name();
        check_path(&name, &self.path)?;
        let invalid = |message: String| Err(OpError::invalid(&name, message));
        if let Some(l) = &self.line
            && (l.contains('\n') || l.contains('\r'))
        {
            return invalid("the line contains a line break; add one Line per line".into());
        }
        if self.line.is_none() && (self.backrefs || self.insert != Insert::End) {
            return invalid(
                "backrefs and insert positions are for Line::present, not Line::absent".into(),
            );
        }
        if self.backrefs && self.pattern.is_none() {
            return invalid(".backrefs() needs .matching(pattern) to take the groups from".into());
        }
        if let Some(p) = &self.pattern {
            if p.is_empty() {
                return invalid(
                    "the pattern is empty, which matches every line; give the text that marks the line"
                        .into(),
                );
            }
            let source = if self.literal {
                regex::escape(p)
            } else {
                p.clone()
            };
            self.regex = Some(
                Regex::new(&source)
                    .map_err(|e| OpError::invalid(&name, format!("bad pattern `{p}`: {e}")))?,
            );
        }
        if let Insert::After(p) | Insert::Before(p) = &self.insert {
            if p.is_empty() {
                return invalid(
                    "the insert_after/insert_before pattern is empty; use .at_start() for the start, or leave it out for the end"
                        .into(),
                );
            }
            self.insert_regex = Some(
                Regex::new(p)
                    .map_err(|e| OpError::invalid(&name, format!("bad pattern `{p}`: {e}")))?,
            );
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
        let Some((new, mut description)) = self.edit(&text) else {
            return Ok(Plan::Ok);
        };
        let printable = self.path.replace(['"', '$', '`', '\\'], "_");
        // The file must still be what was planned on; then it is replaced keeping its mode
        // and owner (a new file gets 0644, root).
        let p = shell_quote(&self.path);
        let guard = if existed {
            format!(
                "[ \"$(sha256sum < {p} | cut -c1-64)\" = {} ] || {{ echo \"{printable} changed since dm read it; run again\" >&2; exit 1; }}",
                sha256_hex(&old),
            )
        } else {
            format!(
                "[ ! -e {p} ] || {{ echo \"{printable} appeared since dm read it; run again\" >&2; exit 1; }}"
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
                "if [ -L {p} ]; then echo \"{printable} is a symbolic link; dm does not edit through links\" >&2; exit 1; fi\n\
                 set -- $(stat -c '%a %u %g' -- {p} 2>/dev/null || echo 644 0 0)"
            ),
            (_, false) => "set -- 644 0 0".to_string(),
        };
        let upload = upload_script_with(&self.path, new.len() as u64, "\"$1\"", "\"$2\"", "\"$3\"");
        let upload = match (self.backup && existed, upload.rsplit_once('\n')) {
            // The backup is made between the upload's functions (it decides who may write in
            // the directory the same way) and the upload itself.
            (true, Some((functions, put))) => {
                description.push_str(" (old file kept as a backup)");
                format!("{functions}\n{}\n{put}", backup_script(&self.path))
            }
            _ => upload,
        };
        let script = format!("{guard}\n{attributes}\n{upload}");
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

/// A hard link to the file at `path`, about to be replaced, made as whoever the upload writes
/// as (`dm_who`, which must be defined: the upload's functions), inside the directory entered
/// once (`cd -P`): a link planted on the way leads only where that account could write itself,
/// and `ln -P` never follows a link at the file's name. The replacing rename leaves the linked
/// old file as it was.
pub(crate) fn backup_script(path: &str) -> String {
    keep_script(path, "ln -P --", "keep a backup of")
}

/// [`backup_script`] for something a file replaces (a directory, a link, a special file): it
/// is renamed to the backup name (rename(2) moves a link itself, never what it points to).
pub(crate) fn move_aside_script(path: &str) -> String {
    keep_script(path, "mv -n -T --", "move aside")
}

fn keep_script(path: &str, command: &str, what: &str) -> String {
    let (dir, base) = crate::ctx::dir_and_base(path);
    let (dir, base, quoted) = (shell_quote(&dir), shell_quote(&base), shell_quote(path));
    format!(
        "dm_dir={dir} dm_d={quoted} dm_as=\n\
         if [ \"$(id -u)\" = 0 ]; then dm_who \"$dm_dir\" || exit 1; fi\n\
         dm_bk={base}.$$.$(date +%Y-%m-%d@%H:%M:%S)~\n\
         if [ -z \"$dm_as\" ]; then (cd -P -- \"$dm_dir\" && {command} {base} \"$dm_bk\")\n\
         else setpriv --reuid=\"$dm_as\" --regid=\"$(id -g -- \"$dm_as\")\" --clear-groups -- \
         sh -c 'cd -P -- \"$1\" && {command} \"$2\" \"$3\"' dm_backup \"$dm_dir\" {base} \"$dm_bk\"\n\
         fi || {{ echo {} >&2; exit 1; }}",
        shell_quote(&format!(
            "could not {what} {path}; the file was left unchanged"
        ))
    )
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

    /// The content after one run, asserting that a second run changes nothing.
    fn converged(l: &Line, content: &str) -> String {
        let new = match l.edit(content) {
            Some((new, _)) => new,
            None => content.to_string(),
        };
        assert_eq!(
            l.edit(&new).map(|(_, d)| d),
            None,
            "a second run changes nothing on {new:?}"
        );
        new
    }

    fn refused(l: Line) -> String {
        let mut l = l;
        l.prepare(&super::super::TemplateVars::default())
            .expect_err("refused")
            .to_string()
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
        assert_eq!(
            converged(&l, "127.0.0.1 localhost"),
            "127.0.0.1 localhost\n10.0.0.5 db\n"
        );
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
    fn first_match_replaces_the_first_matching_line() {
        let l = prepared(
            Line::present("/etc/x", "a = 9")
                .matching("^a =")
                .first_match(),
        );
        assert_eq!(converged(&l, "a = 1\na = 2\n"), "a = 9\na = 2\n");
    }

    #[test]
    fn several_matching_lines_settle_in_one_run() {
        // The pattern does not match the new line: each run would take one more commented line.
        let l = prepared(Line::present("/etc/ssh/sshd_config", "Port 2222").matching("^#Port"));
        assert_eq!(
            converged(&l, "#Port 1\n#Port 2\n#Port 3\n"),
            "#Port 1\n#Port 2\nPort 2222\n"
        );
        // A pattern that matches the new line too settles as well.
        let l = prepared(Line::present("/etc/x", "a = 9").matching("^a ="));
        assert_eq!(
            converged(&l, "a = 1\na = 2\na = 3\n"),
            "a = 1\na = 2\na = 9\n"
        );
    }

    #[test]
    fn lines_are_inserted_at_the_start_after_or_before_a_pattern() {
        let text = "[a]\nx = 1\n[b]\nx = 2\n";
        let l = prepared(Line::present("/etc/x", "# managed").at_start());
        assert_eq!(converged(&l, text), format!("# managed\n{text}"));
        assert_eq!(
            l.edit(text).map(|(_, d)| d).as_deref(),
            Some("insert `# managed` at the start")
        );
        let after_last = prepared(Line::present("/etc/x", "y = 0").insert_after(r"^\["));
        assert_eq!(
            converged(&after_last, text),
            "[a]\nx = 1\n[b]\ny = 0\nx = 2\n"
        );
        let after_first = prepared(
            Line::present("/etc/x", "y = 0")
                .insert_after(r"^\[")
                .first_match(),
        );
        assert_eq!(
            converged(&after_first, text),
            "[a]\ny = 0\nx = 1\n[b]\nx = 2\n"
        );
        let before_last = prepared(Line::present("/etc/x", "y = 0").insert_before(r"^\["));
        assert_eq!(
            converged(&before_last, text),
            "[a]\nx = 1\ny = 0\n[b]\nx = 2\n"
        );
        let before_first = prepared(
            Line::present("/etc/x", "y = 0")
                .insert_before(r"^\[")
                .first_match(),
        );
        assert_eq!(
            converged(&before_first, text),
            "y = 0\n[a]\nx = 1\n[b]\nx = 2\n"
        );
        // No line matching the anchor: at the end, as in Ansible.
        let nowhere = prepared(Line::present("/etc/x", "y = 0").insert_after("^nothing"));
        assert_eq!(converged(&nowhere, text), format!("{text}y = 0\n"));
        // A matching line is replaced where it is, wherever the insert position would be.
        let replaced = prepared(
            Line::present("/etc/x", "x = 3")
                .matching("^x =")
                .insert_after(r"^\[a\]"),
        );
        assert_eq!(converged(&replaced, text), "[a]\nx = 1\n[b]\nx = 3\n");
    }

    #[test]
    fn backrefs_fill_in_the_groups_and_leave_a_file_without_a_match_alone() {
        let l = prepared(
            Line::present("/etc/default/grub", r#"GRUB_CMDLINE_LINUX="\1 quiet""#)
                .matching(r#"^GRUB_CMDLINE_LINUX="(.*?)(?: quiet)?"$"#)
                .backrefs(),
        );
        assert_eq!(
            converged(&l, "A=1\nGRUB_CMDLINE_LINUX=\"ro\"\n"),
            "A=1\nGRUB_CMDLINE_LINUX=\"ro quiet\"\n"
        );
        assert!(l.edit("A=1\n").is_none(), "nothing to take the groups from");
        let named = prepared(
            Line::present("/etc/x", r"\g<key>=\g<1>\\\0")
                .matching(r"^(?P<key>\w+)=(\d+)$")
                .backrefs(),
        );
        assert_eq!(
            named.edit("port=80\n").map(|(n, _)| n).as_deref(),
            Some("port=port\\\\0\n")
        );
    }

    #[test]
    fn a_literal_pattern_is_plain_text() {
        let l = prepared(Line::absent("/etc/fstab", "/mnt/old (x)").literal());
        assert_eq!(
            converged(&l, "a\n/dev/x /mnt/old (x)\nb /mnt/old\n"),
            "a\nb /mnt/old\n"
        );
        let l = prepared(
            Line::present("/etc/x", "k = [2]")
                .matching("k = [")
                .literal(),
        );
        assert_eq!(converged(&l, "k = [1]\n"), "k = [2]\n");
    }

    #[test]
    fn crlf_files_keep_their_line_endings() {
        let l = prepared(Line::present("/c/boot.ini", "b=2").matching("^b="));
        assert_eq!(
            converged(&l, "a=1\r\nb=1\r\nc=3\r\n"),
            "a=1\r\nb=2\r\nc=3\r\n"
        );
        let l = prepared(Line::present("/c/boot.ini", "d=4"));
        assert_eq!(converged(&l, "a=1\r\nb=1\r\n"), "a=1\r\nb=1\r\nd=4\r\n");
        let l = prepared(Line::absent("/c/boot.ini", "^b="));
        assert_eq!(converged(&l, "a=1\r\nb=1\r\nc=3"), "a=1\r\nc=3");
    }

    #[test]
    fn an_unterminated_last_line_that_is_the_line_gets_its_newline() {
        let l = prepared(Line::present("/etc/x", "b"));
        let (new, description) = l.edit("a\nb").expect("a change");
        assert_eq!(new, "a\nb\n");
        assert_eq!(description, "end line 2 with a newline");
        assert_eq!(converged(&l, "a\r\nb"), "a\r\nb\r\n");
        // Appending after an unterminated line ends that line first.
        assert_eq!(converged(&l, "a"), "a\nb\n");
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
        assert!(refused(Line::absent("/etc/x", "(")).contains("bad pattern `(`"));
        for empty in [
            Line::absent("/etc/x", ""),
            Line::present("/etc/x", "a").matching(""),
            Line::present("/etc/x", "a").matching("").literal(),
        ] {
            assert!(refused(empty).contains("the pattern is empty"));
        }
        assert!(refused(Line::present("/etc/x", "a").insert_after("")).contains("empty"));
        assert!(refused(Line::present("/etc/x", "a").backrefs()).contains(".matching"));
        assert!(refused(Line::absent("/etc/x", "a").at_start()).contains("Line::present"));
        assert!(refused(Line::present("/etc/x", "a\r")).contains("line break"));
    }

    /// Runs a change's script with `sh`, as the engine would on the host, feeding its input.
    fn run_locally(c: &Change) {
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
        run_locally(&c);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\nb\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn create_makes_missing_directories_and_backup_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new/sub/conf");
        let p = path.to_str().expect("utf8");
        let l = prepared(Line::present(p, "a").create());
        let Plan::Change(c) = l
            .plan(&Fact::parse("f.type=absent\n"), &mut Simulation::new())
            .expect("plans")
        else {
            panic!("change")
        };
        run_locally(&c);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\n");

        let l = prepared(Line::present(p, "b").backup());
        let Plan::Change(c) = l
            .plan(&fact_of("a\n"), &mut Simulation::new())
            .expect("plans")
        else {
            panic!("change")
        };
        assert_eq!(c.description, "append `b` (old file kept as a backup)");
        run_locally(&c);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\nb\n");
        let backups: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("conf.") && n.ends_with('~'))
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");
        let backup = path.with_file_name(&backups[0]);
        assert_eq!(std::fs::read_to_string(backup).expect("read"), "a\n");
    }
}
