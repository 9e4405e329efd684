//! Host-key checking against known_hosts, done inside the russh client handler.
//!
//! The handler's error type carries dm's own [`Error`], so a refused key reaches the caller as
//! [`Error::HostKeyUnknown`] or [`Error::HostKeyChanged`] rather than as a generic handshake failure.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::keys::known_hosts::learn_known_hosts_path;
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg, PublicKey};
use russh::{Preferred, keys};

use super::known_hosts::{self, CertVerdict, Verdict};
use super::options::{ConnectOptions, HostKeyPolicy};
use crate::error::Error;
use crate::host::Host;

/// Serializes appends to known_hosts: many hosts of one run may be learned at the same time.
static LEARN_LOCK: Mutex<()> = Mutex::new(());

/// Why the russh client task stopped, as far as it told us; shared with the [`Session`](super::Session)
/// so that a lost connection can be explained.
pub(crate) type DisconnectReason = Arc<Mutex<Option<String>>>;

/// Error type of the russh handler: either russh's own or a dm error decided in a callback.
#[derive(Debug)]
pub(crate) enum HandlerError {
    /// A protocol or I/O error from russh.
    Ssh(russh::Error),
    /// A dm error (host key refused, known_hosts unreadable).
    Dm(Box<Error>),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> HandlerError {
        HandlerError::Ssh(e)
    }
}

/// The russh client handler of one connection: checks the host key and records why the
/// connection ended.
pub(crate) struct Client {
    host: String,
    address: String,
    port: u16,
    known_hosts: KnownHostsFiles,
    policy: HostKeyPolicy,
    disconnect: DisconnectReason,
}

impl Client {
    pub(crate) fn new(
        host: &Host,
        known_hosts: KnownHostsFiles,
        policy: HostKeyPolicy,
        disconnect: DisconnectReason,
    ) -> Client {
        Client {
            host: host.name.clone(),
            address: host.address.clone(),
            port: host.port,
            known_hosts,
            policy,
            disconnect,
        }
    }

    fn read_known_hosts(&self) -> Result<Vec<known_hosts::Entry>, Error> {
        known_hosts::read(&self.known_hosts.read).map_err(|(file, e)| Error::Connect {
            host: self.host.clone(),
            destination: format!("{}:{}", self.address, self.port),
            message: format!("cannot read known_hosts file {}: {e}", file.display()),
        })
    }

    /// A host certificate: trusted through an `@cert-authority` line for the host; otherwise,
    /// like OpenSSH, the key inside is checked as a plain key (a host whose key is recorded keeps
    /// working whatever certificate it has). A certificate that an authority trusted for the host
    /// does not vouch for is refused unless that key is recorded on its own.
    fn check_certificate(&self, cert: &Certificate) -> Result<(), Error> {
        let key = PublicKey::new(cert.public_key().clone(), "");
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let entries = self.read_known_hosts()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match known_hosts::certificate_verdict(&entries, &self.address, self.port, cert, now) {
            CertVerdict::Trusted { file, line } => {
                tracing::debug!(host = %self.host, %fingerprint, authority = %format!("{}:{line}", file.display()), "host certificate signed by a trusted authority");
                Ok(())
            }
            CertVerdict::Revoked {
                fingerprint,
                file,
                line,
            } => Err(Error::HostKeyRevoked {
                host: self.host.clone(),
                address: self.address.clone(),
                fingerprint,
                known_hosts: file,
                line,
            }),
            CertVerdict::NoAuthority => self.check_key(&entries, &key),
            CertVerdict::Invalid(reason) => {
                match known_hosts::verdict(&entries, &self.address, self.port, &key) {
                    Verdict::Known => {
                        tracing::debug!(host = %self.host, %fingerprint, %reason, "host certificate refused, but its key is recorded");
                        Ok(())
                    }
                    // Revoked keys were refused above, with the certificate's verdict.
                    Verdict::Revoked { .. } | Verdict::Changed { .. } | Verdict::Unknown => {
                        Err(Error::HostCertificateRefused {
                            host: self.host.clone(),
                            address: self.address.clone(),
                            fingerprint,
                            reason,
                        })
                    }
                }
            }
        }
    }

    fn check(&self, key: &PublicKey) -> Result<(), Error> {
        let entries = self.read_known_hosts()?;
        self.check_key(&entries, key)
    }

    fn check_key(&self, entries: &[known_hosts::Entry], key: &PublicKey) -> Result<(), Error> {
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        match known_hosts::verdict(entries, &self.address, self.port, key) {
            Verdict::Known => {
                tracing::debug!(host = %self.host, %fingerprint, "host key matches known_hosts");
                Ok(())
            }
            Verdict::Revoked { file, line } => Err(Error::HostKeyRevoked {
                host: self.host.clone(),
                address: self.address.clone(),
                fingerprint,
                known_hosts: file,
                line,
            }),
            // Known with other keys, maybe of another algorithm (say ed25519, while this server
            // offers only RSA): the host is known, and this is not its key. Learning it would
            // let a man in the middle who offers another algorithm in.
            Verdict::Changed { file, line } => Err(Error::HostKeyChanged {
                host: self.host.clone(),
                address: self.address.clone(),
                fingerprint,
                known_hosts: file,
                line,
            }),
            Verdict::Unknown => match self.policy {
                HostKeyPolicy::Strict => Err(Error::HostKeyUnknown {
                    host: self.host.clone(),
                    address: self.address.clone(),
                    port: self.port,
                    fingerprint,
                    known_hosts: self.known_hosts.record.clone(),
                }),
                HostKeyPolicy::AcceptNew => {
                    let _guard = LEARN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
                    learn_known_hosts_path(&self.address, self.port, key, &self.known_hosts.record)
                        .map_err(|e| self.known_hosts_error("cannot record the host key in", e))?;
                    tracing::info!(host = %self.host, %fingerprint, known_hosts = %self.known_hosts.record.display(), "recorded new host key");
                    // Said out loud: trusting a key on first use is a decision the user should see.
                    eprintln!(
                        "{}: recorded its host key {fingerprint} for {}:{} in {} (--accept-new-host-keys)",
                        self.host,
                        self.address,
                        self.port,
                        self.known_hosts.record.display()
                    );
                    Ok(())
                }
            },
        }
    }

    fn known_hosts_error(&self, what: &str, e: keys::Error) -> Error {
        Error::Connect {
            host: self.host.clone(),
            destination: format!("{}:{}", self.address, self.port),
            message: format!(
                "{what} known_hosts file {}: {e}; fix or remove the offending line",
                self.known_hosts.record.display()
            ),
        }
    }
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, HandlerError> {
        match server_public_key {
            PublicKeyOrCertificate::Certificate(cert) => self.check_certificate(cert),
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check(key),
        }
        .map(|()| true)
        .map_err(|e| HandlerError::Dm(Box::new(e)))
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<HandlerError>,
    ) -> Result<(), HandlerError> {
        let why = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("the server closed the connection ({})", info.message)
            }
            client::DisconnectReason::Error(HandlerError::Ssh(
                russh::Error::KeepaliveTimeout | russh::Error::InactivityTimeout,
            )) => "the server stopped answering (keepalive timeout)".to_string(),
            client::DisconnectReason::Error(HandlerError::Ssh(russh::Error::Disconnect)) => {
                "the server closed the connection".to_string()
            }
            client::DisconnectReason::Error(HandlerError::Ssh(russh::Error::IO(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                format!("the connection was cut ({e}): the server or the network went away")
            }
            client::DisconnectReason::Error(e) => describe(e),
        };
        tracing::debug!(host = %self.host, reason = %why, "disconnected");
        if let Ok(mut slot) = self.disconnect.lock() {
            slot.get_or_insert(why);
        }
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(e) => Err(e),
        }
    }
}

/// A short human description of a handler error.
pub(crate) fn describe(e: &HandlerError) -> String {
    match e {
        HandlerError::Ssh(e) => e.to_string(),
        HandlerError::Dm(e) => e.to_string(),
    }
}

/// The known_hosts files of one host: the user's (ssh config's `UserKnownHostsFile` for it, unless
/// the run was given a file; else the run's file), then the system-wide ones (ssh config's
/// `GlobalKnownHostsFile`, else the two OpenSSH reads).
#[derive(Debug, Clone)]
pub(crate) struct KnownHostsFiles {
    /// Where a new key is recorded (`--accept-new-host-keys`): the first user file.
    pub record: PathBuf,
    /// Every file read, in order.
    pub read: Vec<PathBuf>,
}

impl KnownHostsFiles {
    /// The files for `host` under `opts`.
    pub(crate) fn for_host(host: &Host, opts: &ConnectOptions) -> KnownHostsFiles {
        let user = match &host.user_known_hosts {
            Some(files) if !opts.known_hosts_given && !files.is_empty() => files.clone(),
            _ => vec![opts.known_hosts.clone()],
        };
        let global = host.global_known_hosts.clone().unwrap_or_else(|| {
            vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ]
        });
        let record = user[0].clone();
        let mut read = user;
        read.extend(global);
        KnownHostsFiles { record, read }
    }
}

/// Host-key algorithms to negotiate, those already recorded for this host first; host
/// certificates too when a `@cert-authority` line is about this host.
///
/// A server with several host keys (ed25519, ecdsa, rsa) offers all of them; if we negotiated one
/// that is not the recorded one, the check would say "unknown" for a host the user knows.
/// Certificates are asked for only where an authority is trusted: a host known by a plain key
/// that also has a certificate (maybe for another of its keys) is reached as before.
pub(crate) fn preferred_for(address: &str, port: u16, known_hosts: &KnownHostsFiles) -> Preferred {
    let mut defaults = Preferred::default();
    let entries = known_hosts::read(&known_hosts.read).unwrap_or_default();
    if known_hosts::has_authority_for(&entries, address, port) {
        defaults.host_key_certificates = Cow::Owned(
            defaults
                .key
                .iter()
                .filter(|a| !matches!(a, Algorithm::Other(_)))
                .cloned()
                .collect(),
        );
    }
    let recorded = known_hosts::recorded_for(&entries, address, port);
    if recorded.is_empty() {
        return defaults;
    }
    let mut order: Vec<Algorithm> = Vec::new();
    for key in recorded.iter().map(|entry| &entry.key) {
        let algorithm = key.algorithm();
        // A recorded `ssh-rsa` key is used with the SHA-2 signature algorithms.
        let candidates: Vec<Algorithm> = if matches!(algorithm, Algorithm::Rsa { .. }) {
            defaults
                .key
                .iter()
                .filter(|a| matches!(a, Algorithm::Rsa { .. }))
                .cloned()
                .collect()
        } else {
            vec![algorithm]
        };
        for a in candidates {
            if !order.contains(&a) {
                order.push(a);
            }
        }
    }
    for a in defaults.key.iter() {
        if !order.contains(a) {
            order.push(a.clone());
        }
    }
    Preferred {
        key: Cow::Owned(order),
        ..defaults
    }
}
