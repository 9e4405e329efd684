//! Rust source as the few tokens a module graph needs: names, `::`, and single punctuation.
//! Comments (doc comments with their intra-doc links too), string and character literals, numbers
//! and lifetimes are dropped, so a `crate::x` in text never reads as an import.

/// One token of Rust source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An identifier or keyword (`r#` stripped); `$crate` keeps its `$`.
    Name(String),
    /// `::`
    PathSep,
    /// Any other single punctuation character.
    Punct(char),
}

/// The tokens of `source`, in order.
pub fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i);
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == '$' && next.is_some_and(is_name_start) {
            let (name, end) = name_at(&chars, i + 1);
            out.push(Token::Name(format!("${name}")));
            i = end;
        } else if is_name_start(c) {
            let (name, end) = name_at(&chars, i);
            match (name.as_str(), chars.get(end).copied()) {
                // Byte, C and raw strings: b"..", c"..", r"..", r#".."#, br#".."#, cr"..".
                ("b" | "c", Some('"')) => i = skip_string(&chars, end + 1),
                ("r" | "br" | "cr", Some('"' | '#')) if raw_string_opens(&chars, end) => {
                    i = skip_raw_string(&chars, end);
                }
                ("b", Some('\'')) => i = skip_char_or_lifetime(&chars, end),
                ("r", Some('#')) => {
                    // A raw identifier: r#type is the name `type`.
                    let (raw, raw_end) = name_at(&chars, end + 1);
                    out.push(Token::Name(raw));
                    i = raw_end;
                }
                _ => {
                    out.push(Token::Name(name));
                    i = end;
                }
            }
        } else if c == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn name_at(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
        end += 1;
    }
    (chars[start..end].iter().collect(), end)
}

/// The index after the block comment opening at `start` (block comments nest).
fn skip_block_comment(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The index after the closing quote of a string whose contents start at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Whether `#`s then a quote start at `at` (a raw string, not a raw identifier).
fn raw_string_opens(chars: &[char], at: usize) -> bool {
    let mut i = at;
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    chars.get(i) == Some(&'"')
}

/// The index after a raw string whose `#`s (or quote) start at `at`.
fn skip_raw_string(chars: &[char], at: usize) -> usize {
    let mut hashes = 0;
    let mut i = at;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|h| chars.get(i + h) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// The index after a character literal ('x', '\n', '\u{..}') or a lifetime ('a) at `start`.
fn skip_char_or_lifetime(chars: &[char], start: usize) -> usize {
    match (chars.get(start + 1), chars.get(start + 2)) {
        (Some('\\'), _) => {
            let mut i = start + 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i + 1
        }
        (Some(_), Some('\'')) => start + 3,
        _ => name_at(chars, start + 1).1,
    }
}

#[test]
fn literals_comments_and_lifetimes_are_no_names() {
    let source = r####"
        /// See [`crate::doc_link`].
        fn f<'a>(x: &'a str) -> char { /* crate::in_comment /* nested */ */
            let _ = "crate::in_string \" still";
            let _ = r#"crate::raw "quoted" "#;
            let _ = b'\''; let _ = '"'; let _ = '\u{1F600}';
            crate::real::path(r#type)
        }
    "####;
    let names: Vec<String> = tokens(source)
        .into_iter()
        .filter_map(|t| match t {
            Token::Name(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "fn", "f", "x", "str", "char", "let", "_", "let", "_", "let", "_", "let", "_", "let",
            "_", "crate", "real", "path", "type"
        ]
    );
}
