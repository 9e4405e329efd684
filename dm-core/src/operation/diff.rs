//! Unified diffs of file contents, for `--diff`.

/// Files larger than this are not diffed (their old content is not fetched either).
pub(crate) const MAX_DIFF_BYTES: u64 = 256 * 1024;

/// A unified diff from `old` to `new` for `path`, or a one-line note when either side is not
/// text. `old` is `None` for a file that does not exist yet.
pub(crate) fn unified(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    unified_diff(path, old, Some(new))
}

/// A unified diff of file `path` from `old` to `new` (`None`: no file on that side, shown as
/// `/dev/null`), or a one-line note when either side is not text: what `--diff` shows for a
/// file an operation creates, changes or removes. For operations of your own that write
/// files (set it with [`super::Change::with_diff`]); secrets in it are masked when it is shown.
///
/// ```
/// let diff = dm_core::ops::unified_diff("/etc/motd", Some(b"old\n"), Some(b"new\n"));
/// assert!(diff.contains("-old\n+new\n"));
/// let removed = dm_core::ops::unified_diff("/etc/motd", Some(b"old\n"), None);
/// assert!(removed.contains("+++ /dev/null"));
/// ```
pub fn unified_diff(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let (Ok(old_text), Ok(new_text)) = (
        std::str::from_utf8(old.unwrap_or_default()),
        std::str::from_utf8(new.unwrap_or_default()),
    ) else {
        return format!("Binary content of {path} differs\n");
    };
    if old_text.contains('\0') || new_text.contains('\0') {
        return format!("Binary content of {path} differs\n");
    }
    let side = |present: bool, prefix: &str| {
        if present {
            format!("{prefix}{path}")
        } else {
            "/dev/null".to_string()
        }
    };
    similar::TextDiff::from_lines(old_text, new_text)
        .unified_diff()
        .context_radius(3)
        .header(&side(old.is_some(), "a"), &side(new.is_some(), "b"))
        .to_string()
}

/// A file mode as `0644`.
pub(crate) fn mode(m: u32) -> String {
    format!("{m:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_line_shows_as_minus_plus() {
        let d = unified("/etc/x", Some(b"a\nb\nc\n"), b"a\nB\nc\n");
        assert_eq!(
            d,
            "--- a/etc/x\n+++ b/etc/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn new_file_diffs_from_dev_null() {
        let d = unified("/etc/new", None, b"hello\n");
        assert!(d.starts_with("--- /dev/null\n+++ b/etc/new\n"), "{d}");
        assert!(d.contains("+hello\n"), "{d}");
    }

    #[test]
    fn binary_content_is_not_diffed() {
        assert_eq!(
            unified("/bin/x", Some(&[0, 1, 2]), b"text"),
            "Binary content of /bin/x differs\n"
        );
        assert_eq!(
            unified("/bin/x", Some(&[0xff, 0xfe]), b"text"),
            "Binary content of /bin/x differs\n"
        );
    }

    #[test]
    fn modes_are_four_octal_digits() {
        assert_eq!(mode(0o644), "0644");
        assert_eq!(mode(0o4755), "4755");
    }
}
