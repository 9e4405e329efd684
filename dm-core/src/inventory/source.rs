//! The inventory's text and where things are in it: byte spans turned into `file:line:column` and
//! the dotted key (`servers.appnode1.port`) a position belongs to, for error messages.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::error::Error;

/// The inventory file's path and text, kept to turn spans into readable error locations.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    /// The file, as named in messages.
    pub path: &'a Path,
    /// Its whole text.
    pub text: &'a str,
}

impl Source<'_> {
    /// An `InventoryInvalid` error at `span`, with the dotted key found at that position.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Error {
        let key = self.key_at(span.start);
        self.error_with_key(span, key, message)
    }

    /// An `InventoryInvalid` error at `span` naming `key` (when the caller knows it better than the
    /// position does, e.g. for a value inside an array).
    pub fn error_with_key(
        &self,
        span: Range<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> Error {
        let (line, column) = self.line_column(span.start);
        Error::InventoryInvalid {
            path: PathBuf::from(self.path),
            line,
            column,
            key,
            message: message.into(),
        }
    }

    /// A TOML syntax or type error turned into an `InventoryInvalid` with its location and key.
    pub fn toml_error(&self, err: &toml::de::Error) -> Error {
        // A few serde errors (e.g. a missing table) come without a span: point at the start.
        let span = err.span().unwrap_or(0..0);
        self.error(span, err.message().trim_end().to_string())
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        // Spans from the parser are char boundaries; floor defensively so slicing cannot fail.
        let offset = (0..=offset)
            .rev()
            .find(|&o| self.text.is_char_boundary(o))
            .unwrap_or(0);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// The dotted key whose name or value contains `offset`, the most specific one if nested.
    ///
    /// The TOML deserializer does not say which key an error is about; re-parsing the document
    /// into its spanned tree and looking the position up recovers it.
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let doc = DeTable::parse(self.text).ok()?;
        let mut path = Vec::new();
        let mut best = None;
        find_key(doc.get_ref(), offset, &mut path, &mut best);
        best.map(|keys: Vec<String>| keys.join("."))
    }
}

/// Depth-first search for the deepest key path at `offset`. Tables defined by a `[header]` do not
/// contain their entries' spans, so every table is searched, not only those spanning `offset`.
fn find_key(
    table: &DeTable<'_>,
    offset: usize,
    path: &mut Vec<String>,
    best: &mut Option<Vec<String>>,
) {
    for (key, value) in table.iter() {
        path.push(key_segment(key.get_ref()));
        let here = key.span().contains(&offset) || value.span().contains(&offset);
        if here && best.as_ref().is_none_or(|b| b.len() <= path.len()) {
            *best = Some(path.clone());
        }
        find_in_value(value.get_ref(), offset, path, best);
        path.pop();
    }
}

fn find_in_value(
    value: &DeValue<'_>,
    offset: usize,
    path: &mut Vec<String>,
    best: &mut Option<Vec<String>>,
) {
    match value {
        DeValue::Table(table) => find_key(table, offset, path, best),
        DeValue::Array(items) => {
            for item in items {
                find_in_value(item.get_ref(), offset, path, best);
            }
        }
        _ => {}
    }
}

/// A key as written in a dotted path: bare when TOML allows it, quoted otherwise.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source {
            path: Path::new("dm.toml"),
            text,
        }
    }

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let s = source("a = 1\nbé = \"x\"\n");
        assert_eq!(s.line_column(0), (1, 1));
        assert_eq!(s.line_column(6), (2, 1));
        let after_e = s.text.rfind(" =").unwrap_or(0);
        assert_eq!(s.line_column(after_e), (2, 3));
    }

    #[test]
    fn key_at_finds_keys_under_table_headers() {
        let text = "[servers.appnode1]\naddress = \"x\"\nport = 22\n";
        let s = source(text);
        let at = text.find("port").unwrap_or(0);
        assert_eq!(s.key_at(at).as_deref(), Some("servers.appnode1.port"));
    }

    #[test]
    fn key_at_quotes_keys_that_are_not_bare() {
        let text = "[servers.\"web.example.com\"]\nport = 22\n";
        let s = source(text);
        let at = text.find("port").unwrap_or(0);
        assert_eq!(
            s.key_at(at).as_deref(),
            Some("servers.\"web.example.com\".port")
        );
    }

    #[test]
    fn key_at_finds_inline_table_values() {
        let text = "[servers.a]\nvars = { weight = 2 }\n";
        let s = source(text);
        let at = text.find('2').unwrap_or(0);
        assert_eq!(s.key_at(at).as_deref(), Some("servers.a.vars.weight"));
    }
}
