//! One job, run in this process through dm-core's executor, without a terminal.
//!
//! The command line's path (`dm_core::cli::run_task`) reaches for the process's terminal in four
//! places, each replaced here by what a job has instead:
//! - the reporter prints to stdout/stderr: a job's events go to its log in the store instead
//!   (and a [`RunRecord`] builds the same report the CLI's `--json` prints);
//! - Ctrl-C drives the run's two-stage [`Interrupt`]: a job's interrupt is driven by
//!   `POST /v1/jobs/{id}/cancel` instead;
//! - the sudo password is asked on the terminal when a host needs it: a job never asks (it has
//!   `DM_SUDO_PASSWORD` of the server's environment, or sudo without a password);
//! - a key's passphrase is asked on the terminal: a job's connections have no prompt, so an
//!   encrypted key is skipped as without a terminal (the agent still works).
//!
//! Redaction is process-wide: loading a job's environment registers its secrets, and every text
//! of every event is masked before it is stored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_core::ctx::{Interrupt, RunShared, SudoPassword};
use dm_core::events::{Event, EventSender};
use dm_core::executor::{self, RunPlan, Selection};
use dm_core::inventory::{Inventory, LoadOptions};
use dm_core::report::RunRecord;
use dm_core::ssh::ConnectOptions;
use dm_core::{Error, TaskDef};
use tokio::sync::{mpsc, oneshot, watch};

use crate::event_json;
use crate::store::{JobStatus, Store};

/// What every job of one server shares.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// The inventory file jobs load (each with its own environment); `None`: `./dm.toml`.
    pub inventory: Option<PathBuf>,
    /// How jobs connect to hosts: the `serve` command's own flags (keys, known_hosts, timeouts),
    /// without a terminal prompt.
    pub connect: ConnectOptions,
    /// The store jobs log to.
    pub store: Store,
    /// Bumped after each stored event or status change, for clients following a log.
    pub changed: watch::Sender<u64>,
}

impl RunEnv {
    /// Tells the followers of job logs that something was stored.
    pub fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// What a job asks for, checked.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The task.
    pub task: &'static TaskDef,
    /// Its parsed arguments.
    pub matches: clap::ArgMatches,
    /// The environment (`None`: the inventory's default).
    pub environment: Option<String>,
    /// `-H` names.
    pub hosts: Vec<String>,
    /// `-R` roles.
    pub roles: Vec<String>,
    /// `--check`.
    pub check: bool,
    /// `--diff`.
    pub diff: bool,
}

/// The handle of a running job: its cancel stages and where to say it was cancelled.
#[derive(Debug, Clone)]
pub struct JobControl {
    /// The executor's two stages: no new hosts, then abort running ones.
    pub interrupt: Interrupt,
    /// The job's events, to log the first cancel like the CLI's first Ctrl-C.
    pub events: EventSender,
}

impl JobControl {
    /// Advances the cancel by one stage: the first stops new hosts, the second aborts running
    /// ones. Returns whether this was the second.
    pub fn cancel(&self) -> bool {
        if self.interrupt.stop_new.is_cancelled() {
            self.interrupt.abort.cancel();
            true
        } else {
            self.interrupt.stop_new.cancel();
            self.events.send(Event::Interrupted);
            false
        }
    }
}

/// Loads the inventory of `environment` (without its secrets): to check a request's names
/// before queueing it, and to run it.
pub fn load_inventory(env: &RunEnv, environment: Option<&str>) -> Result<Inventory, Error> {
    Inventory::load(&LoadOptions {
        path: env.inventory.clone(),
        environment: environment.map(str::to_string),
        ssh_config: None,
    })
}

/// The hosts a job selects: its `hosts` and `roles`, plus the values of the task's
/// `#[arg(hosts)]` argument, exactly as the command line selects them.
pub fn select(spec: &JobSpec, inventory: &Inventory) -> Result<Selection, Error> {
    executor::select(
        spec.task,
        &spec.matches,
        &spec.hosts,
        &spec.roles,
        inventory,
    )
}

/// How a job ended.
#[derive(Debug)]
pub struct JobEnd {
    /// Its final status.
    pub status: JobStatus,
    /// The run's report (redacted JSON), when it ran.
    pub report: Option<serde_json::Value>,
    /// Why it could not run (redacted).
    pub error: Option<String>,
}

/// Runs job `id` to its end, logging its events to the store as they happen. `control` is the
/// job's cancel handle; `events` is the receiving end of its event channel.
pub async fn run(
    env: &RunEnv,
    id: i64,
    spec: JobSpec,
    control: JobControl,
    events: mpsc::UnboundedReceiver<Event>,
) -> JobEnd {
    let (stop, stopped) = oneshot::channel();
    let logger = tokio::spawn(log_events(env.clone(), id, events, stopped));
    let start = Instant::now();
    let ran = execute(env, &spec, &control).await;
    let _ = stop.send(());
    let record = match logger.await {
        Ok(record) => record,
        Err(e) => {
            tracing::error!("job {id}: the event logger failed: {e}");
            RunRecord::new(true)
        }
    };
    let (environment, not_booted) = match ran {
        Ok(done) => done,
        Err(e) => {
            return JobEnd {
                status: JobStatus::Failed,
                report: None,
                error: Some(dm_core::redact::redact(&e.to_string()).into_owned()),
            };
        }
    };
    let mut report = record.into_report(start.elapsed());
    report.environment = environment;
    report.not_booted = not_booted;
    let status = if report.interrupted || control.interrupt.stop_new.is_cancelled() {
        JobStatus::Cancelled
    } else if report.success {
        JobStatus::Succeeded
    } else {
        JobStatus::Failed
    };
    // Like the CLI's `--json`: the whole report through redaction, whatever field a secret hid in.
    let report = serde_json::to_string(&report)
        .ok()
        .and_then(|json| serde_json::from_str(&dm_core::redact::redact(&json)).ok());
    JobEnd {
        status,
        report,
        error: None,
    }
}

/// What [`execute`] hands back for the report: the environment and the declared servers the
/// selection covers that are not booted.
type Ran = (Option<String>, Vec<String>);

/// Loads the job's inventory and secrets, selects its hosts and runs its task.
async fn execute(env: &RunEnv, spec: &JobSpec, control: &JobControl) -> Result<Ran, Error> {
    let mut inventory = load_inventory(env, spec.environment.as_deref())?;
    // Before anything can be logged: decrypting registers every secret value for redaction.
    let age_identity = std::env::var_os("DM_AGE_IDENTITY").map(PathBuf::from);
    let secrets = dm_core::secrets::Secrets::load(&inventory, age_identity.as_deref());
    inventory.attach_secrets(secrets);
    let selection = select(spec, &inventory)?;
    let hosts = selection.run_hosts(spec.task);
    let sudo_preset = std::env::var("DM_SUDO_PASSWORD").ok();
    if let Some(password) = &sudo_preset {
        dm_core::redact::register(password);
    }
    let plan = RunPlan {
        task: spec.task,
        hosts,
        batch_size: spec.task.serial,
        parallel: spec.task.parallel.unwrap_or(DEFAULT_PARALLEL),
        fail_fast: false,
    };
    let environment = inventory.environment().map(str::to_string);
    let shared = Arc::new(RunShared {
        connect: env.connect.clone(),
        inventory: Arc::new(inventory),
        events: control.events.clone(),
        sudo_password: SudoPassword::new(sudo_preset, false),
        check: spec.check,
        diff: spec.diff,
        selected: selection.selected,
        parallel: plan.parallel,
        interrupt: control.interrupt.clone(),
        run_state: Default::default(),
    });
    executor::run(&plan, Arc::new(spec.matches.clone()), shared.clone()).await;
    if shared.interrupt.abort.is_cancelled() && !dm_core::ssh::end_abandoned(ABANDON_LIMIT).await {
        tracing::warn!("some commands of abandoned hosts may still run there");
    }
    Ok((environment, selection.not_booted))
}

/// Hosts at once when the task sets no limit: the command line's `-p` default.
const DEFAULT_PARALLEL: usize = 64;

/// How long a second cancel waits for the commands of abandoned hosts to be ended there.
const ABANDON_LIMIT: Duration = Duration::from_secs(5);

/// Stores every event of job `id` as it arrives (numbered from after what the log already
/// holds) and records it for the report, until `stopped` and the channel is drained.
async fn log_events(
    env: RunEnv,
    id: i64,
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut stopped: oneshot::Receiver<()>,
) -> RunRecord {
    let mut record = RunRecord::new(true);
    let mut seq = env.store.last_seq(id).await.unwrap_or(0);
    let store = |event: Event, record: &mut RunRecord, seq: &mut i64| {
        record.record(&event);
        *seq += 1;
        (*seq, event_json::to_json(&event))
    };
    loop {
        let event = tokio::select! {
            biased;
            event = rx.recv() => event,
            _ = &mut stopped => None,
        };
        let batch: Vec<(i64, serde_json::Value)> = match event {
            Some(event) => {
                let mut batch = vec![store(event, &mut record, &mut seq)];
                while let Ok(more) = rx.try_recv() {
                    batch.push(store(more, &mut record, &mut seq));
                }
                batch
            }
            None => {
                let mut batch = Vec::new();
                while let Ok(more) = rx.try_recv() {
                    batch.push(store(more, &mut record, &mut seq));
                }
                write(&env, id, batch).await;
                return record;
            }
        };
        write(&env, id, batch).await;
    }
}

/// Stores a batch of a job's events, then tells followers.
async fn write(env: &RunEnv, id: i64, batch: Vec<(i64, serde_json::Value)>) {
    if batch.is_empty() {
        return;
    }
    for (seq, data) in batch {
        if let Err(e) = env.store.append_event(id, seq, &data).await {
            tracing::error!("job {id}: cannot store event {seq}: {e}");
        }
    }
    env.bump();
}
