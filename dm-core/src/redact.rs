//! Redaction: secret values are masked in everything dm prints or reports.
//!
//! Whatever reads a secret (the sudo password, a value from the secrets store, a cloud token)
//! registers it with [`register`]; every output path — live lines, the summary, errors, the
//! `--json` report, logs — passes its text through [`redact`] before it leaves the process.
//!
//! A secret rarely reaches output only as itself: dm puts it on command lines shell-quoted
//! (`'it'\''s'`, once more for every `sudo sh -c` around it), into URLs percent-encoded, into
//! the `--json` report and `{:?}` errors escaped, and reads file contents back as base64. Each of
//! these forms is masked too (see [`forms`]).

use std::borrow::Cow;
use std::sync::RwLock;

/// The mask that replaces a secret value.
pub const MASK: &str = "********";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks `secret` in all output from now on, in every form dm writes it in ([`forms`]). Empty
/// values are ignored.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write() {
        for form in forms(secret) {
            if !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// How many `sh -c` quotings deep a secret is still recognised: a command line (1) run through
/// sudo (2) as another user (3).
const QUOTING_DEPTH: usize = 3;

/// Base64 runs shorter than this are not masked inside longer base64 text: too likely to match
/// by chance.
const MIN_BASE64_RUN: usize = 8;

/// The forms of `secret` that dm's own output can contain: the secret itself; inside
/// single-quoted shell words, nested up to three deep; percent-encoded (as in a
/// URL); each of those JSON-escaped (the `--json` report) and `{:?}`-escaped (errors); and base64,
/// alone or anywhere inside longer base64 text (file contents read back from a host).
pub fn forms(secret: &str) -> Vec<String> {
    let mut plain = vec![secret.to_string()];
    let mut quoted = secret.to_string();
    for _ in 0..QUOTING_DEPTH {
        quoted = quoted.replace('\'', "'\\''");
        plain.push(quoted.clone());
    }
    plain.push(percent_encode(secret));
    let mut all = Vec::new();
    for form in plain {
        let json = serde_json::to_string(&form).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or_default()
            .to_string();
        let debug = form.escape_debug().to_string();
        for f in [form, json, debug] {
            if !f.is_empty() && !all.contains(&f) {
                all.push(f);
            }
        }
    }
    for b64 in base64_forms(secret.as_bytes()) {
        if !all.contains(&b64) {
            all.push(b64);
        }
    }
    all
}

/// The secret's base64 alone (with and without padding), and for each of the three positions
/// it can start at inside longer base64 text, the characters that depend on its bytes only.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let whole = encode_base64(secret);
    let mut out = vec![whole.trim_end_matches('=').to_string(), whole];
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(secret);
        let text = encode_base64(&shifted);
        // Character i holds bits 6i..6i+6 of the input; the secret's are 8*offset..8*(offset+n).
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + secret.len())) / 6;
        if end > first && end - first >= MIN_BASE64_RUN {
            out.push(text[first..end].to_string());
        }
    }
    out
}

/// `text` percent-encoded as in a URL: every byte but the unreserved ones (RFC 3986).
fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// Standard base64 with padding, as `base64 -w0` prints it.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn the_forms_dm_writes_a_secret_in_are_masked() {
        let secret = "it's \"a\" p@ss/w\\rd";
        register(secret);
        let quoted = crate::quote::shell_quote(secret);
        let sudo_line = crate::quote::shell_quote(&format!("echo {quoted}"));
        let as_user = crate::quote::shell_quote(&format!("sh -c {sudo_line}"));
        let json = serde_json::to_string(&format!("cmd {quoted} failed")).expect("json");
        let url = "postgres://app:it%27s%20%22a%22%20p%40ss%2Fw%5Crd@db/app";
        let debug = format!("{:?}", secret);
        for text in [&quoted, &sudo_line, &as_user, &json, &debug, url] {
            let masked = redact(text);
            assert!(masked.contains(MASK), "not masked: {text} -> {masked}");
            for piece in ["p@ss", "p%40ss", "w\\rd", "w\\\\rd"] {
                assert!(!masked.contains(piece), "{piece} left in {masked}");
            }
        }
    }

    #[test]
    fn a_secret_is_masked_inside_base64_text_at_any_position() {
        let secret = "b64-Secret-Value-91";
        register(secret);
        assert_eq!(redact(&encode_base64(secret.as_bytes())), MASK);
        for prefix in ["", "x", "xy", "xyz", "four"] {
            let text = encode_base64(format!("{prefix}password={secret}\n").as_bytes());
            let masked = redact(&text);
            assert!(masked.contains(MASK), "{prefix:?}: {text} -> {masked}");
            // Left in clear: the prefix's characters, and at most a few at each edge of the
            // secret (partial characters) and after it (the newline and padding).
            let clear = masked.replace(MASK, "").len();
            let allowed = (prefix.len() + "password=".len()) * 4 / 3 + 8;
            assert!(clear <= allowed, "{prefix:?}: {masked}");
        }
    }

    #[test]
    fn base64_matches_the_hosts_base64() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"hello world\n",
            &[0, 255, 128, 7],
        ] {
            let mut child = std::process::Command::new("base64")
                .arg("-w0")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("coreutils base64");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(data)
                .expect("write");
            let out = child.wait_with_output().expect("base64 ends");
            assert_eq!(encode_base64(data), String::from_utf8_lossy(&out.stdout));
        }
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        register("another-secret");
        assert!(matches!(redact("plain text"), Cow::Borrowed("plain text")));
    }
}
