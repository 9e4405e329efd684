//! The errors of the test-host harness. Each says what failed, on which machine, and what to do.

use std::path::PathBuf;

/// Everything that can go wrong while booting or driving test machines.
///
/// `Debug` prints the same message as `Display`, so that `fleet.boot().unwrap()` and tests that
/// return `Result<(), Error>` fail with the clear message, not a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The harness must create network namespaces, mounts and machines, which needs root.
    #[error(
        "{who} must run as root (it creates network namespaces, overlay mounts and systemd-nspawn \
         machines), but the effective user id is {euid}: {fix}"
    )]
    NotRoot {
        /// The effective user id of this process.
        euid: u32,
        /// What needs root: `dm-testing` or `the local provider`.
        who: &'static str,
        /// What to do about it.
        fix: &'static str,
    },
    /// Programs the harness runs are not installed.
    #[error(
        "{who} needs programs that are not installed: {}. Install them with \
         `apt-get install {}`{}",
        programs.join(", "),
        packages.join(" "),
        if *who == "dm-testing" { " (in dm's own repository `scripts/test` installs them)" } else { "" }
    )]
    MissingPrograms {
        /// What needs them: `dm-testing` or `the local provider`.
        who: &'static str,
        /// The programs that were not found on PATH, /usr/sbin or /sbin.
        programs: Vec<String>,
        /// The Debian packages that provide them.
        packages: Vec<String>,
    },
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the harness was doing, e.g. "cannot write".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A program the harness ran failed.
    #[error("{action}: `{command}` {outcome}{}", stderr_suffix(stderr))]
    Command {
        /// What the harness was doing, e.g. "creating bridge dmbr3".
        action: String,
        /// The command line, for reproducing the failure by hand.
        command: String,
        /// "exited with status 1", or "could not start: ...".
        outcome: String,
        /// The end of what the program wrote to stderr.
        stderr: String,
    },
    /// No Debian mirror could be found in this machine's APT sources.
    #[error(
        "no Debian mirror found in this machine's APT sources ({searched}): dm-testing builds its \
         machines with debootstrap from the same mirror this machine uses. Add a `deb` line or a \
         deb822 `URIs:` entry for the main Debian archive"
    )]
    NoMirror {
        /// The files that were read.
        searched: String,
    },
    /// debootstrap failed to build the base tree.
    #[error(
        "building the base tree with debootstrap failed ({status}); full log: {}\n--- last lines ---\n{tail}",
        log.display()
    )]
    BaseBuild {
        /// debootstrap's exit status or the failing step.
        status: String,
        /// The build log.
        log: PathBuf,
        /// The last lines of the build log.
        tail: String,
    },
    /// The fleet description is unusable (bad or duplicate machine name, too many machines).
    #[error("invalid fleet: {0}")]
    InvalidFleet(String),
    /// A local machine cannot be booted as asked (bad name, no key, the local network is full).
    #[error("local machine: {0}")]
    InvalidMachine(String),
    /// Every network slot (10.231.N.0/24) is taken by a running fleet.
    #[error(
        "all {count} dm-testing network slots are in use by running fleets (locks in {}); \
         drop fleets sooner or run fewer tests at once",
        dir.display()
    )]
    NoFreeSlot {
        /// How many slots exist.
        count: u32,
        /// The directory holding the slot locks.
        dir: PathBuf,
    },
    /// A machine's systemd-nspawn process exited during boot.
    #[error(
        "machine {machine} ({address}): systemd-nspawn exited during boot ({status}); boot log {}:\n{tail}",
        log.display()
    )]
    MachineExited {
        /// The machine's name.
        machine: String,
        /// The machine's address.
        address: std::net::Ipv4Addr,
        /// The exit status of systemd-nspawn.
        status: String,
        /// The machine's boot log.
        log: PathBuf,
        /// The last lines of the boot log.
        tail: String,
    },
    /// The thread booting a machine panicked (a bug in the harness: please report it).
    #[error("booting machine {machine} panicked (a bug in dm-testing; the panic message is above)")]
    BootPanicked {
        /// The machine's name.
        machine: String,
    },
    /// The fabfile's inventory could not be loaded to declare a fleet from it.
    #[error("cannot declare test machines from the fabfile's inventory: {0}")]
    Inventory(#[source] dm_core::Error),
    /// A run of the fabfile's tasks (`Fleet::dm` of the testing API) stopped before any host ran:
    /// a bad command line, an unknown host or role, a broken test inventory.
    #[error("{0}")]
    Dm(#[from] dm_core::Error),
    /// The async runtime for an in-process run could not be started, or its thread panicked.
    #[error("cannot run dm in this process: {0}")]
    Runtime(String),
    /// A machine did not answer SSH in time.
    #[error(
        "machine {machine} ({address}) did not answer `ssh root@{address} true` within {seconds} s \
         (last attempt: {last_attempt}); boot log {}:\n{tail}",
        log.display()
    )]
    BootTimeout {
        /// The machine's name.
        machine: String,
        /// The machine's address.
        address: std::net::Ipv4Addr,
        /// How long the harness waited.
        seconds: u64,
        /// What the last SSH attempt said.
        last_attempt: String,
        /// The machine's boot log.
        log: PathBuf,
        /// The last lines of the boot log.
        tail: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Formats a program's stderr after the main message, or nothing when it said nothing.
fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<dm_core::ssh::known_hosts::UpdateError> for Error {
    fn from(e: dm_core::ssh::known_hosts::UpdateError) -> Self {
        Error::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}
