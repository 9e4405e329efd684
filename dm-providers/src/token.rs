//! API tokens: read from the environment (or handed over from the secrets store) and kept out of
//! every message, log line and error.

use std::fmt;

use crate::error::{Error, Result};

/// A provider's API token.
///
/// `Debug` and `Display` print `***`, so a token inside any struct, error or log field stays
/// hidden; the only way to the value is [`Token::expose`], which the HTTP client calls to build the
/// `Authorization` header (marked sensitive, so it is not printed either).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token from a value, e.g. one read from dm's secrets store.
    ///
    /// Surrounding whitespace is removed: a token pasted with a trailing newline would otherwise
    /// be refused by the API with a confusing 401.
    pub fn new(value: impl Into<String>) -> Token {
        Token(value.into().trim().to_string())
    }

    /// The token in environment variable `var` (e.g. `HCLOUD_TOKEN`), for `provider` (named in the
    /// error when the variable is unset or empty).
    pub fn from_env(var: &'static str, provider: &'static str) -> Result<Token> {
        match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Token::new(value)),
            // Unset, empty, or not UTF-8: none of them is a usable token.
            _ => Err(Error::TokenMissing { provider, var }),
        }
    }

    /// The secret value. Only for building the request header (or registering the value with a
    /// redactor); never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty (an empty token is refused before any request is made).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn debug_and_display_hide_the_value() {
        let t = Token::new(" s3cr3t-value\n");
        assert_eq!(format!("{t:?} {t}"), "*** ***");
        assert_eq!(t.expose(), "s3cr3t-value");
    }
}
