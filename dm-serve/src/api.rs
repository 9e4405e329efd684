//! The HTTP API under `/v1`: tasks, jobs, their events (JSON, Server-Sent Events or polling),
//! cancel, and the audit log. Every route needs a valid API token; every request that changes
//! something is recorded in the audit log, refused or not.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::login_limit::FailedLogins;
use crate::queue::{Cancelled, JobRequest, Queue};
use crate::store::{EventRow, JobFilter, JobRow, JobStatus, Store, StoreError};
use crate::{auth, runner, task_model};

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The scheduler (and through it the store and what jobs run with).
    pub queue: Arc<Queue>,
    /// Cancelled when the server shuts down: open event streams end.
    pub shutdown: CancellationToken,
    /// Refused logins per client address (429 after too many).
    pub failed_logins: Arc<FailedLogins>,
}

impl AppState {
    fn store(&self) -> &Store {
        &self.queue.env().store
    }
}

/// The user a request's token belongs to.
#[derive(Debug, Clone)]
pub struct User(pub String);

/// A refusal or failure, as JSON `{"error": ..., "problems": [...]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    problems: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!("store: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the job store failed; the server's log says why",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if !self.problems.is_empty() {
            body["problems"] = json!(self.problems);
        }
        (self.status, Json(body)).into_response()
    }
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tasks", get(list_tasks))
        .route("/v1/tasks/{task}", get(show_task))
        .route("/v1/tasks/{task}/runs", post(submit))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(show_job))
        .route("/v1/jobs/{id}/events", get(job_events))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route("/v1/audit", get(audit_log))
        .route("/v1/environments", get(environments))
        .route("/v1/servers", get(servers))
        .route("/v1/roles", get(roles))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// What the authentication of one request found.
enum Verdict {
    /// The token is valid: its user.
    User(String),
    /// The token is refused: why.
    Refused(auth::Refused),
    /// The client's address had too many refused tokens: how long it must wait.
    Blocked(Duration),
}

/// Checks the bearer token (401 without a valid one, 429 after too many from one address), hands the user to the handler, and
/// records every request that is not a read in the audit log, with how it ended.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let remote = address.map(|a| a.to_string());
    let now = Instant::now();
    let verdict = match address.and_then(|a| state.failed_logins.blocked(a, now)) {
        Some(wait) => Ok(Verdict::Blocked(wait)),
        None => auth::verify(state.store(), presented.as_deref())
            .await
            .map(|v| v.map_or_else(Verdict::Refused, Verdict::User)),
    };
    let (user, response) = match verdict {
        Err(e) => (None, ApiError::from(e).into_response()),
        Ok(Verdict::Blocked(wait)) => {
            let seconds = wait.as_secs().max(1);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many refused API tokens from this address: wait {seconds} s before the next try"
                ),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            (None, response)
        }
        Ok(Verdict::Refused(refused)) => {
            if let Some(address) = address {
                state.failed_logins.failed(address, now);
            }
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, refused.message()).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            (None, response)
        }
        Ok(Verdict::User(user)) => {
            request.extensions_mut().insert(User(user.clone()));
            (Some(user), next.run(request).await)
        }
    };
    if method != Method::GET && method != Method::HEAD {
        let status = response.status().as_u16();
        let recorded = state
            .store()
            .audit(
                user.as_deref(),
                remote.as_deref(),
                method.as_str(),
                &path,
                status,
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!("cannot record {method} {path} in the audit log: {e}");
        }
    }
    response
}

async fn list_tasks() -> Json<Value> {
    let tasks: Vec<_> = task_model::offered()
        .into_iter()
        .map(task_model::model)
        .collect();
    Json(json!({"tasks": tasks}))
}

/// The offered task `name`, or a 404 naming it (with the nearest name there is).
fn task_named(name: &str) -> Result<&'static dm_core::TaskDef, ApiError> {
    task_model::find(name).ok_or_else(|| {
        let names = task_model::offered().into_iter().map(|t| t.name);
        let hint = dm_core::error::suggest(name, names)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no task `{name}` in this fabfile{hint}: GET /v1/tasks lists them"),
        )
    })
}

async fn show_task(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(task_model::model(task_named(&name)?))))
}

/// The links of a job.
fn links(id: i64) -> Value {
    json!({
        "self": format!("/v1/jobs/{id}"),
        "events": format!("/v1/jobs/{id}/events"),
        "cancel": format!("/v1/jobs/{id}/cancel"),
    })
}

/// `POST /v1/tasks/{task}/runs`: checks the request completely (task, every argument, the
/// environment, hosts and roles) and queues it; nothing is queued when anything is wrong.
async fn submit(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let task = task_named(&name)?;
    let mut request: JobRequest = if body.iter().all(u8::is_ascii_whitespace) {
        JobRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the request body: {e}")))?
    };
    let spec = request.spec(task).map_err(|problems| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("task `{name}`: {} wrong", problems.len()),
        problems,
    })?;
    let env = state.queue.env();
    let inventory = runner::load_inventory(env, spec.environment.as_deref())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    runner::select(&spec, &inventory)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    // The environment the job runs in, resolved now: it is the job's place in the queue.
    let environment = inventory.environment().unwrap_or_default().to_string();
    request.environment = (!environment.is_empty()).then(|| environment.clone());
    permitted(&state, &user, &environment, task.name).await?;
    let stored = serde_json::to_value(&request)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let id = state
        .store()
        .insert_job(task.name, &environment, &user, &stored)
        .await?;
    state.queue.wake();
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "queued", "links": links(id)})),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Whether `user` may run `task` in `environment`: a 403 naming the rule that refused, or
/// saying that none allows it.
async fn permitted(
    state: &AppState,
    user: &str,
    environment: &str,
    task: &str,
) -> Result<(), ApiError> {
    let rules = state.store().rules_of(user).await?;
    crate::permissions::decide(user, &rules, environment, task)
        .map_err(|message| ApiError::new(StatusCode::FORBIDDEN, message))
}

/// A job as the API shows it.
fn job_json(job: &JobRow) -> Value {
    let mut value = json!(job);
    value["links"] = links(job.id);
    value
}

/// The query of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    task: Option<String>,
    environment: Option<String>,
    user: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// Most jobs one page lists.
const MAX_PAGE: i64 = 500;

async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(word) => Some(JobStatus::parse(word).ok_or_else(|| {
            let all: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("status `{word}` is none of {}", all.join(", ")),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let filter = JobFilter {
        status,
        task: query.task,
        environment: query.environment,
        user: query.user,
        before: query.before,
        limit,
    };
    let jobs = state.store().jobs(&filter).await?;
    let next = match jobs.last() {
        Some(last) if jobs.len() as i64 == limit => Some(last.id),
        _ => None,
    };
    Ok(Json(json!({
        "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

/// A job by id, or a 404 naming it.
async fn job_or_404(state: &AppState, id: i64) -> Result<JobRow, ApiError> {
    state
        .store()
        .job(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))
}

/// Events a page of the log holds at most.
const EVENT_PAGE: i64 = 1000;

/// Every event of a job, in order.
async fn all_events(store: &Store, id: i64) -> Result<Vec<EventRow>, StoreError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &EventRow| e.seq);
        let page = store.events_after(id, after, EVENT_PAGE).await?;
        let done = (page.len() as i64) < EVENT_PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The query of `GET /v1/jobs/{id}`.
#[derive(Debug, Deserialize)]
struct ShowQuery {
    #[serde(default)]
    results: bool,
}

async fn show_job(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<ShowQuery>,
) -> Result<Json<Value>, ApiError> {
    let job = job_or_404(&state, id).await?;
    let mut value = job_json(&job);
    if query.results {
        value["events"] = json!(all_events(state.store(), id).await?);
    }
    Ok(Json(value))
}

/// The query of `GET /v1/jobs/{id}/events`.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Polling: the events after this one, as JSON (no stream).
    after: Option<i64>,
}

/// `GET /v1/jobs/{id}/events`: with `?after=N`, the events after N as JSON; otherwise a
/// Server-Sent Events stream from after `Last-Event-ID` (or the start) until the job ends.
async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = job_or_404(&state, id).await?;
    if let Some(after) = query.after {
        let events = state.store().events_after(id, after, EVENT_PAGE).await?;
        let next_after = events.last().map_or(after, |e| e.seq);
        return Ok(Json(json!({
            "status": job.status,
            "events": events,
            "next_after": next_after,
        }))
        .into_response());
    }
    let last_seen = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Last-Event-ID must be the number of an event of this job",
                )
            })?,
    };
    Ok(Sse::new(follow(state, id, last_seen))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Where a follower of a job's log is.
struct Follow {
    state: AppState,
    id: i64,
    last_seen: i64,
    pending: VecDeque<EventRow>,
    changed: tokio::sync::watch::Receiver<u64>,
    ended: bool,
}

/// The job's events after `last_seen`, as they are stored, each once, then an `end` event with
/// the job's final status. Reads the store, never a copy in memory: a follower that reconnects
/// gets exactly what it missed.
fn follow(
    state: AppState,
    id: i64,
    last_seen: i64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let changed = state.queue.env().changed.subscribe();
    let start = Follow {
        state,
        id,
        last_seen,
        pending: VecDeque::new(),
        changed,
        ended: false,
    };
    futures::stream::unfold(start, |mut f| async move {
        loop {
            if let Some(event) = f.pending.pop_front() {
                f.last_seen = event.seq;
                let sse = SseEvent::default()
                    .id(event.seq.to_string())
                    .data(event.data.to_string());
                return Some((Ok(sse), f));
            }
            if f.ended || f.state.shutdown.is_cancelled() {
                return None;
            }
            // Marked seen before reading: a change stored after the read wakes the wait below.
            f.changed.borrow_and_update();
            let store = f.state.store().clone();
            let read = store.events_after(f.id, f.last_seen, EVENT_PAGE).await;
            match read {
                Ok(events) if !events.is_empty() => {
                    f.pending.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("job {}: cannot read its events: {e}", f.id);
                    return None;
                }
            }
            let status = match store.job(f.id).await {
                Ok(Some(job)) => job.status,
                _ => return None,
            };
            if status.is_final() {
                // Events are all stored before a job's end is: one more read finds any stored
                // between the read above and the status.
                match store.events_after(f.id, f.last_seen, EVENT_PAGE).await {
                    Ok(events) if !events.is_empty() => {
                        f.pending.extend(events);
                        continue;
                    }
                    _ => {}
                }
                f.ended = true;
                let end = SseEvent::default()
                    .event("end")
                    .data(json!({"status": status}).to_string());
                return Some((Ok(end), f));
            }
            tokio::select! {
                changed = f.changed.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = f.state.shutdown.cancelled() => return None,
            }
        }
    })
}

async fn cancel(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    // Stopping a job acts on its environment: the same rules as running it.
    let job = job_or_404(&state, id).await?;
    permitted(&state, &user, &job.environment, &job.task).await?;
    let Some(done) = state.queue.cancel(id).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")));
    };
    let stage = match done {
        Cancelled::BeforeStart => "cancelled before it started",
        Cancelled::StopNew => {
            "no new hosts start; running ones finish (cancel again to abort them)"
        }
        Cancelled::Abort => "running hosts are being aborted",
        Cancelled::AlreadyEnded => {
            let job = job_or_404(&state, id).await?;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "job {id} has ended ({}): nothing to cancel",
                    job.status.as_str()
                ),
            ));
        }
    };
    let job = job_or_404(&state, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": job.status, "cancel": stage, "links": links(id)})),
    )
        .into_response())
}

/// The audit log, for admins only: it says who did what and from which address.
async fn audit_log(
    State(state): State<AppState>,
    Extension(User(user)): Extension<User>,
) -> Result<Json<Value>, ApiError> {
    if !state.store().is_admin(&user).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{user} may not read the audit log: only admins may (`serve user admin {user}` makes one)"
            ),
        ));
    }
    Ok(Json(
        json!({"audit": state.store().audit_log(MAX_PAGE).await?}),
    ))
}

/// The query of the inventory's routes: which environment to read.
#[derive(Debug, Deserialize)]
struct InventoryQuery {
    environment: Option<String>,
}

/// The inventory of `environment` (default: the inventory's own), or a 400 naming what is wrong.
fn inventory_of(
    state: &AppState,
    environment: Option<&str>,
) -> Result<dm_core::inventory::Inventory, ApiError> {
    runner::load_inventory(state.queue.env(), environment)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// `GET /v1/environments`: the inventory's environments and its default one.
async fn environments(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let inventory = inventory_of(&state, None)?;
    Ok(Json(json!({
        "environments": inventory.environments(),
        "default": inventory.environment(),
    })))
}

/// `GET /v1/servers[?environment=E]`: the servers a job of that environment can run on (booted
/// ones included), with their roles; never their variables.
async fn servers(
    State(state): State<AppState>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let inventory = inventory_of(&state, query.environment.as_deref())?;
    let servers: Vec<Value> = inventory
        .servers()
        .map(|host| {
            json!({
                "name": host.name,
                "address": host.address,
                "port": host.port,
                "user": host.user,
                "roles": host.roles,
            })
        })
        .collect();
    Ok(Json(
        json!({"environment": inventory.environment(), "servers": servers}),
    ))
}

/// `GET /v1/roles[?environment=E]`: the roles of that environment's servers.
async fn roles(
    State(state): State<AppState>,
    Query(query): Query<InventoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let inventory = inventory_of(&state, query.environment.as_deref())?;
    Ok(Json(
        json!({"environment": inventory.environment(), "roles": inventory.roles()}),
    ))
}
