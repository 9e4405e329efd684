//! Local fake servers of the Hetzner Cloud and DigitalOcean APIs, on 127.0.0.1, for the provider
//! tests: they speak the documented endpoints and payloads, keep servers in memory, move a new
//! server to running after a number of polls, check the bearer token, paginate, and can be told
//! to answer the next matching request with a 429 (with the rate-limit headers), a 5xx or an
//! error body, or to stall a create (to kill a client in the middle of it). A test can power a
//! server off ([`Fake::power_off`]); the power-on actions bring it back to running after the same
//! number of polls.
//!
//! Deletes and power-ons are asynchronous, as at the real APIs: they start an action
//! ([`FakeAction`]) that is `running` until it was looked at [`World::action_polls`] times
//! (`GET /actions/{id}`; for a DigitalOcean droplet delete, which has no action to follow, the
//! droplet's own `GET`), then succeeds or, when a test asked for it ([`Fake::fail_next_action`]),
//! fails. Until a delete succeeds the server exists (Hetzner status `deleting`); a failed delete
//! leaves it as it was, a failed power-on leaves it off.
//!
//! Every server reports the public IPv4 127.0.0.1, so `wait_ready` probes a local listener.

#![allow(dead_code)] // each test file uses a different part of the fake

pub mod digitalocean;
pub mod hetzner;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Which API the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Hetzner Cloud, under `/v1`.
    Hetzner,
    /// DigitalOcean, under `/v2`.
    DigitalOcean,
}

/// An answer the fake gives once, to the next request matching a method and a path prefix.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `Retry-After` (seconds), or `RateLimit-Reset` (UNIX time, `now + secs`), or
    /// neither; plus `RateLimit-Limit` and `RateLimit-Remaining: 0` as both APIs send.
    TooManyRequests {
        retry_after: Option<u64>,
        reset_in: Option<u64>,
    },
    /// A server error with this status and the API's error body.
    ServerError(u16),
    /// Any status with this exact body (e.g. a documented 422).
    Answer(u16, Value),
    /// The request is carried out (a create creates, an action starts), then answered with
    /// this server error: the answer is lost, the effect is not, as when a cloud's gateway
    /// times out behind a request that went through.
    ServerErrorAfterActing(u16),
}

/// A request budget like the real APIs': every answer carries `RateLimit-Limit`,
/// `RateLimit-Remaining` and `RateLimit-Reset` (UNIX seconds when the budget refills), and a
/// request over the budget is answered 429 with them.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// The window's length in whole seconds.
    pub window_secs: u64,
    /// When this window ends (UNIX seconds): the budget is full again from then.
    pub reset_at: u64,
}

/// Seconds since the UNIX epoch, fractional.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Where a create request stops for good, to simulate a client killed mid-create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Before the server is stored: the create never happened.
    BeforeStore,
    /// After the server is stored, before answering: the create happened, the answer is lost.
    AfterStore,
}

/// A server (Hetzner) or droplet (DigitalOcean) in memory.
#[derive(Debug, Clone)]
pub struct FakeServer {
    pub id: u64,
    pub name: String,
    /// How often it was looked at since creation; running after `polls_until_running`.
    pub polls: u32,
    /// The create request's body, as sent.
    pub request: Value,
    /// Hetzner labels.
    pub labels: BTreeMap<String, String>,
    /// DigitalOcean tags.
    pub tags: Vec<String>,
    /// Powered off ([`Fake::power_off`]): reports status `off` until a power-on action.
    pub off: bool,
    /// Power-on actions that found it off; after one, it reports Hetzner `starting` (not
    /// `initializing`) / DigitalOcean `off` (not `new`) until running again.
    pub power_ons: u32,
    /// Its public IPv4 address ([`World::public_ip`] when it was created).
    pub public_ip: String,
    /// The delete action under way, if any: the server exists until it succeeds.
    pub deleting: Option<u64>,
}

/// Where an action of the fake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    /// Not finished: Hetzner `running`, DigitalOcean `in-progress`.
    Running,
    /// Hetzner `success`, DigitalOcean `completed`.
    Succeeded,
    /// Hetzner `error`, DigitalOcean `errored`.
    Failed,
}

/// An asynchronous action on a server.
#[derive(Debug, Clone)]
pub struct FakeAction {
    pub id: u64,
    /// Hetzner `command` (`delete_server`, `start_server`), DigitalOcean `type` (`destroy`,
    /// `power_on`).
    pub command: String,
    /// The server (droplet) it acts on.
    pub server: u64,
    /// Looks at it so far.
    pub polls: u32,
    /// The error it ends with, when a test asked for one ([`Fake::fail_next_action`]).
    pub fails: Option<String>,
    pub state: ActionState,
}

/// A registered SSH key.
#[derive(Debug, Clone)]
pub struct FakeKey {
    pub id: u64,
    pub name: String,
    pub public_key: String,
}

/// A DNS record (DigitalOcean Domains API).
#[derive(Debug, Clone)]
pub struct FakeRecord {
    pub id: u64,
    pub kind: String,
    pub name: String,
    pub data: String,
    pub ttl: u32,
}

/// Everything the fake knows and was told.
#[derive(Debug)]
pub struct World {
    pub api: Api,
    /// The only token accepted.
    pub token: String,
    pub next_id: u64,
    pub servers: BTreeMap<u64, FakeServer>,
    pub keys: Vec<FakeKey>,
    /// Domain name → its records; a domain not here is a 404.
    pub domains: BTreeMap<String, Vec<FakeRecord>>,
    /// Looks at a new server before it reports running/active.
    pub polls_until_running: u32,
    /// The largest page the fake hands out, whatever `per_page` asks for.
    pub max_page_size: usize,
    /// One-shot answers: (method, path prefix below /v1 or /v2, fault).
    pub faults: VecDeque<(Method, String, Fault)>,
    /// Every request: method, path with query, status answered.
    pub log: Vec<(String, String, u16)>,
    /// Every request: method, path with query, JSON body as sent (`Null` when empty, a string
    /// when not JSON).
    pub requests: Vec<(String, String, Value)>,
    /// Create requests stop here when set.
    pub stall: Option<Stall>,
    /// Create requests received (counted on arrival, before any stall).
    pub create_requests: u32,
    /// When each request of [`World::log`] arrived (UNIX seconds), in the same order.
    pub arrivals: Vec<f64>,
    /// The request budget, when the test sets one ([`Fake::set_budget`]).
    pub budget: Option<Budget>,
    /// The public IPv4 address new servers get: 127.0.0.1 by default; a test that runs dm's
    /// tasks on the "cloud" server sets a local test machine's address.
    pub public_ip: String,
    /// Every action started, by id.
    pub actions: BTreeMap<u64, FakeAction>,
    /// Looks at an action before it finishes (0: finished when started).
    pub action_polls: u32,
    /// (command, error message): the next action of that command fails with that message.
    pub failing_actions: Vec<(String, String)>,
}

impl World {
    /// Starts an action of `command` on `server`: finished at once when `at_once` (a power-on
    /// of a server that is on) or when [`World::action_polls`] is 0, else `running`; it fails
    /// when a test asked for the next `command` to fail. Returns its id.
    pub fn start_action(&mut self, command: &str, server: u64, at_once: bool) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let fails = if at_once {
            None
        } else {
            self.failing_actions
                .iter()
                .position(|(c, _)| c == command)
                .map(|i| self.failing_actions.remove(i).1)
        };
        self.actions.insert(
            id,
            FakeAction {
                id,
                command: command.to_string(),
                server,
                polls: 0,
                fails,
                state: ActionState::Running,
            },
        );
        if at_once || self.action_polls == 0 {
            self.finish_action(id);
        }
        id
    }

    /// One look at action `id` (counted), finishing it once it was looked at
    /// [`World::action_polls`] times. The action as it is now; `None` for an unknown id.
    pub fn look_at_action(&mut self, id: u64) -> Option<FakeAction> {
        let needed = self.action_polls;
        let action = self.actions.get_mut(&id)?;
        if action.state == ActionState::Running {
            action.polls += 1;
            if action.polls >= needed {
                self.finish_action(id);
            }
        }
        self.actions.get(&id).cloned()
    }

    /// Ends a running action and does what it does to its server: a delete that succeeds
    /// removes it, one that fails leaves it as it was; a power-on that fails leaves it off.
    fn finish_action(&mut self, id: u64) {
        let Some(action) = self.actions.get_mut(&id) else {
            return;
        };
        if action.state != ActionState::Running {
            return;
        }
        let failed = action.fails.is_some();
        action.state = if failed {
            ActionState::Failed
        } else {
            ActionState::Succeeded
        };
        let (command, server) = (action.command.clone(), action.server);
        let deletes = matches!(command.as_str(), "delete_server" | "destroy");
        match (deletes, failed) {
            (true, false) => {
                self.servers.remove(&server);
            }
            (true, true) => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.deleting = None;
                }
            }
            (false, true) => {
                if let Some(s) = self.servers.get_mut(&server) {
                    s.off = true;
                }
            }
            (false, false) => {}
        }
    }
}

/// A running fake API.
#[derive(Clone)]
pub struct Fake {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
}

impl Fake {
    /// Starts a fake of `api` accepting `token`, on 127.0.0.1 with a free port.
    pub async fn start(api: Api, token: &str) -> Fake {
        let world = Arc::new(Mutex::new(World {
            api,
            token: token.to_string(),
            next_id: 1000,
            servers: BTreeMap::new(),
            keys: Vec::new(),
            domains: BTreeMap::new(),
            polls_until_running: 2,
            max_page_size: 25,
            faults: VecDeque::new(),
            log: Vec::new(),
            requests: Vec::new(),
            stall: None,
            create_requests: 0,
            arrivals: Vec::new(),
            budget: None,
            public_ip: "127.0.0.1".to_string(),
            actions: BTreeMap::new(),
            action_polls: 1,
            failing_actions: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, world }
    }

    /// The base URL to configure the provider with (`http://127.0.0.1:PORT/v1` or `/v2`).
    pub fn base_url(&self) -> String {
        let version = match self.world().api {
            Api::Hetzner => "v1",
            Api::DigitalOcean => "v2",
        };
        format!("http://{}/{version}", self.addr)
    }

    /// The world, locked.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// Answers the next request matching `method` and `path_prefix` with `fault`.
    pub fn fail_next(&self, method: Method, path_prefix: &str, fault: Fault) {
        self.world()
            .faults
            .push_back((method, path_prefix.to_string(), fault));
    }

    /// How many requests with this method went to paths starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.world()
            .log
            .iter()
            .filter(|(m, p, _)| m == method && p.starts_with(prefix))
            .count()
    }

    /// The bodies of the requests with this method to paths starting with `prefix`, in order.
    pub fn bodies(&self, method: &str, prefix: &str) -> Vec<Value> {
        self.world()
            .requests
            .iter()
            .filter(|(m, p, _)| m == method && p.starts_with(prefix))
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// Powers the server (droplet) with this id off, as a shutdown at the provider would: its
    /// status is `off` until a power-on action, its addresses stay. Panics on an unknown id.
    pub fn power_off(&self, id: &str) {
        let id: u64 = id.parse().expect("a numeric server id");
        let mut w = self.world();
        let server = w.servers.get_mut(&id).expect("a server of the fake");
        server.off = true;
    }

    /// Makes the next action of `command` (Hetzner `delete_server`/`start_server`,
    /// DigitalOcean `destroy`/`power_on`) fail with `message` once it finishes.
    pub fn fail_next_action(&self, command: &str, message: &str) {
        self.world()
            .failing_actions
            .push((command.to_string(), message.to_string()));
    }

    /// The statuses answered to requests with this method and path prefix, in order.
    pub fn statuses(&self, method: &str, prefix: &str) -> Vec<u16> {
        self.world()
            .log
            .iter()
            .filter(|(m, p, _)| m == method && p.starts_with(prefix))
            .map(|(_, _, s)| *s)
            .collect()
    }
}

/// A finished answer: status, extra headers, JSON body (or none).
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// What a request handler needs: method, path below the version prefix, query pairs, body.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let sent = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    world
        .lock()
        .unwrap()
        .requests
        .push((method.to_string(), path_and_query.clone(), sent));
    let arrived = unix_now();
    let mut answer = route(&world, method.clone(), &uri, &headers, &body).await;
    {
        let mut w = world.lock().unwrap();
        w.log
            .push((method.to_string(), path_and_query, answer.status));
        w.arrivals.push(arrived);
        // Every answer says where the budget stands, as the real APIs do.
        if let Some(budget) = w.budget {
            answer
                .headers
                .retain(|(name, _)| !name.starts_with("RateLimit-"));
            answer
                .headers
                .push(("RateLimit-Limit", budget.limit.to_string()));
            answer
                .headers
                .push(("RateLimit-Remaining", budget.remaining.to_string()));
            answer
                .headers
                .push(("RateLimit-Reset", budget.reset_at.to_string()));
        }
    }
    let mut response = match answer.body {
        Some(b) => (StatusCode::from_u16(answer.status).unwrap(), axum::Json(b)).into_response(),
        None => StatusCode::from_u16(answer.status).unwrap().into_response(),
    };
    for (k, v) in answer.headers {
        response
            .headers_mut()
            .insert(k, HeaderValue::from_str(&v).unwrap());
    }
    response
}

async fn route(
    world: &Arc<Mutex<World>>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let api = world.lock().unwrap().api;
    let prefix = match api {
        Api::Hetzner => "/v1",
        Api::DigitalOcean => "/v2",
    };
    let Some(path) = uri.path().strip_prefix(prefix) else {
        return error(api, 404, "not_found", "no such API version");
    };
    let mut after_acting = None;
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    {
        let mut w = world.lock().unwrap();
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bearer {}", w.token) {
            return match api {
                Api::Hetzner => error(api, 401, "unauthorized", "unable to authenticate"),
                Api::DigitalOcean => error(api, 401, "Unauthorized", "Unable to authenticate you"),
            };
        }
        if let Some(budget) = w.budget.as_mut() {
            let now = unix_now() as u64;
            if now >= budget.reset_at {
                budget.remaining = budget.limit;
                budget.reset_at = now + budget.window_secs;
            }
            if budget.remaining == 0 {
                return fault_answer(
                    api,
                    Fault::TooManyRequests {
                        retry_after: None,
                        reset_in: None,
                    },
                );
            }
            budget.remaining -= 1;
        }
        let hit = w
            .faults
            .iter()
            .position(|(m, p, _)| *m == method && path.starts_with(p.as_str()));
        if let Some(i) = hit {
            let (_, _, fault) = w.faults.remove(i).unwrap();
            if let Fault::ServerErrorAfterActing(status) = fault {
                after_acting = Some(status);
            } else {
                return fault_answer(api, fault);
            }
        }
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(api, 400, "json_error", "invalid JSON in request body"),
        }
    };
    let req = Request {
        method,
        path: path.to_string(),
        query,
        body,
    };
    let answer = match api {
        Api::Hetzner => hetzner::route(world, req).await,
        Api::DigitalOcean => digitalocean::route(world, req).await,
    };
    match after_acting {
        Some(status) => fault_answer(api, Fault::ServerError(status)),
        None => answer,
    }
}

fn fault_answer(api: Api, fault: Fault) -> Answer {
    match fault {
        Fault::TooManyRequests {
            retry_after,
            reset_in,
        } => {
            let mut a = match api {
                Api::Hetzner => error(
                    api,
                    429,
                    "rate_limit_exceeded",
                    "limit of 3600 requests per hour reached",
                ),
                Api::DigitalOcean => {
                    error(api, 429, "too_many_requests", "API Rate limit exceeded.")
                }
            };
            a.headers.push(("RateLimit-Limit", "3600".into()));
            a.headers.push(("RateLimit-Remaining", "0".into()));
            if let Some(s) = retry_after {
                a.headers.push(("Retry-After", s.to_string()));
            }
            if let Some(s) = reset_in {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                a.headers.push(("RateLimit-Reset", (now + s).to_string()));
            }
            a
        }
        Fault::ServerError(status) => match api {
            Api::Hetzner => error(api, status, "server_error", "internal server error"),
            Api::DigitalOcean => error(
                api,
                status,
                "server_error",
                "Server was unable to give you a response.",
            ),
        },
        Fault::Answer(status, body) => Answer::json(status, body),
        Fault::ServerErrorAfterActing(status) => fault_answer(api, Fault::ServerError(status)),
    }
}

/// The API's documented error body: Hetzner `{"error": {code, message, details}}`, DigitalOcean
/// `{id, message, request_id}`.
pub fn error(api: Api, status: u16, code: &str, message: &str) -> Answer {
    match api {
        Api::Hetzner => Answer::json(
            status,
            serde_json::json!({"error": {"code": code, "message": message, "details": {}}}),
        ),
        Api::DigitalOcean => Answer::json(
            status,
            serde_json::json!({"id": code, "message": message, "request_id": "4d9d8375-3c56-4925-a3e7-eb137fed17e9"}),
        ),
    }
}

/// One page of `items` as asked by `page`/`per_page`, and whether more follow.
pub fn paginate<T: Clone>(
    items: &[T],
    query: &BTreeMap<String, String>,
    max: usize,
) -> (Vec<T>, u64, u64, u64) {
    let per_page = query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, max);
    let page = query
        .get("page")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page as usize - 1) * per_page;
    let slice = items.iter().skip(start).take(per_page).cloned().collect();
    let last = (items.len().max(1)).div_ceil(per_page) as u64;
    (slice, page, per_page as u64, last)
}

/// Percent-decoded `k=v` pairs of a query string.
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Waits (forever) once a create reached its stall point; the client is killed meanwhile.
pub async fn stall_forever() -> Answer {
    std::future::pending::<Answer>().await
}

/// Whether `status` should be "running" yet, counting this look.
pub fn look(server: &mut FakeServer, polls_until_running: u32) -> bool {
    server.polls += 1;
    server.polls > polls_until_running
}

/// The operator's public key in the tests.
pub const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQ7nTuDDGZ1y3cbrMbzS4lVtFnXyoYVvgpexaXFj0vN op@laptop";

impl Fake {
    /// A provider configuration for this fake with `token` and fast retries (10 ms doubling up
    /// to 100 ms, 4 attempts, rate-limit waits up to 5 s).
    /// Gives the fake a request budget of `limit` requests per `window_secs` seconds, the
    /// first window starting now.
    pub fn set_budget(&self, limit: u32, window_secs: u64) {
        self.world().budget = Some(Budget {
            limit,
            remaining: limit,
            window_secs,
            reset_at: unix_now() as u64 + window_secs,
        });
    }

    /// The API's configuration for this fake, with short retry delays.
    pub fn config(&self, token: &str) -> dm_providers::ApiConfig {
        let mut cfg =
            dm_providers::ApiConfig::new(self.base_url(), dm_providers::Token::new(token));
        cfg.retry = dm_providers::RetryPolicy {
            max_attempts: 4,
            base_delay: std::time::Duration::from_millis(10),
            max_delay: std::time::Duration::from_millis(100),
            max_rate_limit_wait: std::time::Duration::from_secs(5),
        };
        cfg.timeout = std::time::Duration::from_secs(10);
        cfg.action_wait = dm_providers::ActionWait {
            timeout: std::time::Duration::from_secs(5),
            poll_interval: std::time::Duration::from_millis(10),
        };
        cfg
    }
}

/// A spec for `name` in this API's vocabulary, with the test key and role `appnode`.
pub fn spec(api: Api, name: &str) -> dm_providers::ServerSpec {
    let mut s = match api {
        Api::Hetzner => dm_providers::ServerSpec::new(name, "cx22", "debian-12", "fsn1"),
        Api::DigitalOcean => {
            dm_providers::ServerSpec::new(name, "s-1vcpu-1gb", "debian-12-x64", "fra1")
        }
    };
    s.ssh_keys.push(KEY.to_string());
    s.roles.push("appnode".to_string());
    s
}

/// A TCP listener on 127.0.0.1 standing in for sshd: accepts and closes connections. Returns
/// its port.
pub async fn ssh_listener() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    port
}

/// Fast polling for `wait_ready` against the fake, probing `port`.
pub fn wait(port: u16) -> dm_providers::Wait {
    dm_providers::Wait {
        timeout: std::time::Duration::from_secs(10),
        poll_interval: std::time::Duration::from_millis(20),
        ssh_port: port,
        connect_timeout: std::time::Duration::from_secs(1),
    }
}
