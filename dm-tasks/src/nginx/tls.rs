//! A self-signed TLS certificate generated on the host, for development and test setups.

use dm_core::ops::{self, Step};
use dm_core::shell_quote;

/// Where a site's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate (PEM).
    pub certificate: String,
    /// The private key (PEM, mode 0600).
    pub key: String,
}

/// The directory of generated certificates (root only).
const TLS_DIR: &str = "/etc/nginx/dm-tls";

/// Adds to `step` a self-signed certificate for `common_name` (a domain, or the host's name),
/// generated on the host with openssl once (kept on later runs) under `/etc/nginx/dm-tls/`, named
/// after `site`; returns its paths. The private key never leaves the host.
pub fn self_signed_certificate(step: &mut Step<'_>, site: &str, common_name: &str) -> TlsFiles {
    let files = TlsFiles {
        certificate: format!("{TLS_DIR}/{site}.crt"),
        key: format!("{TLS_DIR}/{site}.key"),
    };
    step.add(ops::Apt::present(["openssl"]));
    step.add(ops::Directory::new(TLS_DIR).mode(0o700).owner("root"));
    // Written under temporary names and renamed, so an interrupted run leaves no half pair that
    // `creates` would take for done.
    let (crt, key) = (shell_quote(&files.certificate), shell_quote(&files.key));
    let subject = shell_quote(&format!("/CN={common_name}"));
    let alt_name = shell_quote(&format!("subjectAltName=DNS:{common_name}"));
    step.add(
        ops::Command::new(&format!(
            "umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj {subject} \
             -addext {alt_name} -keyout {key}.new -out {crt}.new && mv -f {key}.new {key} \
             && mv -f {crt}.new {crt} && chmod 644 {crt}"
        ))
        .creates(&files.certificate),
    );
    files
}
