//! Waiting for a new server to be usable: the provider says it runs, and its SSH port takes a TCP
//! connection. "Running" alone is not enough: sshd starts seconds after the provider flips the
//! status, and the next step (provisioning) needs SSH.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::provider::{Provider, Server, ServerStatus};

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

/// The body of [`Provider::wait_ready`]; usable by any provider.
pub async fn wait_ready<P: Provider + ?Sized>(
    provider: &P,
    id: &str,
    wait: &Wait,
) -> Result<Server> {
    let start = Instant::now();
    let mut name = id.to_string();
    loop {
        // A missing server will not appear by waiting; other errors (after the client's own
        // retries) end the wait too, with their own message.
        let server = provider.status(id).await?;
        name.clone_from(&server.name);
        let last = if server.status != ServerStatus::Running {
            format!("the provider says `{}`", server.status)
        } else {
            match server.address() {
                None => "running, but it has no IPv4 address yet".to_string(),
                Some(ip) => match probe(ip, wait).await {
                    Ok(()) => {
                        tracing::debug!(server = %server.name, %ip, "SSH port answers");
                        return Ok(server);
                    }
                    Err(why) => format!(
                        "the provider says running, but port {} on {ip} {why}",
                        wait.ssh_port
                    ),
                },
            }
        };
        let elapsed = start.elapsed();
        if elapsed >= wait.timeout {
            return Err(Error::NotReady {
                provider: provider.name().to_string(),
                name,
                waited: elapsed,
                last,
            });
        }
        tracing::trace!(server = %name, %last, "not ready yet");
        tokio::time::sleep(wait.poll_interval.min(wait.timeout - elapsed)).await;
    }
}

/// Whether a TCP connection to the SSH port succeeds; why not, in words, if it does not.
async fn probe(ip: Ipv4Addr, wait: &Wait) -> std::result::Result<(), String> {
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
