//! Exit codes, mapped from how a run ended.

use std::process::ExitCode;

use crate::error::Error;
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
/// The run was interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The exit code for an error that stopped dm before any host ran.
pub fn for_error(error: &Error) -> ExitCode {
    ExitCode::from(match error {
        Error::UnknownTask { .. } | Error::NoHostsSelected { .. } | Error::Usage { .. } => USAGE,
        Error::Interrupted => INTERRUPTED,
        _ => CONFIG,
    })
}

/// The exit code for a finished run.
pub fn for_report(report: &RunReport) -> ExitCode {
    let c = &report.counts;
    ExitCode::from(if report.interrupted {
        INTERRUPTED
    } else if c.failed > 0 || c.skipped > 0 {
        TASK_FAILED
    } else if c.unreachable > 0 {
        UNREACHABLE
    } else {
        OK
    })
}
