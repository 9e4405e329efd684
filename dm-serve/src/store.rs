//! The store: jobs, their events, users, tokens and the audit log, in SQLite through sqlx.
//!
//! Every query is a runtime `sqlx::query` (no `DATABASE_URL` at build time) in SQL that
//! PostgreSQL reads too, so a second backend is a second pool type and migration folder, not a
//! rewrite. SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout, in a
//! file only its owner can read: it holds token hashes and job logs.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::permissions::{Effect, Rule};

/// A store error: the database refused or failed.
pub type StoreError = sqlx::Error;

/// The file name of the default database, next to `dm.toml`.
pub const DEFAULT_FILE: &str = "dm-serve.sqlite";

/// The migrations of the SQLite schema, in order, embedded in the binary.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "rules",
        include_str!("../migrations/sqlite/0002_rules.sql"),
    ),
    (
        3,
        "admins",
        include_str!("../migrations/sqlite/0003_admins.sql"),
    ),
];

/// The database of a `serve` process.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the jobs before it in its environment.
    Queued,
    /// Running.
    Running,
    /// Ended, every host ok.
    Succeeded,
    /// Ended, some host not ok, or the run could not start.
    Failed,
    /// Cancel asked: no new host starts; running ones finish (or are aborted by a second cancel).
    Cancelling,
    /// Ended after a cancel.
    Cancelled,
    /// The server died while the job ran; its log is what was stored until then.
    Interrupted,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelling,
        JobStatus::Cancelled,
        JobStatus::Interrupted,
    ];

    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted => "interrupted",
        }
    }

    /// The status a stored word names.
    pub fn parse(word: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Whether the job has ended (nothing more will be added to its log).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded
                | JobStatus::Failed
                | JobStatus::Cancelled
                | JobStatus::Interrupted
        )
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// The job's id.
    pub id: i64,
    /// The task it runs.
    pub task: String,
    /// The environment it runs in (`""`: the inventory has none).
    pub environment: String,
    /// Where it is.
    pub status: JobStatus,
    /// Who asked for it.
    pub user: String,
    /// The request as accepted: `args`, `hosts`, `roles`, `check`, `diff`.
    pub request: serde_json::Value,
    /// The run's report once it ended (redacted).
    pub report: Option<serde_json::Value>,
    /// Why the run could not start or went wrong outside any host.
    pub error: Option<String>,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// When it started.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
}

/// One stored event of a job.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Its place in the job's log, from 1: the SSE event id.
    pub seq: i64,
    /// When it was stored (ms since the epoch).
    pub at: i64,
    /// The event (see [`crate::event_json`]).
    pub data: serde_json::Value,
}

/// Which jobs `GET /v1/jobs` lists.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this task.
    pub task: Option<String>,
    /// Only jobs of this environment.
    pub environment: Option<String>,
    /// Only jobs this user asked for.
    pub user: Option<String>,
    /// Only jobs with an id below this (the page after one that ended with it).
    pub before: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A user's token as the store knows it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// The token's public id.
    pub id: String,
    /// Its owner.
    pub user: String,
    /// SHA-256 of its secret part, hex.
    pub secret_sha256: String,
    /// When it stops working (ms since the epoch).
    pub expires_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating it, mode 0600) the SQLite database at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            create_private(path)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks every job a previous server left running (or cancelling) as interrupted, with a
    /// last event saying so, and returns their ids: nothing stays `running` forever.
    pub async fn interrupt_leftovers(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT id FROM jobs WHERE status IN ('running', 'cancelling')")
            .fetch_all(&self.pool)
            .await?;
        let mut ids = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let note = serde_json::json!({
                "kind": "job_interrupted",
                "message": "the server stopped while this job ran; what it did until then is above",
            });
            let seq = self.last_seq(id).await? + 1;
            self.append_event(id, seq, &note).await?;
            self.finish_job(id, JobStatus::Interrupted, None, None)
                .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Queues a job and returns its id.
    pub async fn insert_job(
        &self,
        task: &str,
        environment: &str,
        user: &str,
        request: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO jobs (task, environment, status, user_name, request, created_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5) RETURNING id",
        )
        .bind(task)
        .bind(environment)
        .bind(user)
        .bind(request.to_string())
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        row.try_get("id")
    }

    /// The queued jobs, oldest first.
    pub async fn queued(&self) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_row).collect()
    }

    /// Moves a job from `from` to `to`; false when it was not in `from` (someone else moved it).
    pub async fn transition(
        &self,
        id: i64,
        from: JobStatus,
        to: JobStatus,
    ) -> Result<bool, StoreError> {
        let started = (to == JobStatus::Running).then(now_ms);
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, started_at = COALESCE($2, started_at) \
             WHERE id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(started)
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a job: its final status, its report and the error that kept it from running.
    pub async fn finish_job(
        &self,
        id: i64,
        status: JobStatus,
        report: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET status = $1, report = $2, error = $3, finished_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(report.map(serde_json::Value::to_string))
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A job by id.
    pub async fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_row).transpose()
    }

    /// Jobs matching `filter`, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>, StoreError> {
        // Each condition is always present and switched off by a NULL parameter: one statement,
        // bound parameters only.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR task = $2) \
               AND ($3 IS NULL OR environment = $3) AND ($4 IS NULL OR user_name = $4) \
               AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        )))
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.task.as_deref())
        .bind(filter.environment.as_deref())
        .bind(filter.user.as_deref())
        .bind(filter.before)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_row).collect()
    }

    /// Stores event number `seq` of a job. One writer per job (its runner) numbers them.
    pub async fn append_event(
        &self,
        job: i64,
        seq: i64,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO job_events (job_id, seq, at, data) VALUES ($1, $2, $3, $4)")
            .bind(job)
            .bind(seq)
            .bind(now_ms())
            .bind(data.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The number of the last stored event of a job (0 for none).
    pub async fn last_seq(&self, job: i64) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM job_events WHERE job_id = $1")
                .bind(job)
                .fetch_one(&self.pool)
                .await?;
        row.try_get("last")
    }

    /// At most `limit` events of a job after number `after`, in order.
    pub async fn events_after(
        &self,
        job: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, data FROM job_events WHERE job_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let data: String = row.try_get("data")?;
                Ok(EventRow {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    data: parse_json(&data)?,
                })
            })
            .collect()
    }

    /// Adds a user; false when the name is taken.
    pub async fn add_user(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes `user` an admin (who may read the audit log), or no longer one; false when there
    /// is no such user.
    pub async fn set_admin(&self, user: &str, admin: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET admin = $1 WHERE name = $2")
            .bind(admin)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether `user` is an admin; false for an unknown user.
    pub async fn is_admin(&self, user: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT admin FROM users WHERE name = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<bool, _>("admin")?,
            None => false,
        })
    }

    /// Stores a token of `user`; false when there is no such user.
    pub async fn add_token(
        &self,
        user: &str,
        id: &str,
        secret_sha256: &str,
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tokens (id, user_id, secret_sha256, created_at, expires_at) \
             SELECT $1, id, $2, $3, $4 FROM users WHERE name = $5",
        )
        .bind(id)
        .bind(secret_sha256)
        .bind(now_ms())
        .bind(expires_at)
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes a token; false when there is no such token (or it was revoked already).
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A token by its public id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(
            "SELECT tokens.id, users.name, secret_sha256, expires_at, revoked_at \
             FROM tokens JOIN users ON users.id = tokens.user_id WHERE tokens.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenRow {
                id: row.try_get("id")?,
                user: row.try_get("name")?,
                secret_sha256: row.try_get("secret_sha256")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .transpose()
    }

    /// Adds a permission rule of `user`; false when there is no such user.
    pub async fn add_rule(&self, user: &str, rule: &Rule) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO rules (user_id, effect, pattern, created_at) \
             SELECT id, $1, $2, $3 FROM users WHERE name = $4",
        )
        .bind(rule.effect.as_str())
        .bind(&rule.pattern)
        .bind(now_ms())
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The permission rules of `user`, in the order they were added.
    pub async fn rules_of(&self, user: &str) -> Result<Vec<Rule>, StoreError> {
        let rows = sqlx::query(
            "SELECT effect, pattern FROM rules JOIN users ON users.id = rules.user_id \
             WHERE users.name = $1 ORDER BY rules.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let effect: String = row.try_get("effect")?;
                Ok(Rule {
                    effect: Effect::parse(&effect).ok_or_else(|| {
                        sqlx::Error::Decode(
                            format!("rule effect `{effect}` is not one serve knows").into(),
                        )
                    })?,
                    pattern: row.try_get("pattern")?,
                })
            })
            .collect()
    }

    /// Records a request that changed something (or tried to).
    pub async fn audit(
        &self,
        user: Option<&str>,
        remote: Option<&str>,
        method: &str,
        path: &str,
        status: u16,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (at, user_name, remote, method, path, status) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(user)
        .bind(remote)
        .bind(method)
        .bind(path)
        .bind(i64::from(status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The audit log, newest first, at most `limit` entries.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, user_name, remote, method, path, status FROM audit \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(serde_json::json!({
                    "id": row.try_get::<i64, _>("id")?,
                    "at": row.try_get::<i64, _>("at")?,
                    "user": row.try_get::<Option<String>, _>("user_name")?,
                    "remote": row.try_get::<Option<String>, _>("remote")?,
                    "method": row.try_get::<String, _>("method")?,
                    "path": row.try_get::<String, _>("path")?,
                    "status": row.try_get::<i64, _>("status")?,
                }))
            })
            .collect()
    }
}

/// The columns [`job_row`] reads.
const JOB_COLUMNS: &str = "id, task, environment, status, user_name, request, report, error, \
                           created_at, started_at, finished_at";

fn job_row(row: &SqliteRow) -> Result<JobRow, StoreError> {
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    let report: Option<String> = row.try_get("report")?;
    Ok(JobRow {
        id: row.try_get("id")?,
        task: row.try_get("task")?,
        environment: row.try_get("environment")?,
        status: JobStatus::parse(&status).ok_or_else(|| {
            sqlx::Error::Decode(format!("job status `{status}` is not one serve knows").into())
        })?,
        user: row.try_get("user_name")?,
        request: parse_json(&request)?,
        report: report.as_deref().map(parse_json).transpose()?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn parse_json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn migrator() -> Migrator {
    let migrations = SQLITE_MIGRATIONS
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Creates an empty file only its owner can read and write.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(sqlx::Error::Io(e)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(DEFAULT_FILE)).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_user_is_an_admin_only_when_made_one() {
        let (_dir, store) = store().await;
        assert!(store.add_user("ann").await.unwrap());
        assert!(!store.is_admin("ann").await.unwrap());
        assert!(store.set_admin("ann", true).await.unwrap());
        assert!(store.is_admin("ann").await.unwrap());
        assert!(store.set_admin("ann", false).await.unwrap());
        assert!(!store.is_admin("ann").await.unwrap());
        assert!(!store.set_admin("nobody", true).await.unwrap());
        assert!(!store.is_admin("nobody").await.unwrap());
    }

    #[tokio::test]
    async fn a_job_goes_from_queued_to_its_end_with_its_events_in_order() {
        let (_dir, store) = store().await;
        let request = serde_json::json!({"args": {"seconds": 1}});
        let id = store
            .insert_job("stamp", "dev", "ann", &request)
            .await
            .unwrap();
        assert_eq!(store.queued().await.unwrap()[0].id, id);
        assert!(
            store
                .transition(id, JobStatus::Queued, JobStatus::Running)
                .await
                .unwrap()
        );
        assert!(
            !store
                .transition(id, JobStatus::Queued, JobStatus::Running)
                .await
                .unwrap()
        );
        for seq in 1..=3 {
            store
                .append_event(id, seq, &serde_json::json!({"n": seq}))
                .await
                .unwrap();
        }
        let after_one: Vec<i64> = store
            .events_after(id, 1, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(after_one, [2, 3]);
        store
            .finish_job(id, JobStatus::Succeeded, None, None)
            .await
            .unwrap();
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.request, request);
        assert!(job.started_at.is_some() && job.finished_at.is_some());
    }

    #[tokio::test]
    async fn jobs_left_running_by_a_dead_server_become_interrupted_with_their_log() {
        let (dir, store) = store().await;
        let id = store
            .insert_job("stamp", "", "ann", &serde_json::json!({}))
            .await
            .unwrap();
        store
            .transition(id, JobStatus::Queued, JobStatus::Running)
            .await
            .unwrap();
        store
            .append_event(id, 1, &serde_json::json!({"kind": "host_started"}))
            .await
            .unwrap();
        let queued = store
            .insert_job("stamp", "", "ann", &serde_json::json!({}))
            .await
            .unwrap();
        drop(store);
        let reopened = Store::open(&dir.path().join(DEFAULT_FILE)).await.unwrap();
        assert_eq!(reopened.interrupt_leftovers().await.unwrap(), [id]);
        let job = reopened.job(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Interrupted);
        let log = reopened.events_after(id, 0, 100).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].data["kind"], "job_interrupted");
        assert_eq!(
            reopened.job(queued).await.unwrap().unwrap().status,
            JobStatus::Queued
        );
    }

    #[tokio::test]
    async fn filters_and_pages_list_jobs_newest_first() {
        let (_dir, store) = store().await;
        for (task, env) in [("a", "dev"), ("b", "dev"), ("a", "prod"), ("a", "dev")] {
            store
                .insert_job(task, env, "ann", &serde_json::json!({}))
                .await
                .unwrap();
        }
        let filter = JobFilter {
            task: Some("a".into()),
            environment: Some("dev".into()),
            limit: 10,
            ..JobFilter::default()
        };
        let ids: Vec<i64> = store
            .jobs(&filter)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, [4, 1]);
        let page = JobFilter {
            before: Some(4),
            limit: 2,
            ..JobFilter::default()
        };
        let ids: Vec<i64> = store
            .jobs(&page)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, [3, 2]);
    }

    #[tokio::test]
    async fn a_users_rules_come_back_in_order() {
        let (_dir, store) = store().await;
        store.add_user("ann").await.unwrap();
        let rules = [
            Rule {
                effect: Effect::Allow,
                pattern: "dev:*".into(),
            },
            Rule {
                effect: Effect::Deny,
                pattern: "dev:destroy".into(),
            },
        ];
        for rule in &rules {
            assert!(store.add_rule("ann", rule).await.unwrap());
        }
        assert!(!store.add_rule("bob", &rules[0]).await.unwrap());
        assert_eq!(store.rules_of("ann").await.unwrap(), rules);
    }

    #[tokio::test]
    async fn the_database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = store().await;
        let mode = std::fs::metadata(dir.path().join(DEFAULT_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}
