//! Running the host programs the harness is built on (`ip`, `iptables`, `mount`, `ssh-keygen`, ...),
//! with errors that show the exact command line so a failure can be reproduced by hand.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::error::Error;
use dm_core::shell_quote;

/// Directories searched after `PATH`: root's tools live in sbin, which a test runner's `PATH` may
/// lack (e.g. under `sudo` or a minimal CI environment).
const EXTRA_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"];

/// Finds `name` on `PATH` or in the sbin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit.
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A [`Command`] for `program`, resolved on `PATH` or sbin (see [`find_program`]). Stdin is
/// closed so that no program ever waits for a terminal.
pub fn program(name: &str) -> Command {
    let mut command = Command::new(find_program(name).unwrap_or_else(|| PathBuf::from(name)));
    command.stdin(Stdio::null());
    command
}

/// The command line of `command`, quoted for a shell.
pub fn display(command: &Command) -> String {
    let program = command.get_program().to_string_lossy().into_owned();
    std::iter::once(program)
        .chain(
            command
                .get_args()
                .map(|a| shell_quote(&a.to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` to completion, capturing its output; a start failure or non-zero exit is an
/// [`Error::Command`] that says it was `action`.
pub fn run(action: impl Into<String>, command: &mut Command) -> Result<Output, Error> {
    let action = action.into();
    let output = command.output().map_err(|e| Error::Command {
        action: action.clone(),
        command: display(command),
        outcome: format!("could not start: {e}"),
        stderr: String::new(),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(Error::Command {
        action,
        command: display(command),
        outcome: format!("failed ({})", output.status),
        stderr: tail(&String::from_utf8_lossy(&output.stderr), 20),
    })
}

/// Builds the command `name args...` and runs it with [`run`].
pub fn run_program<I, S>(action: impl Into<String>, name: &str, args: I) -> Result<Output, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(action, program(name).args(args))
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last `lines` lines of the file at `path`, or a note that it could not be read.
pub fn tail_of_file(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
