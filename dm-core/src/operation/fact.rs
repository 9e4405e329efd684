//! Facts: what an operation's read-only script printed about the host, parsed.
//!
//! A fact script prints `key=value` lines; values that may hold anything (file contents) are
//! printed base64-encoded as `key:b64=...`. The shell helpers below are defined for every fact
//! script, so operations describe files the same way.

use std::collections::BTreeMap;

/// Shell functions available to fact scripts.
///
/// - `dm_stat PREFIX PATH`: `PREFIX.type=` `absent|file|dir|link|other`, and unless absent
///   `PREFIX.mode=` (octal) `.uid=` `.user=` `.gid=` `.group=` `.size=`, plus `.target=` for links.
/// - `dm_sha PREFIX PATH`: `PREFIX.sha256=` the hex SHA-256 of a regular file.
/// - `dm_b64 KEY PATH`: `KEY:b64=` the file's bytes, base64; nothing when PATH is a symbolic link
///   (`O_NOFOLLOW`): content is read by root and may be written back where its owner reads it, so
///   a link planted between `dm_stat` and the read must not lead root to another file.
///
/// Each `dm_stat` and `dm_sha` would start a `stat` or `sha256sum` process: with many operations
/// on many hosts those processes are most of a step's cost. The gathering command therefore
/// first calls `dm_prefetch PATH...` (see `gather::script`), which reads the stat lines of all
/// those paths in one `stat` and the hashes of the regular files in one `sha256sum --tag`; the
/// helpers answer from those lines and start a process only for a path that was not
/// prefetched. The output is the same either way. Prefetched paths have no control characters,
/// backslash, `|` or `) = `, so that a line is found by its exact start (`PATH|`,
/// `SHA256 (PATH) = `) and never by another path's.
pub(crate) const HELPERS: &str = r#"dm_nl='
'
dm_ps= dm_pf=
dm_prefetch() {
  dm_ps=$(stat -c '%n|%a|%u|%U|%g|%G|%s' -- "$@" 2>/dev/null)
  dm_n=$#
  for dm_p do
    if [ -f "$dm_p" ] && [ ! -L "$dm_p" ]; then set -- "$@" "$dm_p"; fi
  done
  shift "$dm_n"
  if [ $# -gt 0 ]; then dm_pf=$(sha256sum --tag -- "$@" 2>/dev/null); fi
}
dm_line() {
  dm_hit= dm_ifs=$IFS; IFS=$dm_nl; set -f
  for dm_l in $1; do
    case $dm_l in "$2"*) dm_hit=${dm_l#"$2"}; break ;; esac
  done
  IFS=$dm_ifs; set +f
}
dm_stat_line() {
  [ $# -eq 7 ] || return 1
  printf '%s.mode=%s\n%s.uid=%s\n%s.user=%s\n%s.gid=%s\n%s.group=%s\n%s.size=%s\n' \
    "$1" "$2" "$1" "$3" "$1" "$4" "$1" "$5" "$1" "$6" "$1" "$7"
}
dm_stat() {
  if [ -L "$2" ]; then printf '%s.type=link\n%s.target=%s\n' "$1" "$1" "$(readlink -- "$2")"
  elif [ -d "$2" ]; then printf '%s.type=dir\n' "$1"
  elif [ -f "$2" ]; then printf '%s.type=file\n' "$1"
  elif [ -e "$2" ]; then printf '%s.type=other\n' "$1"
  else printf '%s.type=absent\n' "$1"; return 0; fi
  dm_line "$dm_ps" "$2|"
  if [ -n "$dm_hit" ]; then
    dm_ifs=$IFS; IFS='|'; set -f
    dm_stat_line "$1" $dm_hit; dm_rc=$?
    IFS=$dm_ifs; set +f
    [ $dm_rc -eq 0 ] && return 0
  fi
  stat -c "$1.mode=%a
$1.uid=%u
$1.user=%U
$1.gid=%g
$1.group=%G
$1.size=%s" -- "$2"
}
dm_sha() {
  [ -f "$2" ] && [ ! -L "$2" ] || return 0
  dm_line "$dm_pf" "SHA256 ($2) = "
  if [ -n "$dm_hit" ]; then printf '%s.sha256=%s\n' "$1" "$dm_hit"
  else printf '%s.sha256=%s\n' "$1" "$(sha256sum < "$2" | cut -c1-64)"; fi
  return 0
}
dm_b64() { printf '%s:b64=' "$1"; dd if="$2" iflag=nofollow status=none 2>/dev/null | base64 -w0; echo; }
"#;

/// The parsed output of one operation's fact script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fact {
    values: BTreeMap<String, Vec<String>>,
    bytes: BTreeMap<String, Vec<u8>>,
}

impl Fact {
    /// Parses `key=value` and `key:b64=...` lines; other lines are ignored.
    pub fn parse(text: &str) -> Fact {
        let mut fact = Fact::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if let Some(key) = key.strip_suffix(":b64") {
                fact.bytes.insert(
                    key.to_string(),
                    decode_base64(value.trim()).unwrap_or_default(),
                );
            } else if !key.is_empty() && !key.contains(' ') {
                fact.values
                    .entry(key.to_string())
                    .or_default()
                    .push(value.to_string());
            }
        }
        fact
    }

    /// The last value printed for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value printed for `key`, in order.
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.values
            .get(key)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether `key` was printed as `1`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("1")
    }

    /// The bytes printed as `key:b64=...`.
    pub fn bytes(&self, key: &str) -> Option<&[u8]> {
        self.bytes.get(key).map(Vec::as_slice)
    }

    /// What `dm_stat PREFIX` (and `dm_sha PREFIX`) printed.
    pub fn stat(&self, prefix: &str) -> FileStat {
        let get = |k: &str| self.get(&format!("{prefix}.{k}"));
        let kind = match get("type") {
            Some("file") => FileKind::File,
            Some("dir") => FileKind::Dir,
            Some("link") => FileKind::Link,
            Some("other") => FileKind::Other,
            _ => FileKind::Absent,
        };
        FileStat {
            kind,
            mode: get("mode").and_then(|m| u32::from_str_radix(m, 8).ok()),
            uid: get("uid").and_then(|u| u.parse().ok()),
            user: get("user").map(str::to_string),
            gid: get("gid").and_then(|g| g.parse().ok()),
            group: get("group").map(str::to_string),
            size: get("size").and_then(|s| s.parse().ok()),
            target: get("target").map(str::to_string),
            sha256: get("sha256").map(str::to_string),
        }
    }
}

/// What kind of thing is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Nothing.
    Absent,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Link,
    /// A device, socket or fifo.
    Other,
}

impl FileKind {
    /// A word for descriptions.
    pub fn word(self) -> &'static str {
        match self {
            FileKind::Absent => "nothing",
            FileKind::File => "a file",
            FileKind::Dir => "a directory",
            FileKind::Link => "a symlink",
            FileKind::Other => "a special file",
        }
    }
}

/// A path's type, mode, owner and (for files) SHA-256, as `dm_stat`/`dm_sha` printed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// What is there.
    pub kind: FileKind,
    /// Permission bits (e.g. `0o644`).
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner name (`UNKNOWN` when the uid has no name).
    pub user: Option<String>,
    /// Group gid.
    pub gid: Option<u32>,
    /// Group name.
    pub group: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// A symlink's target.
    pub target: Option<String>,
    /// Hex SHA-256 of a regular file's content.
    pub sha256: Option<String>,
}

impl FileStat {
    /// The commands that bring mode, owner and group of the existing path `quoted` (shell-quoted)
    /// to the wanted ones, with a description of each change (`mode 644 → 600`); nothing for
    /// what already matches or is not asked for. Shared by files and directories.
    ///
    /// The path was a file or directory when the facts were read; if it has become a symbolic
    /// link since (planted by whoever owns the directory), the commands refuse instead of
    /// changing where it points, and owner and group never follow a link (`chown -h`).
    pub(crate) fn attribute_changes(
        &self,
        quoted: &str,
        mode: Option<u32>,
        owner: Option<&str>,
        group: Option<&str>,
        changes: &mut Vec<String>,
        lines: &mut Vec<String>,
    ) {
        let start = lines.len();
        if let Some(m) = mode.filter(|&m| Some(m) != self.mode) {
            changes.push(format!(
                "mode {} → {}",
                self.mode.map(super::diff::mode).unwrap_or_default(),
                super::diff::mode(m)
            ));
            lines.push(format!("chmod {m:o} -- {quoted}"));
        }
        if let Some(o) = owner.filter(|o| !self.owner_is(o)) {
            changes.push(format!(
                "owner {} → {o}",
                self.user.as_deref().unwrap_or("?")
            ));
            lines.push(format!(
                "chown -h {} -- {quoted}",
                crate::quote::shell_quote(o)
            ));
        }
        if let Some(g) = group.filter(|g| !self.group_is(g)) {
            changes.push(format!(
                "group {} → {g}",
                self.group.as_deref().unwrap_or("?")
            ));
            lines.push(format!(
                "chgrp -h {} -- {quoted}",
                crate::quote::shell_quote(g)
            ));
        }
        if lines.len() > start {
            lines.insert(
                start,
                format!(
                    "if [ -L {quoted} ]; then echo {quoted}' is now a symbolic link; dm does not follow links: remove it and run again' >&2; exit 1; fi"
                ),
            );
        }
    }

    /// Whether the owner is `wanted`, given as a name or a numeric uid.
    pub fn owner_is(&self, wanted: &str) -> bool {
        self.user.as_deref() == Some(wanted)
            || wanted
                .parse::<u32>()
                .ok()
                .is_some_and(|u| self.uid == Some(u))
    }

    /// Whether the group is `wanted`, given as a name or a numeric gid.
    pub fn group_is(&self, wanted: &str) -> bool {
        self.group.as_deref() == Some(wanted)
            || wanted
                .parse::<u32>()
                .ok()
                .is_some_and(|g| self.gid == Some(g))
    }
}

/// Decodes standard base64 (with or without padding); `None` on a character outside the
/// alphabet.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Helpers for the unit tests of operations.
#[cfg(test)]
pub(crate) mod tests_support {
    /// Standard base64 with padding, as `base64 -w0` prints it.
    pub(crate) fn base64(bytes: &[u8]) -> String {
        crate::redact::encode_base64(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{HELPERS}\n{script}"))
            .output()
            .expect("sh runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn base64_round_trips_through_the_hosts_base64() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        let data: Vec<u8> = (0..=255u8).chain(b"tail\n".iter().copied()).collect();
        std::fs::write(&path, &data).expect("write");
        let fact = Fact::parse(&run_sh(&format!("dm_b64 content '{}'", path.display())));
        assert_eq!(fact.bytes("content"), Some(data.as_slice()));
    }

    #[test]
    fn stat_and_sha_describe_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let p = path.display();
        let fact = Fact::parse(&run_sh(&format!(
            "dm_stat f '{p}'; dm_sha f '{p}'; dm_stat d '{}'; dm_stat x '{p}.none'",
            dir.path().display()
        )));
        let stat = fact.stat("f");
        assert_eq!(stat.kind, FileKind::File);
        assert_eq!(stat.mode, Some(0o640));
        assert_eq!(stat.size, Some(6));
        assert_eq!(
            stat.sha256.as_deref(),
            Some(sha256_hex(b"hello\n").as_str())
        );
        assert_eq!(fact.stat("d").kind, FileKind::Dir);
        assert_eq!(fact.stat("x").kind, FileKind::Absent);
    }

    #[test]
    fn the_test_encoder_matches_the_decoder() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"hello world\n"] {
            let text = tests_support::base64(data);
            assert_eq!(decode_base64(&text).as_deref(), Some(data), "{text}");
        }
        assert_eq!(tests_support::base64(b"hello world\n"), "aGVsbG8gd29ybGQK");
    }

    #[test]
    fn repeated_keys_keep_every_value_and_junk_is_ignored() {
        let fact = Fact::parse("a=1\nnot a pair\na=2\nb=x=y\n");
        assert_eq!(fact.get("a"), Some("2"));
        assert_eq!(fact.all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(fact.get("b"), Some("x=y"));
        assert!(!fact.flag("missing"));
    }

    #[test]
    fn owner_matches_by_name_or_number() {
        let fact = Fact::parse("p.type=file\np.uid=33\np.user=www-data\np.gid=0\np.group=root\n");
        let stat = fact.stat("p");
        assert!(stat.owner_is("www-data") && stat.owner_is("33") && !stat.owner_is("root"));
        assert!(stat.group_is("root") && stat.group_is("0"));
    }
}
