//! The queue: which job starts when. Jobs of one environment run one at a time, in the order
//! they were queued (a second run waits, it is never refused); jobs of different environments
//! run at the same time. The store is the queue: a job is a `queued` row until the scheduler
//! moves it to `running`, so a restarted server finds the same queue.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::runner::{self, JobControl, JobSpec, RunEnv};
use crate::store::{JobRow, JobStatus, StoreError};

/// A job's request as stored: what `POST /v1/tasks/{task}/runs` accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The task's arguments by name.
    #[serde(default)]
    pub args: serde_json::Value,
    /// The environment (default: the inventory's `default_environment`).
    #[serde(default)]
    pub environment: Option<String>,
    /// Servers by name (`-H`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Roles (`-R`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Plan and report only (`--check`).
    #[serde(default)]
    pub check: bool,
    /// Show diffs of file contents (`--diff`).
    #[serde(default)]
    pub diff: bool,
}

impl JobRequest {
    /// The checked job `task` runs with this request, or every problem with its arguments.
    pub fn spec(&self, task: &'static dm_core::TaskDef) -> Result<JobSpec, Vec<String>> {
        let matches = crate::job_args::parse(task, &self.args)?;
        Ok(JobSpec {
            task,
            matches,
            environment: self.environment.clone(),
            hosts: self.hosts.clone(),
            roles: self.roles.clone(),
            check: self.check,
            diff: self.diff,
        })
    }
}

/// The scheduler of one server.
#[derive(Debug)]
pub struct Queue {
    env: RunEnv,
    wake: Notify,
    /// Running jobs: their environment and cancel handle.
    running: Mutex<HashMap<i64, (String, JobControl)>>,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The job had not started: it never will.
    BeforeStart,
    /// First cancel of a running job: no new host starts.
    StopNew,
    /// Second cancel: running hosts are aborted.
    Abort,
    /// The job had ended already.
    AlreadyEnded,
}

impl Queue {
    /// A scheduler for jobs run with `env`.
    pub fn new(env: RunEnv) -> Arc<Queue> {
        Arc::new(Queue {
            env,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// What jobs run with.
    pub fn env(&self) -> &RunEnv {
        &self.env
    }

    /// Asks the scheduler to look at the queue (a job was queued or ended).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (String, JobControl)>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts jobs as their environments become free, until `shutdown`; then starts no more
    /// and waits for the running ones to end.
    pub async fn schedule(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.start_ready().await {
                tracing::error!("cannot read the job queue: {e}");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = shutdown.cancelled() => break,
            }
        }
        while !self.running().is_empty() {
            self.wake.notified().await;
        }
    }

    /// Starts the oldest queued job of every environment that runs none.
    async fn start_ready(self: &Arc<Self>) -> Result<(), StoreError> {
        let queued = self.env.store.queued().await?;
        let mut busy: HashSet<String> = self.running().values().map(|(e, _)| e.clone()).collect();
        for job in queued {
            if !busy.insert(job.environment.clone()) {
                continue;
            }
            // In the map before it is `running` in the store: a cancel never finds a running
            // job it cannot reach.
            let (events, rx) = dm_core::events::EventSender::channel();
            let control = JobControl {
                interrupt: dm_core::ctx::Interrupt::default(),
                events,
            };
            self.running()
                .insert(job.id, (job.environment.clone(), control.clone()));
            let started = self
                .env
                .store
                .transition(job.id, JobStatus::Queued, JobStatus::Running)
                .await;
            match started {
                Ok(true) => self.start(job, control, rx),
                Ok(false) => {
                    // Cancelled before it started.
                    self.running().remove(&job.id);
                }
                Err(e) => {
                    self.running().remove(&job.id);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Runs `job` (already marked running, its `control` in the map) on its own tokio task.
    fn start(
        self: &Arc<Self>,
        job: JobRow,
        control: JobControl,
        rx: tokio::sync::mpsc::UnboundedReceiver<dm_core::events::Event>,
    ) {
        self.env.bump();
        let queue = self.clone();
        tokio::spawn(async move {
            let id = job.id;
            let spec = serde_json::from_value::<JobRequest>(job.request.clone())
                .map_err(|e| vec![e.to_string()])
                .and_then(|request| match crate::task_model::find(&job.task) {
                    Some(task) => request.spec(task),
                    None => Err(vec![format!(
                        "task `{}` is not in this fabfile any more",
                        job.task
                    )]),
                });
            let end = match spec {
                Ok(spec) => runner::run(&queue.env, id, spec, control, rx).await,
                Err(problems) => runner::JobEnd {
                    status: JobStatus::Failed,
                    report: None,
                    error: Some(problems.join("; ")),
                },
            };
            if let Err(e) = queue
                .env
                .store
                .finish_job(id, end.status, end.report.as_ref(), end.error.as_deref())
                .await
            {
                tracing::error!("job {id}: cannot store its end: {e}");
            }
            queue.running().remove(&id);
            queue.env.bump();
            queue.wake();
        });
    }

    /// Cancels job `id` one stage further (see [`Cancelled`]); `None` when there is no such job.
    pub async fn cancel(&self, id: i64) -> Result<Option<Cancelled>, StoreError> {
        let store = &self.env.store;
        if store
            .transition(id, JobStatus::Queued, JobStatus::Cancelled)
            .await?
        {
            store
                .finish_job(
                    id,
                    JobStatus::Cancelled,
                    None,
                    Some("cancelled before it started"),
                )
                .await?;
            self.env.bump();
            return Ok(Some(Cancelled::BeforeStart));
        }
        let control = self.running().get(&id).map(|(_, c)| c.clone());
        if let Some(control) = control {
            // A job that just ended may still be in the map for a moment: its stored status
            // says whether there is anything left to cancel.
            let live = store
                .transition(id, JobStatus::Running, JobStatus::Cancelling)
                .await?
                || store
                    .job(id)
                    .await?
                    .is_some_and(|job| job.status == JobStatus::Cancelling);
            if live {
                self.env.bump();
                return Ok(Some(if control.cancel() {
                    Cancelled::Abort
                } else {
                    Cancelled::StopNew
                }));
            }
        }
        Ok(store.job(id).await?.map(|_| Cancelled::AlreadyEnded))
    }
}
