//! Exit codes, mapped from how a run ended.

use std::process::ExitCode;

use crate::error::Error;
use crate::events::Refusal;
use crate::report::RunReport;

/// Every host succeeded.
pub const OK: u8 = 0;
/// The task failed on at least one host.
pub const TASK_FAILED: u8 = 1;
/// The command line was wrong (bad flag or argument, unknown task, nothing selected).
pub const USAGE: u8 = 2;
/// The inventory or ssh config is wrong, or names something unknown.
pub const CONFIG: u8 = 3;
/// Some hosts could not be reached, and none of the reached ones failed.
pub const UNREACHABLE: u8 = 4;
/// A host offered a key that does not match known_hosts: possibly an interception. It takes
/// precedence over every other code but an interrupt, so a script cannot mistake it for a
/// network fault or a task failure.
pub const HOST_KEY_CHANGED: u8 = 5;
/// The run was interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The exit code for an error that stopped dm before any host ran.
pub fn for_error(error: &Error) -> ExitCode {
    ExitCode::from(match error {
        Error::Interrupted => INTERRUPTED,
        Error::HostKeyChanged { .. }
        | Error::HostKeyRevoked { .. }
        | Error::HostCertificateRefused { .. } => HOST_KEY_CHANGED,
        _ => match error.refusal() {
            Some(Refusal::Usage) => USAGE,
            _ => CONFIG,
        },
    })
}

/// The exit code for a finished run: interrupted, then a changed host key, then a failure
/// (failed or skipped hosts), then a refused input (bad argument before a name the inventory
/// does not know), then unreachable hosts.
pub fn for_report(report: &RunReport) -> ExitCode {
    let c = &report.counts;
    ExitCode::from(if report.interrupted {
        INTERRUPTED
    } else if c.untrusted > 0 {
        HOST_KEY_CHANGED
    } else if c.failed > 0 || c.skipped > 0 {
        TASK_FAILED
    } else if c.refused_usage > 0 {
        USAGE
    } else if c.refused_config > 0 {
        CONFIG
    } else if c.unreachable > 0 {
        UNREACHABLE
    } else {
        OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Counts;

    fn code(counts: Counts) -> u8 {
        let report = RunReport {
            task: "t".to_string(),
            environment: None,
            success: false,
            interrupted: false,
            elapsed_secs: 0.0,
            host_counts: counts.clone(),
            counts,
            operations: Default::default(),
            skipped_commands: 0,
            hosts: Vec::new(),
            exit_as: None,
            not_booted: Vec::new(),
        };
        // ExitCode has no accessor: compare with the codes built the same way.
        for candidate in [
            OK,
            TASK_FAILED,
            USAGE,
            CONFIG,
            UNREACHABLE,
            HOST_KEY_CHANGED,
        ] {
            if for_report(&report) == ExitCode::from(candidate) {
                return candidate;
            }
        }
        u8::MAX
    }

    #[test]
    fn exit_codes_follow_the_documented_precedence() {
        let c = |f: fn(&mut Counts)| {
            let mut counts = Counts::default();
            f(&mut counts);
            counts
        };
        assert_eq!(code(c(|c| c.ok = 2)), OK);
        assert_eq!(code(c(|c| c.unreachable = 1)), UNREACHABLE);
        assert_eq!(code(c(|c| c.refused_config = 1)), CONFIG);
        assert_eq!(
            code(c(|c| {
                c.refused_usage = 1;
                c.refused_config = 1
            })),
            USAGE
        );
        assert_eq!(
            code(c(|c| {
                c.failed = 1;
                c.refused_usage = 1;
                c.unreachable = 1
            })),
            TASK_FAILED
        );
        assert_eq!(
            code(c(|c| {
                c.failed = 1;
                c.untrusted = 1
            })),
            HOST_KEY_CHANGED
        );
    }

    #[test]
    fn errors_before_a_run_map_to_usage_or_config() {
        let usage = Error::Usage {
            message: "x".to_string(),
        };
        assert_eq!(for_error(&usage), ExitCode::from(USAGE));
        let unknown = Error::UnknownEnvironment {
            name: "prod".to_string(),
            inventory: "dm.toml".to_string(),
            known: Vec::new(),
        };
        assert_eq!(for_error(&unknown), ExitCode::from(CONFIG));
    }
}
