//! What a finished command printed and how it exited: the value every command of a task
//! returns. Its own file so that sudo's password handling, which reads it, and the commands,
//! which make it, both stand on it without importing each other.

use crate::ssh::ExitStatus;

/// What a finished command printed and how it exited.
///
/// Under `--check` a command that was not marked read-only
/// ([`Run::check_safe`](super::Run::check_safe)) does not run: its `Output` is
/// [`Output::not_run`] — empty output, exit status 0, [`Output::skipped`] true — so a task goes
/// on planning as if the command had succeeded without printing anything. A task that needs
/// what an acting command prints (a path it creates, an id it returns) asks `out.skipped` or
/// [`Ctx::check_mode`](super::Ctx::check_mode) before using it.
#[derive(Debug, Clone)]
pub struct Output {
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
    /// How it exited.
    pub status: ExitStatus,
    /// The command did not run because of `--check` (see
    /// [`Run::check_safe`](super::Run::check_safe)).
    pub skipped: bool,
    /// Only the last 1 MiB of a stream were kept: the command was not
    /// [`quiet`](super::Run::quiet), so all of it was shown live, and a long-running one
    /// (`journalctl -f`) must not grow dm's memory without bound. Quiet commands keep everything.
    pub truncated: bool,
}

impl Output {
    /// What a command that `--check` kept from running returns: no output, exit status 0,
    /// `skipped` set.
    pub fn not_run() -> Output {
        Output {
            stdout: String::new(),
            stderr: String::new(),
            status: ExitStatus {
                code: Some(0),
                signal: None,
            },
            skipped: true,
            truncated: false,
        }
    }

    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Standard output without surrounding white space: handy for one-value commands.
    pub fn trimmed(&self) -> &str {
        self.stdout.trim()
    }
}
