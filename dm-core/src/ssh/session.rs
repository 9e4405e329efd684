//! [`Session`]: one authenticated connection to a host, shared by every command of a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use russh::client::{Handle, Msg};
use russh::{Channel, ChannelOpenFailure, Disconnect};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::host_keys::{Client, DisconnectReason};
use crate::error::Error;
use crate::host::Host;

/// One SSH connection to a host (through its ProxyJump chain, if any).
///
/// Cheap to clone: clones share the connection. Commands run as separate channels over it, at most
/// [`ConnectOptions::max_channels`](super::ConnectOptions::max_channels) at a time; further
/// commands wait for a free slot.
#[derive(Clone)]
pub struct Session {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) host: Host,
    // Declared before `via`: fields drop in order, so the connection through a jump host is
    // closed before the jump connection it rides on.
    pub(super) handle: Handle<Client>,
    pub(super) channels: Arc<Semaphore>,
    pub(super) round_trips: AtomicU64,
    pub(super) disconnect: DisconnectReason,
    /// Process groups of abandoned commands not yet ended (see `abandon`).
    pub(super) abandoned: std::sync::Mutex<Vec<u32>>,
    /// Held while a command ends abandoned ones, so that one channel ends them all.
    pub(super) reaper: tokio::sync::Mutex<()>,
    /// The jump host's session, kept alive as long as this one: it carries our TCP stream.
    pub(super) via: Option<Session>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.host.name)
            .field("destination", &self.inner.host.destination())
            .field("via", &self.inner.via)
            .finish()
    }
}

impl Session {
    /// The host this session is connected to.
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// How many channels (commands, shells) were opened on this connection so far: each is one
    /// request/response round trip to the host.
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// Closes the connection (and those of its jump hosts). Commands still running fail with
    /// [`Error::Disconnected`].
    pub async fn close(&self) {
        tracing::debug!(host = %self.inner.host.name, "closing connection");
        if let Ok(mut reason) = self.inner.disconnect.lock() {
            reason.get_or_insert_with(|| "the session was closed (Session::close)".to_string());
        }
        let _ = self
            .inner
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        if let Some(via) = &self.inner.via {
            Box::pin(via.close()).await;
        }
    }

    /// Opens a session channel once a slot under the per-connection cap is free.
    ///
    /// The permit must be held until the channel is closed.
    pub(super) async fn open_channel(&self) -> Result<(Channel<Msg>, OwnedSemaphorePermit), Error> {
        let permit = self
            .inner
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.lost("the connection was closed"))?;
        // sshd frees a session slot only after it has processed our close of the previous
        // channel, so an open sent right behind that close can be refused even under the cap.
        // Such refusals are retried for a short while; a server that keeps refusing is reported.
        let deadline = Instant::now() + OPEN_RETRY_FOR;
        let mut delay = Duration::from_millis(5);
        loop {
            match self.inner.handle.channel_open_session().await {
                Ok(channel) => {
                    self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
                    return Ok((channel, permit));
                }
                Err(russh::Error::ChannelOpenFailure(_)) if Instant::now() + delay < deadline => {
                    tracing::debug!(host = %self.inner.host.name, ?delay, "channel refused, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    return Err(Error::Disconnected {
                        host: self.inner.host.name.clone(),
                        message: format!(
                            "the server refused to open a channel ({}) for {} s; if it limits \
                             sessions per connection (sshd MaxSessions), lower max_channels below \
                             that limit",
                            describe_open_failure(reason),
                            OPEN_RETRY_FOR.as_secs()
                        ),
                    });
                }
                Err(e) => return Err(self.lost(&format!("cannot open a channel: {e}"))),
            }
        }
    }

    /// [`Error::Disconnected`] for this host, with the reason the connection ended if known.
    pub(super) fn lost(&self, fallback: &str) -> Error {
        let reason = self.inner.disconnect.lock().ok().and_then(|r| r.clone());
        Error::Disconnected {
            host: self.inner.host.name.clone(),
            message: reason.unwrap_or_else(|| fallback.to_string()),
        }
    }
}

/// How long a refused channel open is retried before giving up.
const OPEN_RETRY_FOR: Duration = Duration::from_secs(3);

fn describe_open_failure(reason: ChannelOpenFailure) -> String {
    match reason {
        ChannelOpenFailure::AdministrativelyProhibited => "administratively prohibited".to_string(),
        ChannelOpenFailure::ConnectFailed => "connect failed".to_string(),
        ChannelOpenFailure::UnknownChannelType => "unknown channel type".to_string(),
        ChannelOpenFailure::ResourceShortage => "resource shortage".to_string(),
        ChannelOpenFailure::Other { code, reason } => format!("{reason}, code {code}"),
    }
}
