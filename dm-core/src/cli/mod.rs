//! The command line of a fabfile binary: `dm [FLAGS] TASK [ARGS]`.
//!
//! [`main`] is what `dm::main!()` calls. It parses the flags ([`command`]), validates them once
//! ([`settings`]), loads the inventory, selects hosts, runs the task through the executor, prints
//! the summary or the JSON report, and maps the result to an exit code ([`exit`]).

pub mod command;
pub mod exit;
pub mod list;
pub mod secrets;
pub mod settings;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use crate::ctx::{Interrupt, RunShared, SudoPassword};
use crate::error::{Error, suggest};
use crate::events::EventSender;
use crate::executor::{self, RunPlan};
use crate::inventory::Inventory;
use crate::report::{Reporter, RunReport, summary};
use crate::task;

pub use settings::Settings;

/// Runs the command line of the current process and returns its exit code.
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    runtime.block_on(run(std::env::args_os().collect()))
}

/// Runs a command line (`args[0]` is the program name) and returns its exit code.
pub async fn run(args: Vec<OsString>) -> ExitCode {
    let (task, matches, settings) = match parse(args) {
        Ok(Request::Task {
            task,
            matches,
            settings,
        }) => (task, matches, settings),
        Ok(Request::Completions {
            shell,
            mut command,
            program,
        }) => {
            clap_complete::generate(shell, &mut command, program, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Ok(Request::List(tasks)) => {
            write_stdout(&list::render(&tasks));
            return ExitCode::SUCCESS;
        }
        Ok(Request::Secrets { matches, settings }) => {
            return secrets::run(&matches, &settings).await;
        }
        Err(Refusal::Clap(e, hint)) => {
            let code = e.exit_code();
            let _ = e.print();
            if let Some(hint) = hint {
                eprintln!("\n{hint}");
            }
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
        Err(Refusal::NoTask(tasks)) => {
            eprintln!("error: no task given\n\n{}", list::render(&tasks));
            return ExitCode::from(exit::USAGE);
        }
        Err(Refusal::Dm(err)) => {
            eprintln!("error: {err}");
            return exit::for_error(&err);
        }
    };
    match run_task(task, matches, &settings).await {
        Ok(report) => {
            if settings.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => write_stdout(&format!("{}\n", crate::redact::redact(&json))),
                    Err(e) => eprintln!("error: cannot write the JSON report: {e}"),
                }
            } else if report.exit_as.is_none() {
                eprint!("{}", summary::render(&report, settings.verbose > 0));
            }
            match report.exit_as {
                // A task that stands in for a program (`ssh`) ends like it, unless interrupted.
                Some(code) if !report.interrupted => ExitCode::from(code),
                _ => exit::for_report(&report),
            }
        }
        Err(err) => {
            eprintln!("error: {}", crate::redact::redact(&err.to_string()));
            exit::for_error(&err)
        }
    }
}

/// Writes `text` to standard output. A reader that went away (`dm --json | head`) is not an
/// error of the run: `println!` would panic on the broken pipe, this drops the rest.
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Runs a command line (`args[0]` is the program name) in this process, like [`run`], and
/// returns the run's report instead of printing the summary and mapping it to an exit code.
/// Live output is shown as with [`run`] (with `--json`, it is collected into the report instead).
///
/// This is how tests run a fabfile's tasks in-process (`dm::testing::Fleet::dm`). A command
/// line that runs no task (`--help`, `--list`, `--completions`, a bad flag) is an
/// [`Error::Usage`].
pub async fn run_args(args: Vec<OsString>) -> Result<RunReport, Error> {
    let no_run = |message: &str| Error::Usage {
        message: message.to_string(),
    };
    match parse(args) {
        Ok(Request::Task {
            task,
            matches,
            settings,
        }) => run_task(task, matches, &settings).await,
        Ok(Request::Completions { .. }) => Err(no_run(
            "--completions prints shell completions and runs no task",
        )),
        Ok(Request::List(_)) => Err(no_run("--list lists the tasks and runs none")),
        Ok(Request::Secrets { .. }) => Err(no_run(
            "`secrets` manages the secrets store and runs no task",
        )),
        Err(Refusal::Clap(e, hint)) => {
            let rendered = e.render().to_string();
            let message = rendered.trim().trim_start_matches("error: ");
            Err(no_run(&match hint {
                Some(hint) => format!("{message}\n{hint}"),
                None => message.to_string(),
            }))
        }
        Err(Refusal::NoTask(_)) => Err(no_run("no task given: name the task to run")),
        Err(Refusal::Dm(err)) => Err(err),
    }
}

/// What a parsed command line asks for.
enum Request {
    /// `--completions SHELL`: print completions for the command.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
        /// The whole command, which completions are generated from (boxed: it is large).
        command: Box<clap::Command>,
        /// The program name the completions are for.
        program: String,
    },
    /// `--list`: print the tasks.
    List(Vec<&'static task::TaskDef>),
    /// `secrets ...`: the built-in secrets command.
    Secrets {
        /// The arguments after `secrets`.
        matches: clap::ArgMatches,
        /// The global flags (`-f` says where the inventory, and so the secrets, are).
        settings: Settings,
    },
    /// Run a task.
    Task {
        /// The task.
        task: &'static task::TaskDef,
        /// Its parsed arguments.
        matches: Arc<clap::ArgMatches>,
        /// The global flags.
        settings: Settings,
    },
}

/// Why a command line asks for nothing that can be done.
enum Refusal {
    /// clap refused it, or it asked for help or the version (which clap reports as errors);
    /// with a hint when a global flag came after the task name.
    Clap(clap::Error, Option<String>),
    /// No task was named; the tasks there are.
    NoTask(Vec<&'static task::TaskDef>),
    /// Another problem, e.g. a task that vanished from the registry.
    Dm(Error),
}

/// Parses a command line against the registered tasks: the one place [`run`] and [`run_args`]
/// share, so both accept exactly the same command lines.
fn parse(args: Vec<OsString>) -> Result<Request, Refusal> {
    let program = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dm".to_string());
    let tasks = task::registered();
    if let Some(message) = task::name_clash(&tasks).or_else(|| secrets::name_clash(&tasks)) {
        return Err(Refusal::Dm(Error::Usage { message }));
    }
    let command = command::build(&program, &tasks);
    let matches = command.clone().try_get_matches_from(args).map_err(|e| {
        let hint = command::misplaced_global_flag(&program, &e);
        Refusal::Clap(e, hint)
    })?;
    if let Some(shell) = matches.get_one::<clap_complete::Shell>("completions") {
        return Ok(Request::Completions {
            shell: *shell,
            command: Box::new(command),
            program,
        });
    }
    if matches.get_flag("list") {
        return Ok(Request::List(tasks));
    }
    let settings = Settings::from_matches(&matches);
    init_tracing(settings.verbose);
    let Some((task_name, task_matches)) = matches.subcommand() else {
        return Err(Refusal::NoTask(tasks));
    };
    if task_name == secrets::NAME {
        return Ok(Request::Secrets {
            matches: task_matches.clone(),
            settings,
        });
    }
    let Some(task) = task::find(task_name) else {
        // clap rejects unknown subcommands; this only guards a registry changed mid-run.
        return Err(Refusal::Dm(Error::UnknownTask {
            name: task_name.to_string(),
            suggestion: suggest(task_name, tasks.iter().map(|t| t.name)),
        }));
    };
    Ok(Request::Task {
        task,
        matches: Arc::new(task_matches.clone()),
        settings,
    })
}

/// Loads the inventory, selects hosts and runs `task` on them.
pub async fn run_task(
    task: &'static task::TaskDef,
    matches: Arc<clap::ArgMatches>,
    settings: &Settings,
) -> Result<RunReport, Error> {
    let mut inventory = Inventory::load(&settings.inventory)?;
    // Before anything can print: decrypting registers every secret value for redaction.
    let age_identity = std::env::var_os("DM_AGE_IDENTITY").map(std::path::PathBuf::from);
    let secrets = crate::secrets::Secrets::load(&inventory, age_identity.as_deref());
    inventory.attach_secrets(secrets);
    let selection = executor::select(task, &matches, &settings.hosts, &settings.roles, &inventory)?;
    let hosts = selection.run_hosts(task);
    let sudo_password = SudoPassword::new(sudo_preset(settings)?, stdin_is_terminal());
    let (events, rx) = EventSender::channel();
    let reporter = Reporter::start(rx, settings.reporter_options(hosts.len()));
    let plan = RunPlan {
        task,
        hosts,
        batch_size: settings.serial.or(task.serial),
        parallel: task
            .parallel
            .unwrap_or(settings.parallel)
            .min(settings.parallel),
        fail_fast: settings.fail_fast,
    };
    let shared = Arc::new(RunShared {
        connect: settings.connect_options(inventory.known_hosts()),
        inventory: Arc::new(inventory),
        events: events.clone(),
        sudo_password,
        check: settings.check,
        diff: settings.diff,
        selected: selection.selected,
        parallel: plan.parallel,
        interrupt: Interrupt::on_ctrl_c(events),
        run_state: Default::default(),
    });
    executor::run(&plan, matches, shared.clone()).await;
    if shared.interrupt.abort.is_cancelled() && !crate::ssh::end_abandoned(ABANDON_LIMIT).await {
        tracing::warn!("some commands of abandoned hosts may still run there");
    }
    // The report is the reporter's, built from the run's events alone.
    let mut report = reporter.finish().await;
    report.environment = shared.inventory.environment().map(str::to_string);
    report.not_booted = selection.not_booted;
    report.exit_as = shared
        .run_state
        .get::<crate::ctx::ExitAs>()
        .0
        .get()
        .copied();
    Ok(report)
}

/// How long dm waits, after a second Ctrl-C, for the commands of abandoned hosts to be ended
/// there (`TERM`, then `KILL`): a host that does not answer must not hold the exit for long.
const ABANDON_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

fn sudo_preset(settings: &Settings) -> Result<Option<String>, Error> {
    let password = if let Ok(p) = std::env::var("DM_SUDO_PASSWORD") {
        Some(p)
    } else if settings.ask_sudo_pass {
        Some(
            crate::prompt::ask_hidden("sudo password (for all hosts): ").map_err(|source| {
                Error::LocalIo {
                    path: "/dev/tty".into(),
                    source,
                }
            })?,
        )
    } else {
        None
    };
    if let Some(p) = &password {
        crate::redact::register(p);
    }
    Ok(password)
}

fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 | 1 => "warn",
        2 => "dm_core=debug,warn",
        _ => "debug",
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(|| crate::redact::RedactingStderr)
        .try_init();
}
