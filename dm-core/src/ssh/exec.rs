//! Running one command over a channel: stdin streamed in, stdout/stderr streamed out, exit status.

use std::fmt;
use std::path::PathBuf;

use russh::{ChannelMsg, Sig};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::abandon::Running;
use super::session::Session;
use crate::error::Error;

pub use crate::events::Stream;

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
            let mut mark = MarkScan::default();
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => output(Stream::Stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        mark.feed(&data, pgid, &mut |bytes| output(Stream::Stderr, bytes));
                    }
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
            mark.finish(&mut |bytes| output(Stream::Stderr, bytes));
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

/// How much stderr is searched for the process-group line before dm stops looking (a login shell
/// that cannot run `printf` never writes it).
const MARK_SEARCH_LIMIT: usize = 64 * 1024;

/// Takes the process-group line off a command's stderr. It is the command line's first write,
/// but not always the first stderr line: a login shell's startup files (`.bashrc`, a version
/// manager's hooks) may write before it. So every complete line up to the mark is passed on
/// untouched, the mark itself is taken off, and only a line start that could still become the
/// mark is held back (at most the mark's length and a number).
#[derive(Default)]
struct MarkScan {
    /// The start of a line that may be the mark, not passed on yet.
    held: Vec<u8>,
    /// Inside a line that is not the mark: pass bytes on until its newline.
    in_other_line: bool,
    /// The mark was found, or dm stopped looking: everything passes as it comes.
    done: bool,
    /// Bytes of stderr looked at so far.
    seen: usize,
}

impl MarkScan {
    /// Looks at the next piece of stderr; `out` gets everything that is not the mark, in order.
    fn feed(&mut self, mut data: &[u8], pgid: &mut Option<u32>, out: &mut dyn FnMut(&[u8])) {
        if self.seen > MARK_SEARCH_LIMIT {
            self.stop(out);
        }
        self.seen += data.len();
        while !data.is_empty() {
            if self.done {
                out(data);
                return;
            }
            if self.in_other_line {
                match data.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        out(&data[..=end]);
                        data = &data[end + 1..];
                        self.in_other_line = false;
                    }
                    None => {
                        out(data);
                        return;
                    }
                }
            } else {
                match data.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.held.extend_from_slice(&data[..=end]);
                        data = &data[end + 1..];
                        let line = std::mem::take(&mut self.held);
                        match mark_number(&line[..line.len() - 1]) {
                            Some(n) => {
                                *pgid = Some(n);
                                self.done = true;
                            }
                            None => out(&line),
                        }
                    }
                    None => {
                        self.held.extend_from_slice(data);
                        if !could_become_mark(&self.held) {
                            out(&std::mem::take(&mut self.held));
                            self.in_other_line = true;
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Gives back what is held (the stream ended, or dm stopped looking).
    fn finish(&mut self, out: &mut dyn FnMut(&[u8])) {
        self.stop(out);
    }

    fn stop(&mut self, out: &mut dyn FnMut(&[u8])) {
        if !self.held.is_empty() {
            out(&std::mem::take(&mut self.held));
        }
        self.done = true;
    }
}

/// The pid of a complete mark line (without its newline), if it is one.
fn mark_number(line: &[u8]) -> Option<u32> {
    line.strip_prefix(PGID_MARK)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<u32>().ok())
}

/// Whether a line start without its newline yet may still turn out to be the mark.
fn could_become_mark(start: &[u8]) -> bool {
    start.len() <= PGID_MARK.len() + 10
        && start.iter().zip(PGID_MARK).all(|(got, want)| got == want)
        && start
            .get(PGID_MARK.len()..)
            .is_none_or(|digits| digits.iter().all(u8::is_ascii_digit))
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

    /// Feeds `chunks` through a scanner and returns what passed and the pid found.
    fn scan(chunks: &[&[u8]]) -> (Vec<u8>, Option<u32>) {
        let mut scan = MarkScan::default();
        let mut pgid = None;
        let mut passed = Vec::new();
        for chunk in chunks {
            scan.feed(chunk, &mut pgid, &mut |b| passed.extend_from_slice(b));
        }
        scan.finish(&mut |b| passed.extend_from_slice(b));
        (passed, pgid)
    }

    #[test]
    fn the_process_group_line_is_taken_off_stderr_whatever_the_chunks() {
        let (passed, pgid) = scan(&[b"dm-pg", b"id 4242", b"\nerror: x\n"]);
        assert_eq!(passed, b"error: x\n");
        assert_eq!(pgid, Some(4242));
        let (passed, pgid) = scan(&[b"dm-pgid 4242\nerror: x\n"]);
        assert_eq!(passed, b"error: x\n");
        assert_eq!(pgid, Some(4242));
    }

    #[test]
    fn a_login_shells_startup_output_before_the_mark_is_passed_on_and_the_mark_still_found() {
        let (passed, pgid) = scan(&[
            b"pyenv: cannot rehash\nwarn",
            b"ing: dm-pgid 1 is not a mark\n",
            b"dm-pgid 77\ncommand's own\n",
        ]);
        assert_eq!(
            passed,
            b"pyenv: cannot rehash\nwarning: dm-pgid 1 is not a mark\ncommand's own\n"
        );
        assert_eq!(pgid, Some(77));
    }

    #[test]
    fn stderr_without_the_mark_passes_whole() {
        let (passed, pgid) = scan(&[b"Ambiguous output redirect.\n", b"dm-pgid x\n", b"dm-p"]);
        assert_eq!(passed, b"Ambiguous output redirect.\ndm-pgid x\ndm-p");
        assert_eq!(pgid, None);
    }

    #[test]
    fn the_search_stops_after_its_limit() {
        let noise = vec![b'x'; MARK_SEARCH_LIMIT + 1];
        let (passed, pgid) = scan(&[&noise, b"\ndm-pgid 5\n"]);
        assert_eq!(pgid, None);
        assert!(passed.ends_with(b"\ndm-pgid 5\n"));
    }
}
