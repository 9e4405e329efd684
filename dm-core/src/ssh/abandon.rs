//! Ending on the host what dm stops waiting for.
//!
//! A command started without a PTY survives its SSH channel: sshd closes its pipes but sends it no
//! signal, so a `sleep` or a build dm abandoned (a second Ctrl-C) would go on running on every
//! host. A [`Running`] command that is dropped before it ended is therefore ended on the host:
//! its whole process group (the command line reports it, see `exec`) gets `TERM`, then `KILL`
//! if it is still there after a grace period, through another channel of the same connection —
//! and the SSH `signal` request too, for servers that could not report the group. Only then is
//! the channel closed. [`end_abandoned`] lets the run wait for that before dm exits.

use std::sync::LazyLock;
use std::time::Duration;

use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::session::Session;

/// How long an abandoned command has to end after `TERM` before it gets `KILL`, and after `KILL`
/// before its channel is closed anyway.
const GRACE: Duration = Duration::from_secs(2);

/// How many commands are running or being ended on their hosts, in this process.
static RUNNING: LazyLock<watch::Sender<usize>> = LazyLock::new(|| watch::Sender::new(0));

/// A command's channel for as long as the command runs; ends the command on the host if it is
/// dropped before [`Running::finished`] (see the module's documentation).
pub(super) struct Running {
    session: Session,
    channel: Option<(ChannelReadHalf, ChannelWriteHalf<Msg>)>,
    /// The command's process group on the host, once its command line reported it.
    pgid: Option<u32>,
    /// The channel's slot under the connection's cap.
    permit: Option<OwnedSemaphorePermit>,
}

impl Running {
    /// Tracks a command started on `channel` of `session`.
    pub(super) fn new(
        session: Session,
        channel: (ChannelReadHalf, ChannelWriteHalf<Msg>),
        permit: OwnedSemaphorePermit,
    ) -> Running {
        RUNNING.send_modify(|n| *n += 1);
        Running {
            session,
            channel: Some(channel),
            pgid: None,
            permit: Some(permit),
        }
    }

    /// The channel's halves and the place for the command's process group; `None` only after
    /// [`Running::finished`].
    pub(super) fn halves(
        &mut self,
    ) -> Option<(
        &mut ChannelReadHalf,
        &ChannelWriteHalf<Msg>,
        &mut Option<u32>,
    )> {
        let pgid = &mut self.pgid;
        self.channel.as_mut().map(|(r, w)| (r, &*w, pgid))
    }

    /// The command ended (or its channel did): nothing is left to end on the host.
    pub(super) fn finished(mut self) {
        self.channel = None;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some((reader, writer)) = self.channel.take() else {
            RUNNING.send_modify(|n| *n -= 1);
            return;
        };
        // Dropped outside a runtime only when the whole process is ending anyway.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            RUNNING.send_modify(|n| *n -= 1);
            return;
        };
        let (session, pgid, permit) = (self.session.clone(), self.pgid, self.permit.take());
        runtime.spawn(async move {
            // The slot is given back first: the command that ends this one needs a channel,
            // and every slot may be held by abandoned commands.
            drop(permit);
            end_on_host(&session, pgid, reader, writer).await;
            RUNNING.send_modify(|n| *n -= 1);
        });
    }
}

/// Ends an abandoned command, `TERM` then `KILL`, until the host says it ended; then closes
/// its channel.
async fn end_on_host(
    session: &Session,
    pgid: Option<u32>,
    mut reader: ChannelReadHalf,
    writer: ChannelWriteHalf<Msg>,
) {
    tracing::debug!(host = %session.host().name, ?pgid, "ending an abandoned command");
    for (signal, name) in [(Sig::TERM, "TERM"), (Sig::KILL, "KILL")] {
        // OpenSSH honours the signal request only for logins other than root; the process
        // group is ended through another channel in any case.
        if writer.signal(signal).await.is_err() {
            return; // the connection is gone, and with it every way to reach the command
        }
        if let Some(pgid) = pgid {
            session.signal_groups(pgid, name).await;
        }
        let ended = tokio::time::timeout(GRACE, async {
            while let Some(msg) = reader.wait().await {
                if matches!(
                    msg,
                    ChannelMsg::ExitStatus { .. }
                        | ChannelMsg::ExitSignal { .. }
                        | ChannelMsg::Close
                ) {
                    return;
                }
            }
        })
        .await;
        if ended.is_ok() {
            break;
        }
    }
    let _ = writer.close().await;
}

impl Session {
    /// Sends `signal` to the process group `pgid` and to those of other abandoned commands of
    /// this connection that are waiting, with one command on one channel.
    async fn signal_groups(&self, pgid: u32, signal: &str) {
        if let Ok(mut abandoned) = self.inner.abandoned.lock() {
            abandoned.push(pgid);
        }
        let _reaping = self.inner.reaper.lock().await;
        let groups: Vec<u32> = match self.inner.abandoned.lock() {
            Ok(mut abandoned) => abandoned.drain(..).collect(),
            Err(_) => vec![pgid],
        };
        if groups.is_empty() {
            return; // another command's reaper took this group with its own
        }
        let targets: Vec<String> = groups.iter().map(|g| format!("-{g}")).collect();
        // As the login user: a group of root's processes under a non-root login is out of
        // reach here, and `sudo -n` tries it without asking for a password.
        let line = format!(
            "kill -{signal} -- {t} 2>/dev/null || sudo -n kill -{signal} -- {t} 2>/dev/null; true",
            t = targets.join(" ")
        );
        let _ = self.exec(&line, None, &mut |_, _| {}).await;
    }
}

/// Waits (at most `limit`) until every command abandoned in this process was ended on its
/// host; returns whether all were. Call it before exiting after hosts were abandoned: the
/// signals travel on connections that end with the process.
pub async fn end_abandoned(limit: Duration) -> bool {
    let mut running = RUNNING.subscribe();
    tokio::time::timeout(limit, running.wait_for(|n| *n == 0))
        .await
        .is_ok_and(|r| r.is_ok())
}
