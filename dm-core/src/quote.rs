//! Shell quoting for arguments built from user data.

/// Quotes `s` for a POSIX shell so that it is passed as exactly one word, whatever it contains.
///
/// ```
/// assert_eq!(dm_core::shell_quote("web"), "web");
/// assert_eq!(dm_core::shell_quote("it's here"), "'it'\\''s here'");
/// ```
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn empty_string_becomes_two_quotes() {
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn metacharacters_are_quoted() {
        assert_eq!(shell_quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn quoted_value_round_trips_through_sh() {
        let nasty = "it's \"x\" $HOME `id` \\ \n end";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), nasty);
    }
}
