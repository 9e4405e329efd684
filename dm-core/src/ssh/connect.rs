//! Opening a [`Session`]: TCP (directly or through ProxyJump hosts), handshake, host-key check,
//! authentication, all under one timeout per hop.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::{ChannelOpenFailure, client};
use tokio::sync::Semaphore;

use super::auth;
use super::host_keys::{Client, HandlerError, KnownHostsFiles, describe, preferred_for};
use super::options::ConnectOptions;
use super::session::{Inner, Session};
use crate::error::Error;
use crate::host::Host;

type Connecting<'a> = Pin<Box<dyn Future<Output = Result<Session, Error>> + Send + 'a>>;

impl Session {
    /// Connects to `host` and authenticates as `host.user`.
    ///
    /// Follows the `proxy_jump` chain: each jump host is connected first, then the next hop is
    /// reached through a `direct-tcpip` channel of the previous one; the jump connections stay open
    /// as long as the returned session.
    ///
    /// Errors: [`Error::Connect`] (unreachable, timeout, handshake), [`Error::HostKeyUnknown`],
    /// [`Error::HostKeyChanged`], [`Error::Auth`].
    pub async fn connect(host: &Host, opts: &ConnectOptions) -> Result<Session, Error> {
        connect_hop(host, opts).await
    }
}

/// Boxed so that the jump chain can recurse.
fn connect_hop<'a>(host: &'a Host, opts: &'a ConnectOptions) -> Connecting<'a> {
    Box::pin(async move {
        let via = match &host.proxy_jump {
            Some(jump) => Some(connect_hop(jump, opts).await?),
            None => None,
        };
        tracing::debug!(
            host = %host.name,
            destination = %host.destination(),
            via = via.as_ref().map(|v| v.host().name.as_str()),
            "connecting"
        );
        let disconnect = Arc::new(Mutex::new(None));
        let handler = Client::new(
            host,
            KnownHostsFiles::for_host(host, opts),
            opts.host_key_policy,
            disconnect.clone(),
        );
        let config = Arc::new(config_for(host, opts));
        let attempt = async {
            let connected = match &via {
                None => client::connect(config, (host.address.as_str(), host.port), handler).await,
                Some(jump) => {
                    let channel = jump
                        .inner
                        .handle
                        .channel_open_direct_tcpip(
                            host.address.as_str(),
                            u32::from(host.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| connect_error(host, jump_error(jump, host, e)))?;
                    client::connect_stream(config, channel.into_stream(), handler).await
                }
            };
            let mut handle = connected.map_err(|e| handshake_error(host, e))?;
            tracing::debug!(host = %host.name, "handshake done, authenticating");
            auth::authenticate(&mut handle, host, opts).await?;
            Ok::<_, Error>(handle)
        };
        let handle = tokio::time::timeout(opts.connect_timeout, attempt)
            .await
            .map_err(|_| {
                connect_error(
                    host,
                    format!(
                        "timed out after {} (TCP connect, handshake and authentication){}",
                        human(opts.connect_timeout),
                        match &via {
                            Some(jump) => format!(" through jump host {}", jump.host().name),
                            None => String::new(),
                        }
                    ),
                )
            })??;
        tracing::debug!(host = %host.name, "connected");
        Ok(Session {
            inner: Arc::new(Inner {
                host: host.clone(),
                handle,
                channels: Arc::new(Semaphore::new(opts.max_channels.max(1))),
                round_trips: AtomicU64::new(0),
                disconnect,
                abandoned: Default::default(),
                reaper: Default::default(),
                via,
            }),
        })
    })
}

/// The russh client configuration for one hop.
fn config_for(host: &Host, opts: &ConnectOptions) -> client::Config {
    let keepalive = (!opts.keepalive_interval.is_zero()).then_some(opts.keepalive_interval);
    client::Config {
        // Keepalives must come more often than the inactivity timeout: a server that answers them
        // keeps an idle connection (or a long silent command) alive; one that does not is given
        // up after three intervals instead of hanging forever.
        keepalive_interval: keepalive,
        keepalive_max: 2,
        inactivity_timeout: keepalive.map(|k| k * 3),
        preferred: preferred_for(
            &host.address,
            host.port,
            &KnownHostsFiles::for_host(host, opts),
        ),
        nodelay: true,
        ..client::Config::default()
    }
}

fn connect_error(host: &Host, message: String) -> Error {
    Error::Connect {
        host: host.name.clone(),
        destination: host.destination(),
        message,
    }
}

/// Turns a failed handshake into dm's error: host-key refusals pass through as they are.
fn handshake_error(host: &Host, e: HandlerError) -> Error {
    match e {
        HandlerError::Dm(e) => *e,
        HandlerError::Ssh(russh::Error::IO(io)) => connect_error(
            host,
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => format!(
                    "connection refused: is sshd running and listening on port {}?",
                    host.port
                ),
                _ => io.to_string(),
            },
        ),
        other => connect_error(host, describe(&other)),
    }
}

/// Why a jump host could not open the tunnel to the next hop.
fn jump_error(jump: &Session, host: &Host, e: russh::Error) -> String {
    let why = match e {
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::AdministrativelyProhibited) => {
            "forwarding is not allowed there (sshd AllowTcpForwarding / PermitOpen)".to_string()
        }
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => {
            "nothing answered from there (wrong address or port, or a firewall)".to_string()
        }
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::Other { reason, .. }) => reason,
        other => other.to_string(),
    };
    format!(
        "jump host {} cannot reach {}:{}: {why}",
        jump.host().name,
        host.address,
        host.port
    )
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
