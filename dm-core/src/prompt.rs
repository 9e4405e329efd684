//! Asking the person at the terminal: a key's passphrase, the sudo password, a secret's value.
//! A leaf below the command line, the task context and the secrets, which all ask.

use std::path::Path;

use crate::ssh::Prompt;

/// Asks on the controlling terminal (`/dev/tty`), without echo. The SSH layer asks at most once
/// per key file and run; the answer is registered for redaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn passphrase(&self, key: &Path) -> Option<String> {
        let answer = ask_hidden(&format!("Enter passphrase for key {}: ", key.display())).ok()?;
        crate::redact::register(&answer);
        Some(answer)
    }
}

/// Asks `prompt` on the controlling terminal (`/dev/tty`) and reads the answer without echo.
///
/// Echo is turned off *before* the prompt shows, as OpenSSH's `readpassphrase` does: an answer
/// typed the moment the prompt appears (a quick typist, a password manager typing it) is never
/// echoed. `rpassword::prompt_password` shows the prompt first and turns echo off after, which
/// echoed such an answer to the screen. The terminal's settings come back on every way out.
pub fn ask_hidden(prompt: &str) -> std::io::Result<String> {
    use rustix::termios::{self, LocalModes, OptionalActions};
    use std::io::Write;

    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let original = termios::tcgetattr(&tty)?;
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // `Now`, not `Flush`: nothing typed is thrown away.
    termios::tcsetattr(&tty, OptionalActions::Now, &quiet)?;
    let answer = tty
        .write_all(prompt.as_bytes())
        .and_then(|()| tty.flush())
        .and_then(|()| rpassword::read_password());
    let restored = termios::tcsetattr(&tty, OptionalActions::Now, &original);
    let answer = answer?;
    restored?;
    Ok(answer)
}
