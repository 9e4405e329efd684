//! Running the fabfile's tasks against a fleet, in the test's own process: the same command line a
//! user types (`-R appnode restart ssh`), parsed and run by the same code as the fabfile binary
//! ([`dm_core::cli::run_args`]), with the fleet's inventory. The tasks are those linked into the
//! test binary: the fabfile's when its tasks live in its library (see the module docs).

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;

use std::time::Duration;

use crate::fleet::Fleet;
use dm_core::cli::run_args;
use dm_core::report::RunReport;
use dm_machines::error::Error;

impl Fleet {
    /// Runs a dm command line against the fleet, in this process, and returns the run's report.
    /// `args` are what follows the program name, e.g. `["-R", "appnode", "restart", "ssh"]`;
    /// the fleet's inventory is added (`-f` [`Fleet::inventory_path`], and `--ssh-config
    /// /dev/null` so your own ssh config cannot redirect the machines), so do not pass `-f` or
    /// `--ssh-config` yourself.
    ///
    /// Live output goes to the test's stderr as in a terminal; pass `--json` to collect every
    /// host's output into [`RunReport::hosts`] instead. A task that fails on a host is not an
    /// error: check `report.success` or use [`Fleet::dm_ok`]. Err means nothing ran: a bad command
    /// line (an unknown task: is the fabfile's library linked into the test?), an unknown host or
    /// role.
    ///
    /// Runs on a thread of its own with its own async runtime, so it works from plain `#[test]`s
    /// and from inside `#[tokio::test]` alike; in async code [`Fleet::dm_async`] avoids blocking.
    pub fn dm<I, S>(&self, args: I) -> Result<RunReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_blocking(self.command_line(args), RUN_DEADLINE)
    }

    /// [`Fleet::dm`] with a deadline of the test's own instead of [`RUN_DEADLINE`]: a run still
    /// going after `deadline` is abandoned (its connections closed) and is an error saying so.
    pub fn dm_within<I, S>(&self, deadline: Duration, args: I) -> Result<RunReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_blocking(self.command_line(args), deadline)
    }

    /// [`Fleet::dm`] for async tests (`#[tokio::test]`), on the caller's runtime.
    pub async fn dm_async<I, S>(&self, args: I) -> Result<RunReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.command_line(args), RUN_DEADLINE).await
    }

    /// Like [`Fleet::dm`], for runs that must succeed on every host.
    ///
    /// # Panics
    /// This is a test helper: it panics when the run cannot start, or when it did not succeed on
    /// every host, with each failed host's error (and output, with `--json`).
    #[track_caller]
    pub fn dm_ok<I, S>(&self, args: I) -> RunReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        expect_success(&args, self.dm(&args))
    }

    /// The whole command line: program name, the fleet's inventory, then `args`.
    fn command_line<I, S>(&self, args: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        command_line(&self.inventory_path(), args)
    }
}

/// The whole command line: program name, the inventory at `inventory` (and no ssh config), then
/// `args`.
pub(crate) fn command_line<I, S>(inventory: &std::path::Path, args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut line: Vec<OsString> = vec![
        "dm".into(),
        "-f".into(),
        inventory.as_os_str().to_owned(),
        "--ssh-config".into(),
        "/dev/null".into(),
    ];
    line.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    line
}

/// How long one in-process run ([`Fleet::dm`], [`crate::LocalProject::dm`]) may take before it is
/// abandoned and reported as an error: longer than any run of dm's own suite (a first `launch`
/// with apt and pip), far shorter than a CI job's limit, so a hang fails its test with what it
/// ran instead of stalling the whole job.
pub const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// Runs a whole command line in this process, on a thread of its own with its own async runtime
/// (so it works from plain `#[test]`s and from inside `#[tokio::test]` alike), within
/// `deadline`.
pub(crate) fn run_blocking(line: Vec<OsString>, deadline: Duration) -> Result<RunReport, Error> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Runtime(format!("cannot start an async runtime: {e}")))?;
            let result = runtime.block_on(run(line, deadline));
            // An abandoned run may leave tasks blocked (a prompt, a hung connection): do not
            // wait for them.
            runtime.shutdown_background();
            result
        });
        thread.join().unwrap_or_else(|_| {
            Err(Error::Runtime(
                "the thread running dm panicked (its message is above)".into(),
            ))
        })
    })
}

/// Runs a command line within `deadline`, explaining the likely cause when the task is unknown.
async fn run(line: Vec<OsString>, deadline: Duration) -> Result<RunReport, Error> {
    let shown: Vec<String> = line
        .iter()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let Ok(result) = tokio::time::timeout(deadline, run_args(line)).await else {
        return Err(Error::Runtime(format!(
            "dm {} did not finish within {deadline:?}: abandoned (a hang fails the test instead \
             of running into CI's time limit)",
            shown.join(" ")
        )));
    };
    match result {
        Ok(report) => Ok(report),
        Err(dm_core::Error::Usage { message }) if message.contains("unrecognized subcommand") => {
            let tasks: Vec<&str> = dm_core::task::registered().iter().map(|t| t.name).collect();
            Err(Error::Dm(dm_core::Error::Usage {
                message: format!(
                    "{message}\n(the tasks linked into this test binary: {}. A test of a fabfile \
                     crate sees its tasks only when they are in its library, src/lib.rs, and the \
                     test names the library: `use my_fabfile as _;`)",
                    tasks.join(", ")
                ),
            }))
        }
        Err(e) => Err(Error::Dm(e)),
    }
}

/// Every host that did not succeed, with its error and output, for a failure message.
pub(crate) fn describe(report: &RunReport) -> String {
    let mut text = format!(
        "task {}: {} ok, {} failed, {} unreachable, {} skipped{}\n",
        report.task,
        report.counts.ok,
        report.counts.failed,
        report.counts.unreachable,
        report.counts.skipped,
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    for host in report.hosts.iter().filter(|h| h.status != "ok") {
        let _ = writeln!(
            text,
            "  {}: {}: {}",
            host.host,
            host.status,
            host.error.as_deref().unwrap_or("(no error message)")
        );
        for line in &host.output {
            let _ = writeln!(text, "    [{}] {}", line.stream, line.line);
        }
    }
    text
}

/// The report of the run of `args`, which must have succeeded: the end of `dm_ok` of
/// [`Fleet`] and [`crate::LocalProject`].
///
/// # Panics
/// When the run could not start or did not succeed, with each failed host's error.
#[track_caller]
pub(crate) fn expect_success(args: &[OsString], result: Result<RunReport, Error>) -> RunReport {
    match result {
        Ok(report) if report.success => report,
        Ok(report) => panic!("dm {args:?} did not succeed:\n{}", describe(&report)),
        Err(e) => panic!("dm {args:?} could not run: {e}"),
    }
}
