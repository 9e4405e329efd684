//! The sudo password: given up front, or asked once per run when a host first needs it.

use super::Output;
use crate::quote::shell_quote;

/// Holds the sudo password of a run. It is only ever written to sudo's standard input, never to a
/// command line, a log or a report.
#[derive(Default)]
pub struct SudoPassword {
    preset: Option<String>,
    interactive: bool,
    asked: tokio::sync::OnceCell<Option<String>>,
}

impl std::fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SudoPassword")
            .field("preset", &self.preset.as_ref().map(|_| "<redacted>"))
            .field("interactive", &self.interactive)
            .finish()
    }
}

impl SudoPassword {
    /// `preset` is used when given (`DM_SUDO_PASSWORD`, or asked up front by `--ask-sudo-pass`);
    /// otherwise, if `interactive`, the terminal is asked the first time a host needs it.
    pub fn new(preset: Option<String>, interactive: bool) -> SudoPassword {
        SudoPassword {
            preset,
            interactive,
            asked: tokio::sync::OnceCell::new(),
        }
    }

    /// The password, if it is already known.
    pub fn known(&self) -> Option<String> {
        self.preset
            .clone()
            .or_else(|| self.asked.get().cloned().flatten())
    }

    /// The password, asking the terminal once per run if it is not known and asking is allowed.
    pub async fn ask(&self, host: &str) -> Option<String> {
        if let Some(p) = self.known() {
            return Some(p);
        }
        if !self.interactive {
            return None;
        }
        let prompt = format!("[{host}] sudo password (asked once for all hosts): ");
        self.asked
            .get_or_init(|| async move {
                let password = tokio::task::spawn_blocking(move || {
                    crate::cli::prompt::ask_hidden(&prompt).ok()
                })
                .await
                .ok()
                .flatten();
                if let Some(p) = &password {
                    crate::redact::register(p);
                }
                password
            })
            .await
            .clone()
    }
}

/// Whether `sudo -n` refused because it needs a password.
pub(crate) fn needs_password(output: &Output) -> bool {
    !output.success()
        && (output.stderr.contains("a password is required")
            || output.stderr.contains("a terminal is required"))
}

/// The environment variable that hands the password to sudo's askpass helper. sudo's
/// `env_reset` (its default) keeps it from the command sudo runs.
const ASKPASS_VARIABLE: &str = "DM_SUDO_PASS";

/// The command line running `line` as `user` through sudo when the run knows a password: its
/// standard input starts with the password and a newline, and the command gets the rest.
///
/// The login shell itself takes the password off the input (`read` stops at the newline), so
/// the command's input is the same whether or not this host's sudo asks: on a host whose sudo
/// asks for none (a NOPASSWD admin, as `provision` creates), the password is never part of what
/// the command reads, uploads, or passes on. sudo gets it only when it asks, from its askpass
/// helper: `printenv` of a variable set for sudo alone, named by the prompt. No command line
/// carries it (`ps` shows only the variable's name), and no extra round trip is needed to find
/// out whether this host's sudo wants it.
pub(crate) fn with_password(user: &str, line: &str) -> String {
    format!(
        "IFS= read -r dm_p; {ASKPASS_VARIABLE}=\"$dm_p\" SUDO_ASKPASS=/usr/bin/printenv \
         sudo -A -p {ASKPASS_VARIABLE} -H -u {} -- sh -c {}",
        shell_quote(user),
        shell_quote(line)
    )
}

/// The command line running `line` as `user` through a sudo that asks for no password.
pub(crate) fn without_password(user: &str, line: &str) -> String {
    format!(
        "sudo -n -H -u {} -- sh -c {}",
        shell_quote(user),
        shell_quote(line)
    )
}
