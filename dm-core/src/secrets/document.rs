//! The decrypted content of a secrets file: a TOML table of key → string value, kept as the text
//! the user wrote (comments and order survive `secrets set` and `secrets edit`).
//!
//! ```toml
//! postgres_password = "..."
//! [tls]                       # tables nest: `ctx.secret("tls.key")`, `secret.tls.key`
//! key = """
//! -----BEGIN PRIVATE KEY-----
//! ..."""
//! ```
//!
//! Values must be strings: a secret is masked in output by its text, and a number like `5432`
//! would be masked wherever it appears. Error messages name keys and positions, never values.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use age::secrecy::zeroize::Zeroizing;
use toml::de::{DeTable, DeValue};

use crate::error::Error;

/// Decrypted secrets: the TOML text and its values.
pub struct SecretDoc {
    text: Zeroizing<String>,
    root: Table,
}

type Table = BTreeMap<String, Node>;

enum Node {
    Value(Zeroizing<String>),
    Table(Table),
}

impl SecretDoc {
    /// A new, empty document with a comment saying what goes in it.
    pub fn empty(environment: &str) -> SecretDoc {
        SecretDoc {
            text: Zeroizing::new(format!(
                "# Secrets of environment `{environment}`: one `key = \"value\"` per line, values are strings.\n"
            )),
            root: Table::new(),
        }
    }

    /// Parses decrypted bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<SecretDoc, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let (line, column) = line_column(
                &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
                e.valid_up_to(),
            );
            Error::SecretsInvalid {
                path: path.to_path_buf(),
                line,
                column,
                message: "not UTF-8 text".into(),
            }
        })?;
        SecretDoc::parse(text, path)
    }

    /// Parses TOML `text`; `path` names the file in errors, which give line and column but never
    /// quote the text.
    pub fn parse(text: &str, path: &Path) -> Result<SecretDoc, Error> {
        let invalid = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            Error::SecretsInvalid {
                path: PathBuf::from(path),
                line,
                column,
                message,
            }
        };
        let doc = DeTable::parse(text).map_err(|e| {
            // Only the message: the error's Display would quote the offending line.
            invalid(
                e.span().unwrap_or(0..0),
                format!("invalid TOML: {}", e.message().trim_end()),
            )
        })?;
        let root = convert(doc.get_ref(), "", &invalid)?;
        Ok(SecretDoc {
            text: Zeroizing::new(text.to_string()),
            root,
        })
    }

    /// The TOML text, as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value of `key`: a top-level key, or a dotted path into tables (`tls.key`).
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(Node::Value(v)) = self.root.get(key) {
            return Some(v);
        }
        let mut table = &self.root;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            match (table.get(part)?, parts.peek()) {
                (Node::Value(v), None) => return Some(v),
                (Node::Table(t), Some(_)) => table = t,
                _ => return None,
            }
        }
        None
    }

    /// Every key that has a value, dotted, sorted. Keys are not secret; values are.
    pub fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut |key, _| out.push(key.to_string()));
        out
    }

    /// Every value.
    pub fn values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut |_, v| out.push(v));
        out
    }

    /// Whether there is no value at all.
    pub fn is_empty(&self) -> bool {
        self.keys().is_empty()
    }

    /// The values as a JSON object (tables nested), for the `secret` variable of hosts.
    pub fn to_json(&self) -> serde_json::Value {
        fn table(t: &Table) -> serde_json::Value {
            serde_json::Value::Object(
                t.iter()
                    .map(|(k, n)| {
                        let v = match n {
                            Node::Value(s) => serde_json::Value::String(s.to_string()),
                            Node::Table(t) => table(t),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        }
        table(&self.root)
    }

    /// This document with top-level `key` set to `value`: the existing value replaced in place,
    /// or a new line added after the leading comments. Everything else is kept as written.
    pub fn with_value(&self, key: &str, value: &str, path: &Path) -> Result<SecretDoc, Error> {
        let bare = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !bare {
            return Err(Error::SecretsRefused {
                message: format!(
                    "`{key}` cannot be set directly: keys are letters, digits, `_` and `-`; use `secrets edit` for tables and other keys"
                ),
            });
        }
        let literal = toml::Value::String(value.to_string()).to_string();
        let doc = DeTable::parse(&self.text).map_err(|e| Error::SecretsInvalid {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("invalid TOML: {}", e.message().trim_end()),
        })?;
        let existing = doc
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| (v.span(), v.get_ref().is_str()));
        let mut text = Zeroizing::new(String::with_capacity(self.text.len() + literal.len() + 8));
        match existing {
            Some((span, true)) => {
                text.push_str(&self.text[..span.start]);
                text.push_str(&literal);
                text.push_str(&self.text[span.end..]);
            }
            Some((_, false)) => {
                return Err(Error::SecretsRefused {
                    message: format!(
                        "`{key}` in {} is a table, not a value; use `secrets edit`",
                        path.display()
                    ),
                });
            }
            None => {
                let at = leading_comments_end(&self.text);
                text.push_str(&self.text[..at]);
                if at > 0 && !self.text[..at].ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{key} = {literal}\n"));
                text.push_str(&self.text[at..]);
            }
        }
        let updated = SecretDoc::parse(&text, path)?;
        if updated.get(key) != Some(value) {
            return Err(Error::SecretsRefused {
                message: format!("internal: setting `{key}` did not round-trip; nothing changed"),
            });
        }
        Ok(updated)
    }
}

impl fmt::Debug for SecretDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretDoc")
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}

fn convert(
    table: &DeTable<'_>,
    prefix: &str,
    invalid: &dyn Fn(Range<usize>, String) -> Error,
) -> Result<Table, Error> {
    let mut out = Table::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        let dotted = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let node = match value.get_ref() {
            DeValue::String(s) => Node::Value(Zeroizing::new(s.to_string())),
            DeValue::Table(t) => Node::Table(convert(t, &dotted, invalid)?),
            other => {
                return Err(invalid(
                    value.span(),
                    format!(
                        "`{dotted}` is {} {}: secret values are strings; put the value in quotes",
                        article(other.type_str()),
                        other.type_str()
                    ),
                ));
            }
        };
        out.insert(name, node);
    }
    Ok(out)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn walk<'a>(table: &'a Table, prefix: &str, f: &mut dyn FnMut(&str, &'a str)) {
    for (k, node) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match node {
            Node::Value(v) => f(&key, v),
            Node::Table(t) => walk(t, &key, f),
        }
    }
}

/// Byte offset after the leading blank and comment lines.
fn leading_comments_end(text: &str) -> usize {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if !(t.is_empty() || t.starts_with('#')) {
            break;
        }
        at += line.len();
    }
    at
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("secrets/prod.age")
    }

    #[test]
    fn reads_values_and_nested_tables() {
        let doc = SecretDoc::parse("a = \"1\"\n[tls]\nkey = \"k\"\n", p()).expect("parse");
        assert_eq!(doc.get("a"), Some("1"));
        assert_eq!(doc.get("tls.key"), Some("k"));
        assert_eq!(doc.get("tls"), None);
        assert_eq!(doc.keys(), vec!["a", "tls.key"]);
        assert_eq!(doc.to_json()["tls"]["key"], "k");
    }

    #[test]
    fn non_string_value_is_refused_with_position_and_without_the_value() {
        let err = SecretDoc::parse("# c\nport = 54321\n", p()).expect_err("int");
        let msg = err.to_string();
        assert!(
            msg.starts_with("secrets/prod.age:2:8: `port` is an integer"),
            "{msg}"
        );
        assert!(!msg.contains("54321"), "{msg}");
    }

    #[test]
    fn syntax_error_names_line_and_does_not_quote_it() {
        let err = SecretDoc::parse("ok = \"x\"\npw = \"hunter2\n", p()).expect_err("bad");
        let msg = err.to_string();
        assert!(msg.starts_with("secrets/prod.age:2:"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn set_replaces_in_place_and_keeps_comments() {
        let doc = SecretDoc::parse("# top\na = \"old\" # why\nb = \"x\"\n", p()).expect("parse");
        let doc = doc
            .with_value("a", "new \"quoted\"\nline", p())
            .expect("set");
        assert_eq!(doc.get("a"), Some("new \"quoted\"\nline"));
        assert!(doc.text().starts_with("# top\na = "), "{}", doc.text());
        assert!(doc.text().contains("# why\nb = \"x\"\n"), "{}", doc.text());
        let doc = doc.with_value("c", "3", p()).expect("add");
        assert!(
            doc.text().starts_with("# top\nc = \"3\"\na = "),
            "{}",
            doc.text()
        );
    }

    #[test]
    fn set_new_key_goes_before_tables() {
        let doc = SecretDoc::parse("[tls]\nkey = \"k\"\n", p()).expect("parse");
        let doc = doc.with_value("pw", "v", p()).expect("set");
        assert_eq!(doc.get("pw"), Some("v"));
        assert_eq!(doc.get("tls.key"), Some("k"));
    }
}
