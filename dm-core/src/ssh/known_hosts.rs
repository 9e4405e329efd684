//! Reading known_hosts files the way OpenSSH does: host patterns with `*`, `?` and `!`, hashed
//! names, `[host]:port`, and the `@revoked` and `@cert-authority` markers; lines that cannot be
//! read are skipped, like sshd does, instead of making the whole file unusable.
//!
//! A host that presents a certificate is trusted when a `@cert-authority` line for its name
//! names the key that signed it and the certificate is a valid host certificate for that name
//! (see `certificate_verdict`).
//!
//! Writing is here too, so the file format has one home: dm's local machines record the host
//! keys dm generated for them ([`record_host_key`], [`forget_host_key`]) and the test harness
//! writes a file of its own ([`write_host_keys`]), always aside and renamed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Certificate, HashAlg, PublicKey};
use sha1::Sha1;

/// What the known_hosts files say about the key a host offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line for this host records exactly this key.
    Known,
    /// The key is marked `@revoked`: never accepted, for any host.
    Revoked {
        /// The file with the `@revoked` line.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
    },
    /// The host is known, with other keys (of this algorithm or another): possibly an attack.
    Changed {
        /// The file of the first key recorded for the host.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
    },
    /// No line is about this host.
    Unknown,
}

/// What the known_hosts files say about a host certificate a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertVerdict {
    /// Signed by an authority trusted for this host, valid now, a host certificate for its name.
    Trusted {
        /// The file with the `@cert-authority` line.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
    },
    /// The authority's key or the host's key is marked `@revoked`.
    Revoked {
        /// The fingerprint of the revoked key.
        fingerprint: String,
        /// The file with the `@revoked` line.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
    },
    /// Authorities are trusted for this host, but this certificate does not pass: why, in words.
    Invalid(String),
    /// No `@cert-authority` line is about this host: the key inside is checked as a plain key.
    NoAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The file it is in.
    pub file: PathBuf,
    /// Its 1-based line number.
    pub line: usize,
    /// `@revoked`, `@cert-authority`, or none.
    marker: Option<Marker>,
    /// The comma-separated host patterns.
    patterns: String,
    /// The key.
    pub key: PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Revoked,
    CertAuthority,
}

/// The entries of `files`, in order; files that do not exist have none.
pub(crate) fn read(files: &[PathBuf]) -> Result<Vec<Entry>, (PathBuf, std::io::Error)> {
    let mut entries = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err((file.clone(), e)),
        };
        for (index, raw) in text.lines().enumerate() {
            if let Some(entry) = parse_line(file, index + 1, raw) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

fn parse_line(file: &Path, line: usize, raw: &str) -> Option<Entry> {
    let text = raw.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut words = text.split_whitespace();
    let mut first = words.next()?;
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        other if other.starts_with('@') => {
            tracing::debug!(file = %file.display(), line, "unknown known_hosts marker {other}");
            return None;
        }
        _ => None,
    };
    if marker.is_some() {
        first = words.next()?;
    }
    let (algorithm, base64) = (words.next()?, words.next()?);
    let key = match PublicKey::from_openssh(&format!("{algorithm} {base64}")) {
        Ok(key) => key,
        Err(e) => {
            tracing::debug!(file = %file.display(), line, "unreadable known_hosts key: {e}");
            return None;
        }
    };
    Some(Entry {
        file: file.to_path_buf(),
        line,
        marker,
        patterns: first.to_string(),
        key,
    })
}

/// The name OpenSSH looks up for `address` and `port`: `address`, or `[address]:port`.
fn lookup_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

impl Entry {
    /// Whether this line is about `address:port`: some pattern matches and no negated one does.
    fn is_for(&self, address: &str, port: u16) -> bool {
        let name = lookup_name(address, port);
        let mut matched = false;
        for pattern in self.patterns.split(',') {
            if let Some(negated) = pattern.strip_prefix('!') {
                if pattern_matches(negated, &name) {
                    return false;
                }
            } else if pattern_matches(pattern, &name) {
                matched = true;
            }
        }
        matched
    }

    /// A plain line (no marker) recording a host key.
    fn is_plain(&self) -> bool {
        self.marker.is_none()
    }
}

/// The keys recorded for `address:port` by plain lines (not revoked, not CAs).
pub(crate) fn recorded_for<'e>(entries: &'e [Entry], address: &str, port: u16) -> Vec<&'e Entry> {
    entries
        .iter()
        .filter(|e| e.is_plain() && e.is_for(address, port))
        .collect()
}

/// What `entries` say about `key` offered by `address:port`.
pub(crate) fn verdict(entries: &[Entry], address: &str, port: u16, key: &PublicKey) -> Verdict {
    // A revoked key is refused whoever offers it.
    if let Some(revoked) = entries
        .iter()
        .find(|e| e.marker == Some(Marker::Revoked) && e.key.key_data() == key.key_data())
    {
        return Verdict::Revoked {
            file: revoked.file.clone(),
            line: revoked.line,
        };
    }
    let recorded = recorded_for(entries, address, port);
    if recorded.iter().any(|e| e.key.key_data() == key.key_data()) {
        return Verdict::Known;
    }
    match recorded.first() {
        Some(first) => Verdict::Changed {
            file: first.file.clone(),
            line: first.line,
        },
        None => Verdict::Unknown,
    }
}

/// What `entries` say about the certificate `cert` presented by `address:port` at `now` (Unix
/// seconds), as OpenSSH checks it: neither the signing authority's key nor the host key is
/// revoked, an authority line for the host names the signing key, the signature verifies, `now`
/// is within the validity window, it is a host certificate, `address` is among its principals
/// (an empty list is refused: dm wants the authority to say which host it vouches for) and it
/// has no critical options (none are defined for host certificates).
pub(crate) fn certificate_verdict(
    entries: &[Entry],
    address: &str,
    port: u16,
    cert: &Certificate,
    now: u64,
) -> CertVerdict {
    let authority = cert.signature_key();
    let host_key = cert.public_key();
    if let Some(revoked) = entries.iter().find(|e| {
        e.marker == Some(Marker::Revoked)
            && (e.key.key_data() == authority || e.key.key_data() == host_key)
    }) {
        return CertVerdict::Revoked {
            fingerprint: fingerprint(revoked.key.key_data()),
            file: revoked.file.clone(),
            line: revoked.line,
        };
    }
    let authorities: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker == Some(Marker::CertAuthority) && e.is_for(address, port))
        .collect();
    if authorities.is_empty() {
        return CertVerdict::NoAuthority;
    }
    let signer = fingerprint(authority);
    let Some(trusted) = authorities.iter().find(|e| e.key.key_data() == authority) else {
        return CertVerdict::Invalid(format!(
            "it is signed by {signer}, which no @cert-authority line for {} names",
            lookup_name(address, port)
        ));
    };
    let place = format!("{}:{}", trusted.file.display(), trusted.line);
    if cert.cert_type() != CertType::Host {
        return CertVerdict::Invalid("it is a user certificate, not a host certificate".into());
    }
    if now < cert.valid_after() {
        return CertVerdict::Invalid(format!(
            "it is not valid before {} (Unix time; now {now})",
            cert.valid_after()
        ));
    }
    if now >= cert.valid_before() {
        return CertVerdict::Invalid(format!(
            "it expired at {} (Unix time; now {now})",
            cert.valid_before()
        ));
    }
    if cert
        .validate_at(now, [&authority.fingerprint(HashAlg::Sha256)])
        .is_err()
    {
        return CertVerdict::Invalid(format!(
            "its signature does not verify with the authority key {signer} ({place})"
        ));
    }
    if !cert.valid_principals().iter().any(|p| p == address) {
        return CertVerdict::Invalid(format!(
            "{address} is not among its principals ({})",
            if cert.valid_principals().is_empty() {
                "none listed".to_string()
            } else {
                cert.valid_principals().join(", ")
            }
        ));
    }
    if !cert.critical_options().is_empty() {
        let names: Vec<&str> = cert.critical_options().keys().map(String::as_str).collect();
        return CertVerdict::Invalid(format!(
            "it has critical options dm does not know ({})",
            names.join(", ")
        ));
    }
    CertVerdict::Trusted {
        file: trusted.file.clone(),
        line: trusted.line,
    }
}

/// Whether some `@cert-authority` line is about `address:port`: then certificates are asked for.
pub(crate) fn has_authority_for(entries: &[Entry], address: &str, port: u16) -> bool {
    entries
        .iter()
        .any(|e| e.marker == Some(Marker::CertAuthority) && e.is_for(address, port))
}

/// The `SHA256:...` fingerprint of a key, as ssh prints it.
fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// One pattern against a host name: `*` and `?` wildcards, or a hashed name (`|1|salt|hash`).
fn pattern_matches(pattern: &str, name: &str) -> bool {
    if let Some(hashed) = pattern.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    glob(
        pattern.as_bytes(),
        name.to_ascii_lowercase().as_bytes(),
        true,
    )
}

/// `salt|hash` (both base64) is HMAC-SHA1(salt, name).
fn hashed_matches(salt_and_hash: &str, name: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    Hmac::<Sha1>::new_from_slice(&salt).is_ok_and(|mac| {
        mac.chain_update(name.as_bytes())
            .verify_slice(&hash)
            .is_ok()
    })
}

/// Glob matching with `*` (any run) and `?` (one character), case-insensitively for names.
fn glob(pattern: &[u8], name: &[u8], fold: bool) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut resume) = (None, 0);
    while n < name.len() {
        let same = |a: u8, b: u8| {
            if fold {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        if p < pattern.len() && (pattern[p] == b'?' || same(pattern[p], name[n])) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            resume = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            resume += 1;
            n = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A known_hosts file could not be changed: what was being done, to which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct UpdateError {
    /// What failed, e.g. "cannot write".
    pub action: &'static str,
    /// The file or directory involved.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl UpdateError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> UpdateError {
        UpdateError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The known_hosts line saying that `host` (port 22) has host key `key_line`
/// (`ALGORITHM BASE64`, as `ssh-keyscan` or a `.pub` file without its comment gives it).
pub fn host_line(host: &str, key_line: &str) -> String {
    format!("{host} {}", key_line.trim())
}

/// Makes `path` say that `host` (port 22) has host key `key_line` (`ssh-ed25519 BASE64`),
/// replacing earlier plain lines for that host. Creates the file (and its directory) if
/// needed; written aside and renamed, so a concurrent reader never sees half a file.
///
/// Only plain (unhashed) lines naming exactly `host` are replaced: those are the ones written
/// here. Every other line is kept as it is.
pub fn record_host_key(path: &Path, host: &str, key_line: &str) -> Result<(), UpdateError> {
    let _lock = lock(path)?;
    let mut lines = lines_without(path, host)?;
    lines.push(host_line(host, key_line));
    write_lines(path, &lines)
}

/// Removes the plain lines naming exactly `host` from `path` (a missing file is fine).
pub fn forget_host_key(path: &Path, host: &str) -> Result<(), UpdateError> {
    if !path.exists() {
        return Ok(());
    }
    let _lock = lock(path)?;
    let lines = lines_without(path, host)?;
    write_lines(path, &lines)
}

/// Replaces `path` with one line per `(host, key_line)` (see [`host_line`]), written aside and
/// renamed, so an `ssh` reading it meanwhile never sees half a file.
pub fn write_host_keys<'a>(
    path: &Path,
    keys: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<(), UpdateError> {
    let lines: Vec<String> = keys
        .into_iter()
        .map(|(host, key_line)| host_line(&host, key_line))
        .collect();
    write_lines(path, &lines)
}

/// Takes an exclusive lock for changing `path`, held until the returned file is dropped.
///
/// Machines boot in parallel and each records its key: without the lock, two read-modify-write
/// rounds overlap and one key is lost (a scale test then met "host key ... is not known"). The
/// lock is a sidecar file because the known_hosts file itself is replaced by a rename.
fn lock(path: &Path) -> Result<fs::File, UpdateError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| UpdateError::new("cannot create", parent, e))?;
    }
    let mut lock_path = path.as_os_str().to_os_string();
    lock_path.push(".dm-lock");
    let lock_path = PathBuf::from(lock_path);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| UpdateError::new("cannot open", &lock_path, e))?;
    file.lock()
        .map_err(|e| UpdateError::new("cannot lock", &lock_path, e))?;
    Ok(file)
}

/// The file's lines, without those whose host field is exactly `host`.
fn lines_without(path: &Path, host: &str) -> Result<Vec<String>, UpdateError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(UpdateError::new("cannot read", path, e)),
    };
    Ok(text
        .lines()
        .filter(|line| {
            let hosts = line.split_whitespace().next().unwrap_or_default();
            !hosts.split(',').any(|name| name == host)
        })
        .map(str::to_string)
        .collect())
}

/// Writes `lines` to a temporary file next to `path` and renames it over `path`.
fn write_lines(path: &Path, lines: &[String]) -> Result<(), UpdateError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| UpdateError::new("cannot create", parent, e))?;
    }
    let mut scratch = path.as_os_str().to_os_string();
    // Unique per process and thread: writers in one process must not share a scratch file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    scratch.push(format!(".dm-{}-{n}", std::process::id()));
    let scratch = PathBuf::from(scratch);
    let mut file =
        fs::File::create(&scratch).map_err(|e| UpdateError::new("cannot write", &scratch, e))?;
    for line in lines {
        writeln!(file, "{line}").map_err(|e| UpdateError::new("cannot write", &scratch, e))?;
    }
    file.sync_all()
        .map_err(|e| UpdateError::new("cannot write", &scratch, e))?;
    fs::rename(&scratch, path).map_err(|e| UpdateError::new("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    use russh::keys::ssh_key::public::{Ed25519PublicKey, KeyData};

    /// An ed25519 public key of 32 `byte`s, as a known_hosts line writes it.
    fn key_text(byte: u8) -> String {
        PublicKey::new(KeyData::Ed25519(Ed25519PublicKey([byte; 32])), "")
            .to_openssh()
            .expect("openssh text")
    }

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).expect("a key")
    }

    fn entries(text: &str) -> Vec<Entry> {
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| parse_line(Path::new("kh"), i + 1, l))
            .collect()
    }

    #[test]
    fn patterns_wildcards_ports_and_negation() {
        let ed = &key_text(1);
        let e = entries(&format!(
            "*.example.com,!bad.example.com {ed}\n[10.0.0.?]:2222 {ed}\n10.0.0.5 {ed}\n"
        ));
        assert_eq!(verdict(&e, "web.example.com", 22, &key(ed)), Verdict::Known);
        assert_eq!(verdict(&e, "WEB.Example.com", 22, &key(ed)), Verdict::Known);
        assert_eq!(
            verdict(&e, "bad.example.com", 22, &key(ed)),
            Verdict::Unknown
        );
        assert_eq!(verdict(&e, "10.0.0.7", 2222, &key(ed)), Verdict::Known);
        assert_eq!(verdict(&e, "10.0.0.7", 22, &key(ed)), Verdict::Unknown);
        assert_eq!(verdict(&e, "10.0.0.5", 22, &key(ed)), Verdict::Known);
    }

    #[test]
    fn another_key_for_a_known_host_is_a_change() {
        let (ed, other) = (&key_text(1), &key_text(2));
        let e = entries(&format!("# comment\n\n10.0.0.5 {ed}\n"));
        assert_eq!(
            verdict(&e, "10.0.0.5", 22, &key(other)),
            Verdict::Changed {
                file: PathBuf::from("kh"),
                line: 3
            }
        );
    }

    #[test]
    fn a_revoked_key_is_refused_even_where_it_is_also_recorded() {
        let (ed, other) = (&key_text(1), &key_text(2));
        let e = entries(&format!("10.0.0.5 {ed}\n@revoked * {ed}\n"));
        assert_eq!(
            verdict(&e, "10.0.0.5", 22, &key(ed)),
            Verdict::Revoked {
                file: PathBuf::from("kh"),
                line: 2
            }
        );
        assert_eq!(
            verdict(&e, "10.0.0.5", 22, &key(other)),
            Verdict::Changed {
                file: PathBuf::from("kh"),
                line: 1
            }
        );
    }

    use russh::keys::ssh_key::PrivateKey;
    use russh::keys::ssh_key::certificate::Builder;
    use russh::keys::ssh_key::private::Ed25519Keypair;

    /// An ed25519 private key from a fixed seed.
    fn private(seed: u8) -> PrivateKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
    }

    /// The public key of `private(seed)`, as a known_hosts line writes it.
    fn public_text(seed: u8) -> String {
        private(seed)
            .public_key()
            .to_openssh()
            .expect("openssh text")
    }

    const NOW: u64 = 1_800_000_000;

    /// A certificate of host key `host` signed by `ca`, valid an hour around NOW unless
    /// `window` says otherwise.
    fn cert(
        ca: u8,
        host: u8,
        cert_type: CertType,
        principals: &[&str],
        window: (u64, u64),
    ) -> Certificate {
        let mut builder = Builder::new(
            [7u8; 16],
            private(host).public_key().key_data().clone(),
            window.0,
            window.1,
        )
        .expect("builder");
        builder.cert_type(cert_type).expect("type");
        builder.key_id("test").expect("key id");
        for p in principals {
            builder.valid_principal(*p).expect("principal");
        }
        if principals.is_empty() {
            builder.all_principals_valid().expect("all principals");
        }
        builder.sign(&private(ca)).expect("signed")
    }

    const HOUR: (u64, u64) = (NOW - 3600, NOW + 3600);

    #[test]
    fn a_host_certificate_from_an_authority_for_the_host_is_trusted() {
        let e = entries(&format!(
            "# the fleet's CA\n@cert-authority *.example.com,10.0.0.* {}\n",
            public_text(1)
        ));
        let c = cert(1, 2, CertType::Host, &["web.example.com", "10.0.0.5"], HOUR);
        let trusted = CertVerdict::Trusted {
            file: PathBuf::from("kh"),
            line: 2,
        };
        assert_eq!(
            certificate_verdict(&e, "web.example.com", 22, &c, NOW),
            trusted
        );
        assert_eq!(certificate_verdict(&e, "10.0.0.5", 22, &c, NOW), trusted);
        // No authority line covers this name: the key inside is checked as a plain key.
        assert_eq!(
            certificate_verdict(&e, "web.example.org", 22, &c, NOW),
            CertVerdict::NoAuthority
        );
        assert!(has_authority_for(&e, "db.example.com", 22));
        assert!(!has_authority_for(&e, "db.example.org", 22));
    }

    fn invalid(verdict: CertVerdict, wanted: &str) {
        match verdict {
            CertVerdict::Invalid(reason) => {
                assert!(reason.contains(wanted), "{reason:?} lacks {wanted:?}")
            }
            other => panic!("expected an invalid certificate ({wanted}), got {other:?}"),
        }
    }

    #[test]
    fn certificates_the_authority_does_not_vouch_for_are_invalid() {
        let e = entries(&format!(
            "@cert-authority *.example.com {}\n",
            public_text(1)
        ));
        let host = "web.example.com";
        let check = |c: &Certificate| certificate_verdict(&e, host, 22, c, NOW);
        invalid(
            check(&cert(1, 2, CertType::Host, &["db.example.com"], HOUR)),
            "web.example.com is not among its principals (db.example.com)",
        );
        invalid(
            check(&cert(1, 2, CertType::Host, &[], HOUR)),
            "not among its principals (none listed)",
        );
        invalid(
            check(&cert(3, 2, CertType::Host, &[host], HOUR)),
            "which no @cert-authority line for web.example.com names",
        );
        invalid(
            check(&cert(1, 2, CertType::User, &[host], HOUR)),
            "not a host certificate",
        );
        invalid(
            check(&cert(
                1,
                2,
                CertType::Host,
                &[host],
                (NOW - 7200, NOW - 3600),
            )),
            "expired at",
        );
        invalid(
            check(&cert(1, 2, CertType::Host, &[host], (NOW + 60, NOW + 3600))),
            "not valid before",
        );
        // Signed by key 3 but claiming key 1, the trusted authority, as its signer.
        let by_3 = cert(3, 2, CertType::Host, &[host], HOUR);
        let tampered = splice_signer(
            &by_3.to_openssh().expect("encode"),
            private(3).public_key().key_data(),
            private(1).public_key().key_data(),
        );
        invalid(check(&tampered), "its signature does not verify");
    }

    /// `text` (an OpenSSH certificate) with the signer key `from` replaced by `to`.
    fn splice_signer(text: &str, from: &KeyData, to: &KeyData) -> Certificate {
        let mut words = text.split_whitespace();
        let algorithm = words.next().expect("algorithm");
        let mut blob = BASE64
            .decode(words.next().expect("base64").as_bytes())
            .expect("b64");
        // Ed25519 keys: their 32 bytes appear once, in the signer's field.
        let a = from.ed25519().expect("ed25519").0.to_vec();
        let b = to.ed25519().expect("ed25519").0.to_vec();
        let at = blob
            .windows(a.len())
            .position(|w| w == a.as_slice())
            .expect("signer in the certificate");
        blob.splice(at..at + a.len(), b);
        Certificate::from_openssh(&format!("{algorithm} {}", BASE64.encode(&blob))).expect("decode")
    }

    #[test]
    fn a_revoked_authority_or_host_key_refuses_the_certificate() {
        let c = cert(1, 2, CertType::Host, &["web.example.com"], HOUR);
        for revoked in [1, 2] {
            let e = entries(&format!(
                "@cert-authority *.example.com {}\n@revoked * {}\n",
                public_text(1),
                public_text(revoked)
            ));
            assert_eq!(
                certificate_verdict(&e, "web.example.com", 22, &c, NOW),
                CertVerdict::Revoked {
                    fingerprint: fingerprint(private(revoked).public_key().key_data()),
                    file: PathBuf::from("kh"),
                    line: 2
                }
            );
        }
    }

    #[test]
    fn cert_authority_lines_are_not_host_keys_and_bad_lines_are_skipped() {
        let ed = &key_text(1);
        let e = entries(&format!(
            "@cert-authority *.example.com {ed}\nbroken-line\n10.0.0.6 ssh-ed25519 not-base64\n"
        ));
        assert_eq!(e.len(), 1);
        assert_eq!(
            verdict(&e, "web.example.com", 22, &key(ed)),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_names_match_like_openssh_writes_them() {
        let ed = &key_text(1);
        // `ssh-keygen -H` of "10.231.0.5", salt of 20 zero bytes.
        let salt = [0u8; 20];
        let mac = Hmac::<Sha1>::new_from_slice(&salt)
            .expect("hmac")
            .chain_update(b"10.231.0.5")
            .finalize()
            .into_bytes();
        let line = format!("|1|{}|{} {ed}", BASE64.encode(&salt), BASE64.encode(&mac));
        let e = entries(&line);
        assert_eq!(verdict(&e, "10.231.0.5", 22, &key(ed)), Verdict::Known);
        assert_eq!(verdict(&e, "10.231.0.6", 22, &key(ed)), Verdict::Unknown);
    }

    #[test]
    fn glob_matches_like_openssh() {
        assert!(glob(b"*", b"anything", true));
        assert!(glob(b"a*c", b"abbbc", true));
        assert!(glob(b"a?c", b"abc", true));
        assert!(!glob(b"a?c", b"abbc", true));
        assert!(!glob(b"a*d", b"abc", true));
    }

    #[test]
    fn recording_replaces_only_the_host_own_plain_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let host = "10.231.255.2";
        fs::write(
            &path,
            "10.231.255.2 ssh-ed25519 OLD\n10.231.255.20 ssh-ed25519 OTHER\n|1|hash= ssh-rsa X\n",
        )
        .unwrap();
        record_host_key(&path, host, "ssh-ed25519 NEW").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "10.231.255.20 ssh-ed25519 OTHER\n|1|hash= ssh-rsa X\n10.231.255.2 ssh-ed25519 NEW\n"
        );
        forget_host_key(&path, host).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("NEW"), "{text}");
        assert!(text.contains("OTHER"), "{text}");
    }

    #[test]
    fn keys_recorded_from_many_threads_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let threads: Vec<_> = (1..=16u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    record_host_key(&path, &format!("10.0.0.{i}"), "ssh-ed25519 KEY").unwrap();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 16, "{text}");
    }

    #[test]
    fn written_lines_are_read_back_as_the_hosts_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let (one, two) = (key_text(1), key_text(2));
        write_host_keys(
            &path,
            [
                ("10.0.0.1".to_string(), one.as_str()),
                ("10.0.0.2".to_string(), two.as_str()),
            ],
        )
        .unwrap();
        let entries = read(std::slice::from_ref(&path)).unwrap();
        assert_eq!(
            verdict(&entries, "10.0.0.1", 22, &key(&one)),
            Verdict::Known
        );
        assert_eq!(
            verdict(&entries, "10.0.0.2", 22, &key(&two)),
            Verdict::Known
        );
    }
}
