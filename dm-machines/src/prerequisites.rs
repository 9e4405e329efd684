//! What this machine must provide to boot machines: root, and the programs the machinery runs.
//! Checked once before anything is created, so a missing piece is ONE clear error instead of a
//! half-built fleet or server.

use super::command::find_program;
use super::error::Error;

/// Each program the harness runs, with the Debian package that provides it.
const PROGRAMS: [(&str, &str); 9] = [
    ("systemd-nspawn", "systemd-container"),
    ("ip", "iproute2"),
    ("tc", "iproute2"),
    ("iptables", "iptables"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("setsid", "util-linux"),
];

/// The programs that build the base tree, needed only when it is not cached yet.
const BUILDING: [(&str, &str); 2] = [("debootstrap", "debootstrap"), ("chroot", "coreutils")];

/// Who boots machines, for messages that say what needs root and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The test harness (crate `dm-testing`, `dm::testing` with feature `testing`).
    Testing,
    /// The local provider (`boot`, `destroy`, `scale` with `provider = "local"`).
    LocalProvider,
}

impl Purpose {
    /// How messages name it.
    pub fn who(self) -> &'static str {
        match self {
            Purpose::Testing => "dm-testing",
            Purpose::LocalProvider => "the local provider",
        }
    }

    /// What to do when not root.
    fn fix_not_root(self) -> &'static str {
        match self {
            Purpose::Testing => {
                "run the tests as root, e.g. `sudo -E cargo test` (in dm's own repository: \
                 `scripts/test`)"
            }
            Purpose::LocalProvider => {
                "run dm as root, e.g. `sudo -E cargo run -- boot NAME`, or give the servers a \
                 cloud provider (`provider = \"hetzner\"`) instead"
            }
        }
    }
}

/// Fails unless this process is root and every needed program is installed. `building` adds
/// what building the base tree needs, which only the first run does.
pub fn check(building: bool, purpose: Purpose) -> Result<(), Error> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return Err(Error::NotRoot {
            euid,
            who: purpose.who(),
            fix: purpose.fix_not_root(),
        });
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
        who: purpose.who(),
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
            who: "dm-testing",
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
