//! Where the server listens, and whether it may: beyond loopback, API tokens and job logs would
//! cross the network in clear, so `serve` listens there only with TLS of its own or when told that
//! a proxy in front of it terminates TLS (`--behind-proxy`).

use std::net::SocketAddr;
use std::path::PathBuf;

/// The default address: loopback, on Elita's port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2718";

/// How the server listens, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenPlan {
    /// The socket address.
    pub addr: SocketAddr,
    /// The certificate chain and private key (PEM files) when the server speaks TLS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// What the command line says about listening.
#[derive(Debug, Clone, Default)]
pub struct ListenRequest {
    /// `--listen` (default [`DEFAULT_LISTEN`]).
    pub listen: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--behind-proxy`: a proxy in front terminates TLS.
    pub behind_proxy: bool,
}

impl ListenRequest {
    /// Checks the request: a parseable address; TLS needs both files; an address beyond
    /// loopback needs TLS or `--behind-proxy`. The error says why and what to do.
    pub fn plan(&self) -> Result<ListenPlan, String> {
        let text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let addr: SocketAddr = text.parse().map_err(|_| {
            format!(
                "--listen {text}: not an address and port (e.g. {DEFAULT_LISTEN}, or [::1]:2718)"
            )
        })?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            (Some(_), None) => return Err("--tls-cert needs --tls-key (its private key)".into()),
            (None, Some(_)) => {
                return Err("--tls-key needs --tls-cert (its certificate chain)".into());
            }
        };
        if !addr.ip().is_loopback() && tls.is_none() && !self.behind_proxy {
            return Err(format!(
                "refusing to listen on {addr} without TLS: API tokens and job logs would cross \
                 the network in clear. Give --tls-cert FILE --tls-key FILE, or --behind-proxy \
                 when a proxy in front of serve terminates TLS, or listen on loopback \
                 ({DEFAULT_LISTEN})"
            ));
        }
        Ok(ListenPlan { addr, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(listen: &str) -> ListenRequest {
        ListenRequest {
            listen: Some(listen.to_string()),
            ..ListenRequest::default()
        }
    }

    #[test]
    fn loopback_is_the_default_and_needs_nothing() {
        let plan = ListenRequest::default().plan().unwrap();
        assert_eq!(plan.addr.to_string(), DEFAULT_LISTEN);
        assert_eq!(plan.tls, None);
        assert!(request("[::1]:9000").plan().is_ok());
    }

    #[test]
    fn beyond_loopback_needs_tls_or_a_proxy() {
        let refused = request("0.0.0.0:2718").plan().unwrap_err();
        assert!(refused.contains("without TLS"), "{refused}");
        assert!(refused.contains("--behind-proxy"), "{refused}");
        let proxied = ListenRequest {
            behind_proxy: true,
            ..request("0.0.0.0:2718")
        };
        assert!(proxied.plan().is_ok());
        let tls = ListenRequest {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..request("10.0.0.1:443")
        };
        assert!(tls.plan().unwrap().tls.is_some());
    }

    #[test]
    fn half_a_tls_pair_and_bad_addresses_are_refused() {
        let half = ListenRequest {
            tls_cert: Some("c.pem".into()),
            ..ListenRequest::default()
        };
        assert!(half.plan().unwrap_err().contains("--tls-key"));
        assert!(
            request("localhost")
                .plan()
                .unwrap_err()
                .contains("--listen")
        );
    }
}
