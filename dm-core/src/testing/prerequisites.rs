//! What the machine running the tests must provide: root, and the programs the harness runs.
//! Checked once before anything is created, so a missing piece is ONE clear error instead of a
//! half-built fleet.

use super::command::find_program;
use super::error::Error;

/// Each program the harness runs, with the Debian package that provides it.
const PROGRAMS: [(&str, &str); 8] = [
    ("systemd-nspawn", "systemd-container"),
    ("ip", "iproute2"),
    ("tc", "iproute2"),
    ("iptables", "iptables"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("mount", "mount"),
    ("umount", "mount"),
];

/// The programs that build the base tree, needed only when it is not cached yet.
const BUILDING: [(&str, &str); 2] = [("debootstrap", "debootstrap"), ("chroot", "coreutils")];

/// Fails unless this process is root and every needed program is installed. `building` adds
/// what building the base tree needs, which only the first run does.
pub(crate) fn check(building: bool) -> Result<(), Error> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return Err(Error::NotRoot { euid });
    }
    let extra = if building { &BUILDING[..] } else { &[] };
    let missing: Vec<(&str, &str)> = PROGRAMS
        .into_iter()
        .chain(extra.iter().copied())
        .filter(|(program, _)| find_program(program).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<String> = Vec::new();
    for (_, package) in &missing {
        if !packages.iter().any(|p| p == package) {
            packages.push(package.to_string());
        }
    }
    Err(Error::MissingPrograms {
        programs: missing
            .iter()
            .map(|(program, _)| program.to_string())
            .collect(),
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_error_names_programs_packages_and_the_fix() {
        let message = Error::MissingPrograms {
            programs: vec!["systemd-nspawn".into(), "debootstrap".into()],
            packages: vec!["systemd-container".into(), "debootstrap".into()],
        }
        .to_string();
        assert!(message.contains("systemd-nspawn, debootstrap"), "{message}");
        assert!(
            message.contains("systemd-container debootstrap"),
            "{message}"
        );
        assert!(message.contains("scripts/test"), "{message}");
    }
}
