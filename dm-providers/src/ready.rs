//! Waiting for a new server to be usable: the provider says it runs, and its SSH port takes a TCP
//! connection. "Running" alone is not enough: sshd starts seconds after the provider flips the
//! status, and the next step (provisioning) needs SSH.
//!
//! Here: how long and how to wait ([`Wait`]) and the SSH port probe. The polling loop is the
//! provided body of [`Provider::wait_ready`](crate::Provider::wait_ready), which asks the
//! provider for the server's status; this module knows nothing of providers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How long and how to wait for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Give up after this long.
    pub timeout: Duration,
    /// Time between two polls of the provider.
    pub poll_interval: Duration,
    /// The SSH port to probe (22; tests use a local listener's port).
    pub ssh_port: u16,
    /// Timeout of one TCP connection attempt.
    pub connect_timeout: Duration,
}

impl Default for Wait {
    /// 5 minutes, polling every 3 s, port 22, 3 s per connection attempt.
    fn default() -> Wait {
        Wait {
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(3),
            ssh_port: 22,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Whether a TCP connection to the SSH port succeeds; why not, in words, if it does not.
pub(crate) async fn probe(ip: Ipv4Addr, wait: &Wait) -> std::result::Result<(), String> {
    let addr = SocketAddr::from((ip, wait.ssh_port));
    match tokio::time::timeout(wait.connect_timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(format!("does not answer ({e})")),
        Err(_) => Err(format!(
            "did not answer within {}s",
            wait.connect_timeout.as_secs_f32()
        )),
    }
}
