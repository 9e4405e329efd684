//! What the machine running the tests must provide: root, and the programs the harness runs.
//! Checked once before anything is created, so a missing piece is ONE clear error instead of a
//! half-built fleet.

use super::command::find_program;
use super::error::Error;

/// Each program the harness runs, with the Debian package that provides it.
const PROGRAMS: [(&str, &str); 8] = [
    ("systemd-nspawn", "systemd-container"),
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("chroot", "coreutils"),
];

/// The program that builds the base tree, needed only when it is not cached yet.
const DEBOOTSTRAP: (&str, &str) = ("debootstrap", "debootstrap");

/// Fails unless this process is root and every needed program is installed. `building` adds
/// debootstrap, which only the first run needs.
pub(crate) fn check(building: bool) -> Result<(), Error> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return Err(Error::NotRoot { euid });
    }
    let extra = building.then_some(DEBOOTSTRAP);
    let missing: Vec<(&str, &str)> = PROGRAMS
        .into_iter()
        .chain(extra)
        .filter(|(program, _)| find_program(program).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<String> = missing
        .iter()
        .map(|(_, package)| package.to_string())
        .collect();
    packages.dedup();
    Err(Error::MissingPrograms {
        programs: missing
            .iter()
            .map(|(program, _)| program.to_string())
            .collect(),
        packages,
    })
}
