//! Redaction: secret values are masked in everything dm prints or reports.
//!
//! Whatever reads a secret (the sudo password, a value from the secrets store, a cloud token)
//! registers it with [`register`]; every output path — live lines, the summary, errors, the
//! `--json` report, logs — passes its text through [`redact`] before it leaves the process.

use std::borrow::Cow;
use std::sync::RwLock;

/// The mask that replaces a secret value.
pub const MASK: &str = "********";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks `secret` in all output from now on. Empty values are ignored.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write()
        && !secrets.iter().any(|s| s == secret)
    {
        secrets.push(secret.to_string());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in secrets.iter() {
        out = out.replace(s.as_str(), MASK);
    }
    Cow::Owned(out)
}

/// A writer for logs that masks secrets in each write.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secret_is_masked_everywhere_in_a_text() {
        register("s3cr3t-value");
        assert_eq!(
            redact("a s3cr3t-value and s3cr3t-value"),
            format!("a {MASK} and {MASK}")
        );
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        register("another-secret");
        assert!(matches!(redact("plain text"), Cow::Borrowed("plain text")));
    }
}
