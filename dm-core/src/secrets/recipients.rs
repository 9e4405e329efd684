//! Recipients: the public keys a secrets file is encrypted to, kept beside it in
//! `secrets/<env>.recipients`, one per line; blank lines and `#` comments are kept as written.
//!
//! ```text
//! # ops team
//! age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
//! ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@laptop
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// One recipient: an age X25519 public key or an SSH public key.
#[derive(Clone)]
pub struct Recipient {
    /// The line as written, with the SSH key's comment, if any.
    line: String,
    key: Key,
}

#[derive(Clone)]
enum Key {
    Age(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    /// Parses a public key: `age1...`, `ssh-ed25519 BASE64 [comment]` or `ssh-rsa BASE64 [comment]`.
    ///
    /// The error says what is wrong, without a location (the caller knows it).
    pub fn parse(text: &str) -> Result<Recipient, String> {
        let line = text.trim().to_string();
        let key = if line.starts_with("age1") {
            let word = line.split_whitespace().next().unwrap_or_default();
            Key::Age(word.parse().map_err(|e| {
                format!("`{word}` is not a valid age public key ({e}); it looks like age1 followed by 58 characters")
            })?)
        } else if line.starts_with("ssh-") {
            Key::Ssh(line.parse().map_err(|e| ssh_error(&line, &e))?)
        } else if line.starts_with("AGE-SECRET-KEY-") || line.starts_with("-----BEGIN") {
            return Err(
                "this is a private key: give the public key (age1..., or the .pub file of an SSH key)"
                    .into(),
            );
        } else {
            return Err(format!(
                "`{}` is not a public key; expected age1... or ssh-ed25519/ssh-rsa ...",
                shorten(&line)
            ));
        };
        Ok(Recipient { line, key })
    }

    /// Parses a recipient given on the command line: the key itself, or the path of a file holding
    /// it (e.g. `~/.ssh/id_ed25519.pub`; its first key line is used).
    pub fn from_arg(arg: &str) -> Result<Recipient, Error> {
        let err = |message: String| Error::SecretsRecipient {
            place: format!("recipient `{}`", shorten(arg)),
            message,
        };
        let path = Path::new(arg);
        let looks_like_key = arg.starts_with("age1") || arg.starts_with("ssh-");
        if !looks_like_key && path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|source| Error::LocalIo {
                path: path.to_path_buf(),
                source,
            })?;
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .ok_or_else(|| err(format!("{} holds no public key", path.display())))?;
            return Recipient::parse(line).map_err(|m| err(format!("{}: {m}", path.display())));
        }
        Recipient::parse(arg).map_err(err)
    }

    /// The key without its comment (`age1...` or `ssh-ed25519 BASE64`): what identifies it.
    pub fn key(&self) -> String {
        match &self.key {
            Key::Age(r) => r.to_string(),
            Key::Ssh(r) => r.to_string(),
        }
    }

    /// The SSH key's comment (e.g. `alice@laptop`), if any.
    pub fn comment(&self) -> Option<&str> {
        let rest = self.line.strip_prefix(&self.key())?.trim();
        (!rest.is_empty()).then_some(rest)
    }

    /// The line as written in the recipients file.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Whether `spec` (a key, with or without comment, or a comment) names this recipient.
    fn matches(&self, spec: &str) -> bool {
        let spec = spec.trim();
        match Recipient::parse(spec) {
            Ok(other) => other.key() == self.key(),
            Err(_) => self.comment() == Some(spec),
        }
    }

    pub(crate) fn as_age(&self) -> &dyn age::Recipient {
        match &self.key {
            Key::Age(r) => r,
            Key::Ssh(r) => r,
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recipient").field(&self.line).finish()
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

fn ssh_error(line: &str, e: &age::ssh::ParseRecipientKeyError) -> String {
    use age::ssh::ParseRecipientKeyError as E;
    let key_type = line.split_whitespace().next().unwrap_or_default();
    match e {
        E::RsaModulusTooSmall => {
            "this RSA key is shorter than 2048 bits, too weak to encrypt to".into()
        }
        E::RsaModulusTooLarge => "this RSA key is larger than age supports (16384 bits)".into(),
        E::Unsupported(t) => format!(
            "SSH keys of type {t} cannot be encrypted to; use ssh-ed25519, ssh-rsa or an age key"
        ),
        _ => format!("`{}` is not a valid {key_type} public key", shorten(line)),
    }
}

/// At most 40 characters of `s`, for messages about something that may be long.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A recipients file: its lines, comments included, and the recipients among them.
#[derive(Debug, Clone)]
pub struct Recipients {
    path: PathBuf,
    lines: Vec<Line>,
}

#[derive(Debug, Clone)]
enum Line {
    /// A blank line or comment, kept as written.
    Other(String),
    Key(Recipient),
}

impl Recipients {
    /// A recipients file at `path` holding `recipients` (not written yet).
    pub fn new(path: &Path, recipients: Vec<Recipient>) -> Recipients {
        let mut lines = vec![Line::Other(
            "# Public keys the secrets file beside this one is encrypted to (one per line).".into(),
        )];
        lines.extend(recipients.into_iter().map(Line::Key));
        Recipients {
            path: path.to_path_buf(),
            lines,
        }
    }

    /// Reads and checks the recipients file at `path`.
    pub fn load(path: &Path) -> Result<Recipients, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::LocalIo {
            path: path.to_path_buf(),
            source,
        })?;
        Recipients::parse(&text, path)
    }

    /// Parses recipients file `text`, naming `path` and the line in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Recipients, Error> {
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                lines.push(Line::Other(line.to_string()));
                continue;
            }
            let r = Recipient::parse(trimmed).map_err(|message| Error::SecretsRecipient {
                place: format!("{}:{}", path.display(), n + 1),
                message,
            })?;
            lines.push(Line::Key(r));
        }
        let recipients = Recipients {
            path: path.to_path_buf(),
            lines,
        };
        if recipients.is_empty() {
            return Err(Error::SecretsRecipient {
                place: path.display().to_string(),
                message: "lists no recipients; add a public key (age1... or ssh-ed25519 ...)"
                    .into(),
            });
        }
        Ok(recipients)
    }

    /// The file these recipients are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recipients, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Recipient> {
        self.lines.iter().filter_map(|l| match l {
            Line::Key(r) => Some(r),
            Line::Other(_) => None,
        })
    }

    /// Whether there is no recipient at all.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Adds `recipient` at the end; refused if its key is already listed.
    pub fn add(&mut self, recipient: Recipient) -> Result<(), Error> {
        if self.iter().any(|r| r.key() == recipient.key()) {
            return Err(Error::SecretsRefused {
                message: format!(
                    "{} already lists this key; nothing changed",
                    self.path.display()
                ),
            });
        }
        self.lines.push(Line::Key(recipient));
        Ok(())
    }

    /// Removes the recipient `spec` names (its key, or its comment such as `alice@laptop`) and
    /// returns it. Refused when nothing or several match, or when it is the last one.
    pub fn remove(&mut self, spec: &str) -> Result<Recipient, Error> {
        let matching: Vec<usize> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, Line::Key(r) if r.matches(spec)))
            .map(|(i, _)| i)
            .collect();
        let refuse = |message: String| Err(Error::SecretsRefused { message });
        match matching.as_slice() {
            [] => refuse(format!(
                "{} lists no recipient `{}`; it lists:\n  {}",
                self.path.display(),
                shorten(spec),
                self.iter()
                    .map(Recipient::line)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )),
            [i] => {
                if self.iter().count() == 1 {
                    return refuse(format!(
                        "`{}` is the only recipient of the secrets; add another one first, or nobody could decrypt them",
                        shorten(spec)
                    ));
                }
                match self.lines.remove(*i) {
                    Line::Key(r) => Ok(r),
                    Line::Other(_) => refuse("internal: not a key line".into()),
                }
            }
            _ => refuse(format!(
                "`{}` matches several recipients of {}; give the whole key",
                shorten(spec),
                self.path.display()
            )),
        }
    }

    /// The file's text, as it is to be written.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(s) => out.push_str(s),
                Line::Key(r) => out.push_str(r.line()),
            }
            out.push('\n');
        }
        out
    }

    pub(crate) fn as_age(&self) -> Vec<&dyn age::Recipient> {
        self.iter().map(Recipient::as_age).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";

    #[test]
    fn parses_age_and_ssh_keys_and_keeps_comments() {
        let age_key = age::x25519::Identity::generate().to_public().to_string();
        let text = format!("# team\n{age_key}\n\n{SSH}\n");
        let r = Recipients::parse(&text, Path::new("x.recipients")).expect("parse");
        assert_eq!(r.iter().count(), 2);
        assert_eq!(r.to_text(), text);
        let ssh = r.iter().nth(1).expect("ssh");
        assert_eq!(ssh.comment(), Some("alice@rust"));
    }

    #[test]
    fn bad_line_is_reported_with_file_and_line() {
        let err = Recipients::parse("# x\nnot a key\n", Path::new("s/p.recipients"))
            .expect_err("bad key");
        let msg = err.to_string();
        assert!(msg.starts_with("s/p.recipients:2: "), "{msg}");
    }

    #[test]
    fn remove_by_comment_and_refuse_last() {
        let age_key = age::x25519::Identity::generate().to_public().to_string();
        let mut r =
            Recipients::parse(&format!("{age_key}\n{SSH}\n"), Path::new("r")).expect("parse");
        let removed = r.remove("alice@rust").expect("remove");
        assert_eq!(removed.line(), SSH);
        assert!(r.remove(&age_key).is_err(), "last recipient must stay");
    }

    #[test]
    fn private_key_is_refused_as_recipient() {
        let secret = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        let err = Recipient::parse(secret.to_string().expose_secret()).expect_err("private");
        assert!(err.contains("private key"), "{err}");
    }
}
