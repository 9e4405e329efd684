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
/// Keys are compared by their key material, so a different comment or options on an existing
/// line count as present. The file is kept at mode 0600 and `~/.ssh` at 0700, both owned by the
/// user, as sshd's strict modes want. The user must exist when the facts are read (create it in
/// the same step with [`User`](super::User) before this: the key is then planned after it).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::AuthorizedKey;
/// let mut step = ctx.step();
/// step.add(AuthorizedKey::new("deploy", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE... alice@laptop"));
/// step.add(AuthorizedKey::new("deploy", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB... bob@old").absent());
/// # Ok(()) }
/// ```
pub struct AuthorizedKey {
    user: String,
    key: String,
    absent: bool,
    notify: Vec<String>,
}

impl AuthorizedKey {
    /// `key` (an `authorized_keys` line: optional options, type, base64 key, optional comment)
    /// may log in as `user`.
    pub fn new(user: &str, key: &str) -> AuthorizedKey {
        AuthorizedKey {
            user: user.to_string(),
            key: key.trim().to_string(),
            absent: false,
            notify: Vec::new(),
        }
    }

    /// The key may not log in: lines with its key material are removed.
    pub fn absent(mut self) -> AuthorizedKey {
        self.absent = true;
        self
    }

    /// The key material (the base64 part) of an `authorized_keys` line.
    fn blob(line: &str) -> Option<&str> {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(2).find_map(|w| {
            let is_type =
                w[0].starts_with("ssh-") || w[0].starts_with("ecdsa-") || w[0].starts_with("sk-");
            (is_type && w[1].len() >= 16).then_some(w[1])
        })
    }

    /// A short form of the key for reports: type and the end of the key material.
    fn short(&self) -> String {
        let mut words = self.key.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let blob = Self::blob(&self.key).unwrap_or_default();
        let tail = &blob[blob.len().saturating_sub(8)..];
        let comment: Vec<&str> = self
            .key
            .split_whitespace()
            .skip_while(|w| *w != blob)
            .skip(1)
            .collect();
        if comment.is_empty() {
            format!("{kind} ...{tail}")
        } else {
            format!("{kind} ...{tail} {}", comment.join(" "))
        }
    }
}

notify_builder!(AuthorizedKey);

impl Operation for AuthorizedKey {
    fn name(&self) -> String {
        format!("authorized key {} for {}", self.short(), self.user)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        if Self::blob(&self.key).is_none() || self.key.contains('\n') {
            return Err(OpError::invalid(
                &self.name(),
                "not a public key line: expected `TYPE BASE64 [COMMENT]`, e.g. the content of id_ed25519.pub",
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
        let blob = Self::blob(&self.key).unwrap_or_default();
        let has = |l: &str| l.split_whitespace().any(|w| w == blob);
        let present = text.lines().any(has);
        let (new, description) = match (self.absent, present) {
            (false, true) | (true, false) => {
                // Content is right; the modes sshd insists on may not be.
                let mut lines = Vec::new();
                let mut changes = Vec::new();
                if file.kind == FileKind::File {
                    // The owner first, without following a link; the mode then as the user, who
                    // can change nothing through a link that they could not change anyway.
                    if file.uid.is_some_and(|u| u.to_string() != uid) {
                        changes.push(format!(
                            "owner {} → {}",
                            file.user.as_deref().unwrap_or("?"),
                            self.user
                        ));
                        lines.push(format!("chown -h {uid}:{gid} -- {}", shell_quote(&path)));
                    }
                    if file.mode.is_some_and(|m| m & 0o022 != 0) {
                        changes.push(format!(
                            "mode {} → 0600",
                            file.mode.map(diff::mode).unwrap_or_default()
                        ));
                        lines.push(format!("{as_owner} chmod 600 -- {}", shell_quote(&path)));
                    }
                }
                if lines.is_empty() {
                    return Ok(Plan::Ok);
                }
                lines.insert(0, refuse_links);
                return Ok(Plan::Change(Change::new(
                    changes.join(", "),
                    Action::shell(lines.join("\n")),
                )));
            }
            (false, false) => {
                let mut new = text.clone();
                if !new.is_empty() && !new.ends_with('\n') {
                    new.push('\n');
                }
                new.push_str(&self.key);
                new.push('\n');
                (new, format!("add to {path}"))
            }
            (true, true) => {
                let kept: Vec<&str> = text.lines().filter(|l| !has(l)).collect();
                let mut new = kept.join("\n");
                if !new.is_empty() {
                    new.push('\n');
                }
                (new, format!("remove from {path}"))
            }
        };
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
        assert_eq!(c.description, "add to /home/deploy/.ssh/authorized_keys");
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

    #[test]
    fn the_same_key_with_another_comment_is_present() {
        let k = AuthorizedKey::new("deploy", KEY);
        let line =
            "from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyMaterialForTests other\n";
        assert!(matches!(plan(&k, &fact(line, "600")), Ok(Plan::Ok)));
        let Ok(Plan::Change(c)) = plan(&k, &fact(line, "664")) else {
            panic!("expected a mode change")
        };
        assert_eq!(c.description, "mode 0664 → 0600");
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
