//! Running one command over a channel: stdin streamed in, stdout/stderr streamed out, exit status.

use std::fmt;
use std::path::PathBuf;

use russh::{ChannelMsg, Sig};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::abandon::Running;
use super::session::Session;
use crate::error::Error;

/// Which output stream of a remote command a chunk of bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, if the command exited normally.
    pub code: Option<u32>,
    /// The signal that killed it (`TERM`, `KILL`, ...), if it was killed.
    pub signal: Option<String>,
}

impl ExitStatus {
    /// Whether the command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.signal, self.code) {
            (Some(signal), _) => write!(f, "signal {signal}"),
            (None, Some(code)) => write!(f, "exit status {code}"),
            (None, None) => f.write_str("no exit status"),
        }
    }
}

/// Read size for stdin. Large enough that one read fills several SSH packets (russh splits by
/// the peer's packet size and window), so per-call overhead does not limit throughput.
const STDIN_CHUNK: usize = 256 * 1024;

impl Session {
    /// Runs `command` (through the login user's shell, without a PTY) and waits for it to end.
    ///
    /// `stdin`, if given, is streamed to the command (respecting the SSH window, so a slow command
    /// slows the reader instead of buffering without bound), then closed. Output is handed to
    /// `output` chunk by chunk as it arrives. A non-zero exit is not an error here: check the
    /// returned [`ExitStatus`].
    ///
    /// Waits while [`max_channels`](super::ConnectOptions::max_channels) commands already run on
    /// this connection. Fails with [`Error::Disconnected`] if the connection breaks.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<&mut (dyn AsyncRead + Send + Unpin)>,
        output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExitStatus, Error> {
        let (channel, permit) = self.open_channel().await?;
        tracing::debug!(host = %self.host().name, command, "exec");
        // Ends the command on the host if this future is dropped before it ended (a host
        // abandoned on a second Ctrl-C), rather than leaving it running there.
        let mut running = Running::new(self.clone(), channel.split(), permit);
        let result = self.exec_on(&mut running, command, stdin, output).await;
        running.finished();
        result
    }

    async fn exec_on(
        &self,
        running: &mut Running,
        command: &str,
        stdin: Option<&mut (dyn AsyncRead + Send + Unpin)>,
        output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> Result<ExitStatus, Error> {
        let Some((reader, writer, pgid)) = running.halves() else {
            return Err(self.lost("the channel was closed before the command started"));
        };
        writer
            .exec(true, marked(command))
            .await
            .map_err(|e| self.lost(&format!("cannot start the command: {e}")))?;

        let write = async {
            if let Some(stdin) = stdin {
                let mut buf = vec![0u8; STDIN_CHUNK];
                loop {
                    let n = stdin
                        .read(&mut buf)
                        .await
                        .map_err(|source| Error::LocalIo {
                            path: PathBuf::from(format!("<stdin of `{command}`>")),
                            source,
                        })?;
                    if n == 0 {
                        break;
                    }
                    if writer.data_bytes(buf[..n].to_vec()).await.is_err() {
                        // The channel is gone; the reader says why.
                        return Ok(());
                    }
                }
            }
            let _ = writer.eof().await;
            Ok::<(), Error>(())
        };

        let read = async {
            let mut code = None;
            let mut signal = None;
            let mut closed = false;
            let mut mark = Some(Vec::new());
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => output(Stream::Stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => match &mut mark {
                        Some(pending) => {
                            pending.extend_from_slice(&data);
                            if let Some(rest) = take_mark(pending, pgid) {
                                output(Stream::Stderr, rest);
                                mark = None;
                            }
                        }
                        None => output(Stream::Stderr, &data),
                    },
                    ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        signal = Some(signal_text(&signal_name));
                    }
                    ChannelMsg::Failure => {
                        return Err(Error::Disconnected {
                            host: self.host().name.clone(),
                            message: format!("the server refused to run `{command}`"),
                        });
                    }
                    ChannelMsg::Close => closed = true,
                    _ => {}
                }
            }
            if let Some(pending) = mark.filter(|p| !p.is_empty()) {
                output(Stream::Stderr, &pending);
            }
            // Exit status and EOF come in either order; only the end of the channel is final.
            if closed || code.is_some() || signal.is_some() {
                Ok(ExitStatus { code, signal })
            } else {
                Err(self.lost("the connection ended while the command ran"))
            }
        };

        tokio::pin!(write, read);
        let mut written = false;
        loop {
            tokio::select! {
                w = &mut write, if !written => {
                    written = true;
                    if let Err(e) = w {
                        let _ = writer.close().await;
                        break Err(e);
                    }
                }
                // The command may end without reading all of stdin; the writer is then dropped.
                r = &mut read => break r,
            }
        }
    }
}

/// What a command line writes first to stderr: its shell's pid, which is the command's process
/// group (sshd starts every command in a session of its own), so that a command dm abandons can be
/// ended with its children (see `abandon`).
const PGID_MARK: &[u8] = b"dm-pgid ";

/// `command` preceded by the line that reports its process group (one shell builtin, no round
/// trip; `;` keeps the command's line numbers in the shell's error messages).
fn marked(command: &str) -> String {
    format!("printf 'dm-pgid %s\\n' \"$$\" >&2; {command}")
}

/// Takes the process-group line off the start of stderr once `pending` holds it, and returns what
/// follows it; `None` while the line is incomplete. Output that does not start with the mark
/// (a login shell that is not POSIX) is returned whole.
fn take_mark<'p>(pending: &'p [u8], pgid: &mut Option<u32>) -> Option<&'p [u8]> {
    let Some(end) = pending.iter().position(|&b| b == b'\n') else {
        let could_be_mark = pending.len() <= PGID_MARK.len() + 10
            && pending.iter().zip(PGID_MARK).all(|(got, want)| got == want);
        return if could_be_mark { None } else { Some(pending) };
    };
    let number = pending[..end]
        .strip_prefix(PGID_MARK)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<u32>().ok());
    match number {
        Some(n) => {
            *pgid = Some(n);
            Some(&pending[end + 1..])
        }
        None => Some(pending),
    }
}

/// The signal name as OpenSSH sends it (`TERM`, not `SIGTERM`).
pub(super) fn signal_text(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_group_line_is_taken_off_stderr_whatever_the_chunks() {
        let mut pgid = None;
        assert_eq!(take_mark(b"dm-pg", &mut pgid), None);
        assert_eq!(take_mark(b"dm-pgid 4242", &mut pgid), None);
        assert_eq!(
            take_mark(b"dm-pgid 4242\nerror: x\n", &mut pgid),
            Some(&b"error: x\n"[..])
        );
        assert_eq!(pgid, Some(4242));

        let mut pgid = None;
        assert_eq!(
            take_mark(b"Ambiguous output redirect.\n", &mut pgid),
            Some(&b"Ambiguous output redirect.\n"[..])
        );
        assert_eq!(
            take_mark(b"dm-pgid x\n", &mut pgid),
            Some(&b"dm-pgid x\n"[..])
        );
        assert_eq!(pgid, None);
    }
}
