//! [`AuthorizedKey`]: an SSH public key in a user's `~/.ssh/authorized_keys`, or not.

use std::sync::Arc;

use super::diff;
use super::fact::{Fact, FileKind, sha256_hex};
use super::{
    Action, Change, FactOptions, Input, OpError, Operation, Plan, Resource, Simulation,
    notify_builder,
};
use crate::ctx::upload_script;
use crate::quote::shell_quote;

/// A public key that may (or may not) log in as a user.
///
/// Keys are matched by their key material: a line with the same key but other options or another
/// comment is rewritten to the wanted line (options such as `from=` or `no-pty` are security
/// restrictions, so the wanted ones must be what sshd reads), and further lines with the same key
/// are dropped (sshd would only ever use the first). [`AuthorizedKey::only`] (or
/// [`AuthorizedKey::exclusive`]) makes the listed keys the only ones: every other key line goes,
/// comments stay. The file ends at mode 0600 and `~/.ssh` at 0700, both owned by the user, as
/// sshd's strict modes want, even when the keys were already right. The user must exist when the
/// facts are read (create it in the same step with [`User`](super::User) before this: the key is
/// then planned after it). Links in the user's home (`~/.ssh` or the file itself) are never
/// followed: the operation fails and says to remove them.
///
/// # Coming from Ansible / pyinfra
///
/// Ansible's `authorized_key` module: `user` and `key` → [`AuthorizedKey::new`], `key_options` →
/// written as part of the line (`from="10.0.0.0/8",no-pty ssh-ed25519 AAAA... alice`),
/// `exclusive: true` → [`AuthorizedKey::only`], `state: absent` → [`AuthorizedKey::absent`];
/// `manage_dir` is always on. pyinfra's `server.user_authorized_keys` (and the `public_keys` of
/// `server.user`) with `delete_keys=True` → [`AuthorizedKey::only`]. Differences on purpose: keys
/// are given as text, not fetched from a URL (`https://github.com/NAME.keys`): fetch them in the
/// task, where a failure is yours to handle; `path` (another file than `~/.ssh/authorized_keys`)
/// is not offered, since dm writes only inside a `~/.ssh` it has checked is a real directory.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::AuthorizedKey;
/// let mut step = ctx.step();
/// step.add(AuthorizedKey::new("deploy", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE... alice@laptop"));
/// step.add(AuthorizedKey::new("deploy", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB... bob@old").absent());
/// step.add(AuthorizedKey::only(
///     "backup",
///     [r#"from="10.0.0.0/8",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF... backup@vault"#],
/// ));
/// # Ok(()) }
/// ```
pub struct AuthorizedKey {
    user: String,
    keys: Vec<String>,
    exclusive: bool,
    absent: bool,
    notify: Vec<String>,
}

impl AuthorizedKey {
    /// `key` (an `authorized_keys` line: optional options, type, base64 key, optional comment)
    /// may log in as `user`.
    pub fn new(user: &str, key: &str) -> AuthorizedKey {
        AuthorizedKey {
            user: user.to_string(),
            keys: vec![key.trim().to_string()],
            exclusive: false,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// `keys` (`authorized_keys` lines) and no other key may log in as `user` (Ansible's
    /// `exclusive: true`): other key lines are removed, comment lines are kept.
    pub fn only<I, S>(user: &str, keys: I) -> AuthorizedKey
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        AuthorizedKey {
            user: user.to_string(),
            keys: keys
                .into_iter()
                .map(|k| k.as_ref().trim().to_string())
                .collect(),
            exclusive: true,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// This key and no other may log in: other key lines are removed (see
    /// [`AuthorizedKey::only`] for several keys).
    pub fn exclusive(mut self) -> AuthorizedKey {
        self.exclusive = true;
        self
    }

    /// The key may not log in: lines with its key material are removed.
    pub fn absent(mut self) -> AuthorizedKey {
        self.absent = true;
        self
    }

    /// The key material (the base64 part) of an `authorized_keys` line; none for a comment.
    fn blob(line: &str) -> Option<&str> {
        if line.trim_start().starts_with('#') {
            return None;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(2).find_map(|w| {
            let is_type =
                w[0].starts_with("ssh-") || w[0].starts_with("ecdsa-") || w[0].starts_with("sk-");
            (is_type && w[1].len() >= 16).then_some(w[1])
        })
    }

    /// A short form of `key` for reports: type and the end of the key material.
    fn short(key: &str) -> String {
        let blob = Self::blob(key).unwrap_or_default();
        let words: Vec<&str> = key.split_whitespace().collect();
        let at = words.iter().position(|w| *w == blob).unwrap_or_default();
        let kind = at
            .checked_sub(1)
            .and_then(|i| words.get(i))
            .copied()
            .unwrap_or_default();
        let tail = &blob[blob.len().saturating_sub(8)..];
        let comment = words.get(at + 1..).unwrap_or_default();
        if comment.is_empty() {
            format!("{kind} ...{tail}")
        } else {
            format!("{kind} ...{tail} {}", comment.join(" "))
        }
    }

    /// The file's lines after the change, and what changed (`add 1 key`, ...); `None` when the
    /// lines are already the wanted ones.
    fn edit(&self, text: &str) -> Option<(Vec<String>, Vec<String>)> {
        let wanted: Vec<(&str, &str)> = self
            .keys
            .iter()
            .filter_map(|k| Self::blob(k).map(|b| (b, k.as_str())))
            .collect();
        let (mut added, mut updated, mut removed) = (0, 0, 0);
        let mut placed: Vec<&str> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        for line in text.lines() {
            let blob = Self::blob(line);
            let want = blob.and_then(|b| wanted.iter().find(|(w, _)| *w == b));
            match (want, self.absent) {
                (Some(_), true) => removed += 1,
                (Some((b, key)), false) if !placed.contains(b) => {
                    placed.push(b);
                    if line.trim() != *key {
                        updated += 1;
                    }
                    lines.push(key.to_string());
                }
                // sshd reads the first line of a key; a later one only misleads.
                (Some(_), false) => removed += 1,
                // Anything sshd may take for a key is one the exclusive list does not allow.
                (None, _)
                    if self.exclusive
                        && !line.trim().is_empty()
                        && !line.trim_start().starts_with('#') =>
                {
                    removed += 1
                }
                (None, _) => lines.push(line.to_string()),
            }
        }
        if !self.absent {
            for (b, key) in &wanted {
                if !placed.contains(b) {
                    placed.push(b);
                    added += 1;
                    lines.push(key.to_string());
                }
            }
        }
        let count = |n: usize| {
            if n == 1 {
                "1 key".to_string()
            } else {
                format!("{n} keys")
            }
        };
        let mut changes = Vec::new();
        for (n, verb) in [(added, "add"), (updated, "update"), (removed, "remove")] {
            if n > 0 {
                changes.push(format!("{verb} {}", count(n)));
            }
        }
        (!changes.is_empty()).then_some((lines, changes))
    }
}

notify_builder!(AuthorizedKey);

impl Operation for AuthorizedKey {
    fn name(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| Self::short(k)).collect();
        if self.exclusive {
            format!("authorized keys of {}: only {}", self.user, keys.join(", "))
        } else {
            format!("authorized key {} for {}", keys.join(", "), self.user)
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        if self.keys.is_empty() && !self.exclusive {
            return Err(OpError::invalid(&self.name(), "no key given"));
        }
        for key in &self.keys {
            if Self::blob(key).is_none() || key.contains('\n') {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "`{key}` is not a public key line: expected `[OPTIONS] TYPE BASE64 [COMMENT]`, e.g. the content of id_ed25519.pub"
                    ),
                ));
            }
        }
        if self.exclusive && self.absent {
            return Err(OpError::invalid(
                &self.name(),
                "exclusive and absent together would remove every key: use AuthorizedKey::only(user, Vec::<&str>::new()) for that",
            ));
        }
        if self.user.is_empty() || self.user.contains(['/', ':', '\n']) {
            return Err(OpError::invalid(&self.name(), "not a user name"));
        }
        Ok(())
    }
    fn fact_script(&self, _options: &FactOptions) -> String {
        format!(
            "if dm_e=$(getent passwd {u}); then printf 'passwd=%s\\n' \"$dm_e\"; \
             dm_h=$(printf '%s' \"$dm_e\" | cut -d: -f6); dm_stat ssh \"$dm_h/.ssh\"; \
             dm_stat f \"$dm_h/.ssh/authorized_keys\"; dm_sha f \"$dm_h/.ssh/authorized_keys\"; \
             if [ ! -L \"$dm_h/.ssh\" ] && [ -f \"$dm_h/.ssh/authorized_keys\" ]; then \
             dm_b64 content \"$dm_h/.ssh/authorized_keys\"; fi; fi",
            u = shell_quote(&self.user)
        )
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.user.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let Some(passwd) = fact.get("passwd") else {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "user `{}` does not exist; create it first (ops::User::new(\"{}\") before this operation)",
                    self.user, self.user
                ),
            ));
        };
        let fields: Vec<&str> = passwd.split(':').collect();
        let (uid, gid, home) = match fields.as_slice() {
            [_, _, uid, gid, _, home, ..] => (*uid, *gid, *home),
            _ => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!("unexpected passwd entry `{passwd}`"),
                ));
            }
        };
        if !is_id(uid) || !is_id(gid) {
            return Err(OpError::invalid(
                &self.name(),
                format!("unexpected passwd entry `{passwd}`"),
            ));
        }
        let path = format!("{home}/.ssh/authorized_keys");
        let file = fact.stat("f");
        // The user owns their home and may have made these links to anywhere (`ln -s /etc
        // ~/.ssh`): root reads and writes there only what is really a directory and a file.
        for (what, stat, want) in [
            (format!("{home}/.ssh"), fact.stat("ssh"), FileKind::Dir),
            (path.clone(), file.clone(), FileKind::File),
        ] {
            if stat.kind != want && stat.kind != FileKind::Absent {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{what} is {}{}, not {}; dm does not follow links or replace other files in a user's home: remove it (as {}) and run again",
                        stat.kind.word(),
                        stat.target
                            .as_deref()
                            .map(|t| format!(" to {t}"))
                            .unwrap_or_default(),
                        want.word(),
                        self.user
                    ),
                ));
            }
        }
        let as_owner = format!("setpriv --reuid={uid} --regid={gid} --clear-groups --");
        let refuse_links = format!(
            "for dm_l in {dir} {p}; do if [ -L \"$dm_l\" ]; then echo \"$dm_l is a symbolic link; dm does not follow links in a user's home: remove it and run again\" >&2; exit 1; fi; done",
            dir = shell_quote(&format!("{home}/.ssh")),
            p = shell_quote(&path)
        );
        let old = fact.bytes("content").unwrap_or_default().to_vec();
        let text = String::from_utf8_lossy(&old).into_owned();
        let Some((lines, changes)) = self.edit(&text) else {
            // The keys are right; the owners and modes sshd insists on may not be.
            let mut script = Vec::new();
            let mut changes = Vec::new();
            let dir = format!("{home}/.ssh");
            let fix_dir = !self.absent || file.kind == FileKind::File;
            for (what, stat, mode, fix) in [
                (
                    &dir,
                    fact.stat("ssh"),
                    0o700,
                    fix_dir && fact.stat("ssh").kind == FileKind::Dir,
                ),
                (&path, file.clone(), 0o600, file.kind == FileKind::File),
            ] {
                if !fix {
                    continue;
                }
                // The owner first, without following a link; the mode then as the user, who
                // can change nothing through a link that they could not change anyway.
                if stat.uid.is_some_and(|u| u.to_string() != uid) {
                    changes.push(format!(
                        "owner of {what} {} → {}",
                        stat.user.as_deref().unwrap_or("?"),
                        self.user
                    ));
                    script.push(format!("chown -h {uid}:{gid} -- {}", shell_quote(what)));
                }
                if stat.mode.is_some_and(|m| m != mode) {
                    changes.push(format!(
                        "mode of {what} {} → {}",
                        stat.mode.map(diff::mode).unwrap_or_default(),
                        diff::mode(mode)
                    ));
                    script.push(format!(
                        "{as_owner} chmod {mode:o} -- {}",
                        shell_quote(what)
                    ));
                }
            }
            if script.is_empty() {
                return Ok(Plan::Ok);
            }
            script.insert(0, refuse_links);
            return Ok(Plan::Change(Change::new(
                changes.join(", "),
                Action::shell(script.join("\n")),
            )));
        };
        let mut new = lines.join("\n");
        if !new.is_empty() {
            new.push('\n');
        }
        let description = format!("{} in {path}", changes.join(", "));
        let p = shell_quote(&path);
        let dir = shell_quote(&format!("{home}/.ssh"));
        let guard = if file.kind == FileKind::File {
            format!(
                "[ \"$(sha256sum < {p} | cut -c1-64)\" = {} ] || {{ echo \"{path} changed since dm read it; run again\" >&2; exit 1; }}",
                sha256_hex(&old)
            )
        } else {
            format!(
                "[ ! -e {p} ] || {{ echo \"{path} appeared since dm read it; run again\" >&2; exit 1; }}"
            )
        };
        // `~/.ssh` is made by root if missing (mkdir never follows a link), given to the user
        // without following a link, and its mode set as the user; the file is then written by
        // the upload, which acts as the user in a directory the user can redirect.
        let script = format!(
            "{refuse_links}\n{guard}\n[ -d {dir} ] || mkdir -p -- {dir}\nchown -h {uid}:{gid} -- {dir}\n{as_owner} chmod 700 -- {dir}\n{}",
            upload_script(&path, new.len() as u64, 0o600, Some(uid), Some(gid))
        );
        let diff = diff::unified(
            &path,
            (file.kind == FileKind::File).then_some(old.as_slice()),
            new.as_bytes(),
        );
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

/// Whether `s` is a numeric uid or gid.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyMaterialForTests alice@laptop";
    const PASSWD: &str = "passwd=deploy:x:1000:1000::/home/deploy:/bin/bash\n";

    fn fact(content: &str, mode: &str) -> Fact {
        let b64 = super::super::fact::tests_support::base64(content.as_bytes());
        Fact::parse(&format!(
            "{PASSWD}f.type=file\nf.mode={mode}\nf.uid=1000\nf.user=deploy\ncontent:b64={b64}\n"
        ))
    }

    fn plan(k: &AuthorizedKey, fact: &Fact) -> Result<Plan, OpError> {
        k.plan(fact, &mut Simulation::new())
    }

    #[test]
    fn a_missing_key_is_added_with_strict_modes() {
        let k = AuthorizedKey::new("deploy", KEY);
        let Ok(Plan::Change(c)) = plan(&k, &fact("ssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\n", "600"))
        else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "add 1 key in /home/deploy/.ssh/authorized_keys"
        );
        assert!(c.action.script.contains("chmod 700 -- /home/deploy/.ssh"));
        assert!(
            c.action
                .script
                .contains("chown -h 1000:1000 -- /home/deploy/.ssh")
        );
        let put = c.action.script.lines().last().unwrap_or_default();
        assert!(
            put.starts_with("dm_put /home/deploy/.ssh authorized_keys ")
                && put.ends_with(" 600 1000 1000 authorized_keys"),
            "{put}"
        );
        let Some(Input::Bytes(b)) = &c.action.input else {
            panic!("input")
        };
        assert_eq!(
            String::from_utf8_lossy(b),
            format!("ssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\n{KEY}\n")
        );
    }

    fn input(c: &Change) -> String {
        let Some(Input::Bytes(b)) = &c.action.input else {
            panic!("input")
        };
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn the_same_key_with_other_options_or_comment_is_rewritten_once() {
        let k = AuthorizedKey::new("deploy", KEY);
        let old = "# keys\nfrom=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyMaterialForTests other\n\
                   ssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\n\
                   ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyMaterialForTests again\n";
        let Ok(Plan::Change(c)) = plan(&k, &fact(old, "600")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "update 1 key, remove 1 key in /home/deploy/.ssh/authorized_keys"
        );
        assert_eq!(
            input(&c),
            format!("# keys\n{KEY}\nssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\n")
        );
        assert!(matches!(
            plan(&k, &fact(&format!("{KEY}\n"), "600")),
            Ok(Plan::Ok)
        ));
    }

    #[test]
    fn modes_other_than_0600_and_0700_are_fixed() {
        let k = AuthorizedKey::new("deploy", KEY);
        let mut text = fact(&format!("{KEY}\n"), "601");
        let Ok(Plan::Change(c)) = plan(&k, &text) else {
            panic!("expected a mode change")
        };
        assert_eq!(
            c.description,
            "mode of /home/deploy/.ssh/authorized_keys 0601 → 0600"
        );
        text = Fact::parse(&format!(
            "{PASSWD}ssh.type=dir\nssh.mode=755\nssh.uid=0\nssh.user=root\n"
        ));
        let Ok(Plan::Change(c)) = plan(&k, &text) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "add 1 key in /home/deploy/.ssh/authorized_keys"
        );
        let with_file = format!(
            "{PASSWD}ssh.type=dir\nssh.mode=755\nssh.uid=0\nssh.user=root\nf.type=file\nf.mode=600\nf.uid=1000\ncontent:b64={}\n",
            super::super::fact::tests_support::base64(format!("{KEY}\n").as_bytes())
        );
        let Ok(Plan::Change(c)) = plan(&k, &Fact::parse(&with_file)) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "owner of /home/deploy/.ssh root → deploy, mode of /home/deploy/.ssh 0755 → 0700"
        );
        assert!(
            c.action.script.ends_with(
                "chown -h 1000:1000 -- /home/deploy/.ssh\nsetpriv --reuid=1000 --regid=1000 --clear-groups -- chmod 700 -- /home/deploy/.ssh"
            ),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn only_keeps_the_listed_keys_and_the_comments() {
        let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyMaterial00 carol";
        let k = AuthorizedKey::only("deploy", [KEY, other]);
        let old = format!("# team\nssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\ngarbage\n\n{KEY}\n");
        let Ok(Plan::Change(c)) = plan(&k, &fact(&old, "600")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "add 1 key, remove 2 keys in /home/deploy/.ssh/authorized_keys"
        );
        assert_eq!(input(&c), format!("# team\n\n{KEY}\n{other}\n"));
        assert!(matches!(
            plan(&k, &fact(&format!("# team\n{KEY}\n{other}\n"), "600")),
            Ok(Plan::Ok)
        ));
        let mut k = AuthorizedKey::new("deploy", KEY).exclusive().absent();
        assert!(k.prepare(&super::super::TemplateVars::default()).is_err());
    }

    #[test]
    fn absent_removes_the_key_lines() {
        let k = AuthorizedKey::new("deploy", KEY).absent();
        let Ok(Plan::Change(c)) = plan(
            &k,
            &fact(
                &format!("{KEY}\nssh-rsa AAAAB3NzaC1yc2EAAAAOther bob\n"),
                "600",
            ),
        ) else {
            panic!("expected a change")
        };
        assert!(
            c.diff
                .as_deref()
                .unwrap_or_default()
                .contains(&format!("-{KEY}"))
        );
    }

    #[test]
    fn a_missing_user_names_the_fix() {
        let k = AuthorizedKey::new("ghost", KEY);
        let err = plan(&k, &Fact::parse("")).expect_err("no user");
        assert!(
            err.to_string().contains("ops::User::new(\"ghost\")"),
            "{err}"
        );
    }

    #[test]
    fn a_line_that_is_not_a_key_is_refused() {
        let mut k = AuthorizedKey::new("deploy", "hello world");
        assert!(k.prepare(&super::super::TemplateVars::default()).is_err());
    }
}
