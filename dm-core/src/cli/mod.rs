//! The command line of a fabfile binary: `dm [FLAGS] TASK [ARGS]`.
//!
//! [`main`] is what `dm::main!()` calls. It parses the flags ([`command`]), validates them once
//! ([`settings`]), loads the inventory, selects hosts, runs the task through the executor, prints
//! the summary or the JSON report, and maps the result to an exit code ([`exit`]).

pub mod command;
pub mod exit;
pub mod list;
pub mod prompt;
pub mod settings;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use crate::ctx::{RunShared, SudoPassword};
use crate::error::{Error, suggest};
use crate::executor::{self, EventSender, Interrupt, Plan};
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
    let program = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dm".to_string());
    let tasks = task::registered();
    let mut command = command::build(&program, &tasks);
    let matches = match command.clone().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
    };
    if let Some(shell) = matches.get_one::<clap_complete::Shell>("completions") {
        clap_complete::generate(*shell, &mut command, program, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if matches.get_flag("list") {
        print!("{}", list::render(&tasks));
        return ExitCode::SUCCESS;
    }
    let settings = Settings::from_matches(&matches);
    init_tracing(settings.verbose);
    let Some((task_name, task_matches)) = matches.subcommand() else {
        eprintln!("error: no task given\n\n{}", list::render(&tasks));
        return ExitCode::from(exit::USAGE);
    };
    let Some(task) = task::find(task_name) else {
        // clap rejects unknown subcommands; this only guards a registry changed mid-run.
        let err = Error::UnknownTask {
            name: task_name.to_string(),
            suggestion: suggest(task_name, tasks.iter().map(|t| t.name)),
        };
        eprintln!("error: {err}");
        return exit::for_error(&err);
    };
    match run_task(task, Arc::new(task_matches.clone()), &settings).await {
        Ok(report) => {
            if settings.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{}", crate::redact::redact(&json)),
                    Err(e) => eprintln!("error: cannot write the JSON report: {e}"),
                }
            } else {
                eprint!("{}", summary::render(&report, settings.verbose > 0));
            }
            exit::for_report(&report)
        }
        Err(err) => {
            eprintln!("error: {}", crate::redact::redact(&err.to_string()));
            exit::for_error(&err)
        }
    }
}

/// Loads the inventory, selects hosts and runs `task` on them.
pub async fn run_task(
    task: &'static task::TaskDef,
    matches: Arc<clap::ArgMatches>,
    settings: &Settings,
) -> Result<RunReport, Error> {
    let inventory = Inventory::load(&settings.inventory)?;
    let hosts = if task.local {
        Vec::new()
    } else {
        let hosts = inventory.select(&settings.hosts, &settings.roles, task.roles)?;
        if hosts.is_empty() {
            return Err(Error::NoHostsSelected {
                task: task.name.to_string(),
                has_inventory: inventory.path().is_some(),
            });
        }
        hosts.into_iter().map(Arc::new).collect()
    };
    let sudo_password = SudoPassword::new(sudo_preset(settings)?, stdin_is_terminal());
    let (events, rx) = EventSender::channel();
    let reporter = Reporter::start(rx, settings.reporter_options(hosts.len()));
    let shared = Arc::new(RunShared {
        connect: settings.connect_options(inventory.known_hosts()),
        inventory: Arc::new(inventory),
        events: events.clone(),
        sudo_password,
    });
    let plan = Plan {
        task,
        hosts,
        batch_size: settings.serial.or(task.serial),
        parallel: task
            .parallel
            .unwrap_or(settings.parallel)
            .min(settings.parallel),
        fail_fast: settings.fail_fast,
    };
    let interrupt = Interrupt::on_ctrl_c(events);
    let start = Instant::now();
    let results = executor::run(&plan, matches, shared, &interrupt).await;
    let outputs = reporter.finish().await;
    Ok(RunReport::new(
        task.name,
        &results,
        outputs,
        start.elapsed(),
        interrupt.stop_new.is_cancelled(),
    ))
}

fn sudo_preset(settings: &Settings) -> Result<Option<String>, Error> {
    let password = if let Ok(p) = std::env::var("DM_SUDO_PASSWORD") {
        Some(p)
    } else if settings.ask_sudo_pass {
        Some(
            rpassword::prompt_password("sudo password (for all hosts): ").map_err(|source| {
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
