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
                let password =
                    tokio::task::spawn_blocking(move || crate::prompt::ask_hidden(&prompt).ok())
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

/// What the askpass helper says on standard error when sudo asks a second time, i.e. after it
/// refused the password: how [`refused_password`] recognises a wrong password.
const REFUSED_MARKER: &str = "dm: sudo refused the password";

/// The askpass helper, a `sh` script in an environment variable (`env -S` runs it: sudo's
/// askpass must be a program, and dm writes no helper file). It answers once: the first call
/// removes the run's private, empty directory (made by `mktemp -d`) and prints the password; a
/// second call means sudo refused it and is about to try again, which would count one more
/// failure against the account (`pam_faillock`'s `deny=3` locks it after three), so it kills
/// sudo before the next attempt is checked.
const ASKPASS_SCRIPT: &str = "rmdir -- \"$DM_SUDO_ONCE\" 2>/dev/null && exec printenv DM_SUDO_PASS; \
     echo 'dm: sudo refused the password' >&2; kill -KILL \"$PPID\"";

/// The command line running `line` as `user` through sudo when the run knows a password: its
/// standard input starts with the password and a newline, and the command gets the rest.
///
/// The login shell itself takes the password off the input (`read` stops at the newline), so
/// the command's input is the same whether or not this host's sudo asks: on a host whose sudo
/// asks for none (a NOPASSWD admin, as `provision` creates), the password is never part of what
/// the command reads, uploads, or passes on. sudo gets it only when it asks, from its askpass
/// helper ([`ASKPASS_SCRIPT`]), from a variable set for sudo alone. No command line carries it
/// (`ps` shows only the variable's name), and no extra round trip is needed to find out whether
/// this host's sudo wants it. A wrong password costs one try, not sudo's three.
pub(crate) fn with_password(user: &str, line: &str) -> String {
    format!(
        "IFS= read -r dm_p; dm_once=$(mktemp -d) || exit 1\n\
         {ASKPASS_VARIABLE}=\"$dm_p\" DM_SUDO_ONCE=\"$dm_once\" DM_SUDO_ASK={} \
         SUDO_ASKPASS=/usr/bin/env sudo -A -p '-S sh -c ${{DM_SUDO_ASK}}' -H -u {} -- sh -c {}\n\
         dm_rc=$?; rmdir -- \"$dm_once\" 2>/dev/null; exit $dm_rc",
        shell_quote(ASKPASS_SCRIPT),
        shell_quote(user),
        shell_quote(line)
    )
}

/// Whether sudo refused the password it was given ([`with_password`] stopped it before it asked
/// again).
pub(crate) fn refused_password(output: &Output) -> bool {
    !output.success() && output.stderr.contains(REFUSED_MARKER)
}

/// The command line running `line` as `user` through a sudo that asks for no password.
pub(crate) fn without_password(user: &str, line: &str) -> String {
    format!(
        "sudo -n -H -u {} -- sh -c {}",
        shell_quote(user),
        shell_quote(line)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_askpass_helper_says_what_refused_password_looks_for() {
        assert!(ASKPASS_SCRIPT.contains(REFUSED_MARKER), "{ASKPASS_SCRIPT}");
        // sudo's prompt (the helper's argument) names the variable holding the script: the
        // prompt passes through `env -S`, which would split a script written in it.
        let line = with_password("root", "id -u");
        assert!(line.contains("-p '-S sh -c ${DM_SUDO_ASK}'"), "{line}");
    }

    #[test]
    fn the_askpass_helper_answers_once() {
        // As sudo runs it: `env` given the prompt, with the run's variables; its parent (sudo
        // there) is a shell here, which the second call kills.
        let dir = tempfile::tempdir().expect("tempdir");
        let once = dir.path().join("once");
        std::fs::create_dir(&once).expect("mkdir");
        let ask = format!(
            "DM_SUDO_PASS=secret DM_SUDO_ONCE={} DM_SUDO_ASK={} /usr/bin/env -S 'sh -c ${{DM_SUDO_ASK}}'",
            shell_quote(once.to_str().expect("utf8")),
            shell_quote(ASKPASS_SCRIPT),
        );
        let script = format!(
            "{ask}; echo; sh -c {}",
            shell_quote(&format!("{ask}; echo still running"))
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "secret\n\n");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(REFUSED_MARKER),
            "{out:?}"
        );
        assert!(!once.exists());
    }
}
