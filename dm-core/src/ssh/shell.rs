//! An interactive login shell on the host, wired to the local terminal.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use russh::ChannelMsg;
use rustix::termios::{self, OptionalActions, SpecialCodeIndex, Termios};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::exec::{ExitStatus, signal_text};
use super::session::Session;
use crate::error::Error;

impl Session {
    /// Opens an interactive login shell and connects it to this process's stdin and stdout.
    ///
    /// When stdin is a terminal, the shell gets a PTY (`$TERM`, the local window size, resized on
    /// `SIGWINCH`) and the local terminal is put in raw mode for the duration, so keys such as
    /// Ctrl-C reach the remote side; it is restored on every exit path. When stdin is not a
    /// terminal (`dm shell host < script`), the shell reads commands from it without a PTY, as
    /// `ssh` does.
    ///
    /// Returns how the shell ended (`exit 3` gives exit status 3).
    pub async fn shell(&self) -> Result<ExitStatus, Error> {
        let interactive = termios::isatty(rustix::stdio::stdin());
        let (channel, _permit) = self.open_channel().await?;
        let (mut reader, writer) = channel.split();
        if interactive {
            let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".to_string());
            let (cols, rows, px, py) = window_size();
            writer
                .request_pty(true, &term, cols, rows, px, py, &[])
                .await
                .map_err(|e| self.lost(&format!("cannot request a terminal: {e}")))?;
        }
        writer
            .request_shell(true)
            .await
            .map_err(|e| self.lost(&format!("cannot start a shell: {e}")))?;
        tracing::debug!(host = %self.host().name, interactive, "shell started");

        // Entered after the requests so that an error above leaves the terminal untouched; the
        // guard restores it when this function returns, fails or is cancelled.
        let _raw = if interactive {
            Some(RawMode::enter().map_err(local_tty_error)?)
        } else {
            None
        };
        let (mut input, _stop) = spawn_stdin_reader(interactive);
        let mut resized = signal(SignalKind::window_change()).ok();
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        let mut input_open = true;
        let mut code = None;
        let mut exit_signal = None;
        let mut closed = false;

        loop {
            tokio::select! {
                chunk = input.recv(), if input_open => match chunk {
                    Some(Ok(bytes)) => {
                        // A failed send means the channel is closing; the reader says why.
                        let _ = writer.data_bytes(bytes).await;
                    }
                    Some(Err(e)) => return Err(local_tty_error(e)),
                    None => {
                        input_open = false;
                        let _ = writer.eof().await;
                    }
                },
                Some(()) = async { match resized.as_mut() { Some(s) => s.recv().await, None => None } } => {
                    let (cols, rows, px, py) = window_size();
                    let _ = writer.window_change(cols, rows, px, py).await;
                }
                msg = reader.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => {
                        let _ = stdout.write_all(&data).await;
                        let _ = stdout.flush().await;
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        let _ = stderr.write_all(&data).await;
                        let _ = stderr.flush().await;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => code = Some(exit_status),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        exit_signal = Some(signal_text(&signal_name));
                    }
                    Some(ChannelMsg::Close) => closed = true,
                    Some(_) => {}
                    None => break,
                },
            }
        }
        if closed || code.is_some() || exit_signal.is_some() {
            Ok(ExitStatus {
                code,
                signal: exit_signal,
            })
        } else {
            Err(self.lost("the connection ended during the shell session"))
        }
    }
}

fn local_tty_error(source: io::Error) -> Error {
    Error::LocalIo {
        path: PathBuf::from("/dev/stdin (local terminal)"),
        source,
    }
}

/// Columns, rows and pixel sizes of the local terminal; 80x24 when it cannot be read.
fn window_size() -> (u32, u32, u32, u32) {
    match termios::tcgetwinsize(rustix::stdio::stdout())
        .or_else(|_| termios::tcgetwinsize(rustix::stdio::stdin()))
    {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => (
            u32::from(ws.ws_col),
            u32::from(ws.ws_row),
            u32::from(ws.ws_xpixel),
            u32::from(ws.ws_ypixel),
        ),
        _ => (80, 24, 0, 0),
    }
}

/// The local terminal in raw mode; the original settings come back on drop.
struct RawMode {
    original: Termios,
}

impl RawMode {
    fn enter() -> io::Result<RawMode> {
        let stdin = rustix::stdio::stdin();
        let original = termios::tcgetattr(stdin)?;
        let mut raw = original.clone();
        raw.make_raw();
        // Reads return after 0.1 s even without input, so the reader thread can notice that the
        // shell ended and stop, instead of swallowing the user's next keystroke.
        raw.special_codes[SpecialCodeIndex::VMIN] = 0;
        raw.special_codes[SpecialCodeIndex::VTIME] = 1;
        termios::tcsetattr(stdin, OptionalActions::Now, &raw)?;
        Ok(RawMode { original })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.original);
    }
}

/// Sets the stop flag of the stdin reader thread when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

type Input = mpsc::Receiver<io::Result<Vec<u8>>>;

/// Reads stdin on a plain thread (tokio's stdin would keep the runtime from shutting down while a
/// read is pending). The channel closes at end of input.
///
/// On a terminal in raw mode a read returning nothing is the 0.1 s timeout, not the end: the
/// thread then checks whether the shell is over. Elsewhere 0 bytes is the end of input; a pipe
/// still open when the shell ends leaves the thread blocked until it delivers, which does not
/// delay the process from exiting.
fn spawn_stdin_reader(interactive: bool) -> (Input, StopOnDrop) {
    let (tx, rx) = mpsc::channel(16);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("dm-shell-stdin".to_string())
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            while !stopped.load(Ordering::Relaxed) {
                match rustix::io::read(rustix::stdio::stdin(), &mut buf[..]) {
                    Ok(0) if interactive => continue,
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.into()));
                        break;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the stdin reader: {e}; the shell gets no input");
    }
    (rx, StopOnDrop(stop))
}
