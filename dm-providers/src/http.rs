//! The HTTP client every provider API goes through: bearer token, JSON bodies, bounded retries
//! with exponential backoff and jitter on 429 and 5xx, and errors that quote the API's own words.
//!
//! Retrying is the client's job so that every provider gets the same behaviour: a 429 waits as
//! long as the API says (`Retry-After`, `RateLimit-Reset`), a 5xx or a dropped connection waits
//! with exponential backoff plus jitter (so parallel boots do not retry in lockstep). Requests
//! that are not safe to repeat (POST: a repeated create could make a second server) are only
//! repeated after a 429, which means the API did not act on them; their callers decide what to do
//! after a 5xx, e.g. look up whether the server exists before trying again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, FieldError, Result};
use crate::token::Token;

/// How often and how long to retry a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
    /// The longest wait a 429's `Retry-After` / `RateLimit-Reset` may ask for; a longer one
    /// fails at once with [`Error::RateLimited`] instead of hanging the run.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s doubling up to 30 s, rate-limit waits up to 2 minutes.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`, capped at
    /// `max_delay`, of which a random half is kept ("equal jitter"): never zero, never in step
    /// with other clients.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Where and how to reach a provider's API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Base URL including the version path, e.g. `https://api.hetzner.cloud/v1`. Tests point it
    /// at a local fake server.
    pub base_url: String,
    /// The API token.
    pub token: Token,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Timeout of one request (connect, send, receive).
    pub timeout: Duration,
    /// How long and how often to follow an asynchronous action (a delete, a power-on) until the
    /// API says it finished.
    pub action_wait: ActionWait,
}

/// How dm follows an action the API carries out after answering (Hetzner's `action`,
/// DigitalOcean's action or a droplet that disappears some time after the DELETE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionWait {
    /// Give up (with an error naming the server and the action) after this long.
    pub timeout: Duration,
    /// Pause between two looks; every look is one request of the rate-limit budget.
    pub poll_interval: Duration,
}

impl Default for ActionWait {
    /// 5 minutes, looking every 2 s (Hetzner allows 3600 requests an hour: one a second).
    fn default() -> ActionWait {
        ActionWait {
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
        }
    }
}

impl ApiConfig {
    /// A configuration with the default retry policy and a 30 s request timeout.
    pub fn new(base_url: impl Into<String>, token: Token) -> ApiConfig {
        ApiConfig {
            base_url: base_url.into(),
            token,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            action_wait: ActionWait::default(),
        }
    }
}

/// Which API's conventions (error body, token variable) a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `{"error": {"code", "message", "details": {"fields": [{"name", "messages"}]}}}`.
    Hetzner,
    /// `{"id", "message", "request_id"}`.
    DigitalOcean,
}

impl Dialect {
    /// The provider's name in messages.
    pub(crate) fn provider(self) -> &'static str {
        match self {
            Dialect::Hetzner => "Hetzner Cloud",
            Dialect::DigitalOcean => "DigitalOcean",
        }
    }

    /// The environment variable the token is read from.
    pub(crate) fn token_var(self) -> &'static str {
        match self {
            Dialect::Hetzner => "HCLOUD_TOKEN",
            Dialect::DigitalOcean => "DIGITALOCEAN_TOKEN",
        }
    }
}

/// Whether a request may be sent again after a failure other than 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// GET, PUT, DELETE: repeating has the same effect as sending once.
    Safe,
    /// POST: only repeated after a 429 (the API did nothing); a 5xx or a lost connection is
    /// returned to the caller, who knows how to check what happened.
    AfterRateLimitOnly,
}

/// An API client for one provider account: base URL, token, retry policy.
#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    dialect: Dialect,
    base: String,
    token: Token,
    retry: RetryPolicy,
    action_wait: ActionWait,
    client: reqwest::Client,
}

impl ApiClient {
    /// A client following `dialect`'s conventions, configured by `cfg`.
    pub(crate) fn new(dialect: Dialect, cfg: ApiConfig) -> Result<ApiClient> {
        let provider = dialect.provider();
        let base = cfg.base_url.trim_end_matches('/').to_string();
        let url = Url::parse(&base).map_err(|e| Error::BaseUrl {
            provider,
            url: cfg.base_url.clone(),
            message: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BaseUrl {
                provider,
                url: cfg.base_url,
                message: "the scheme must be https (or http for a local test server)".into(),
            });
        }
        if cfg.token.is_empty() {
            return Err(Error::TokenMissing {
                provider,
                var: dialect.token_var(),
            });
        }
        // reqwest is built without a default crypto provider (see Cargo.toml); install ring once
        // per process. An error only means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("dm-providers/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::BaseUrl {
                provider,
                url: cfg.base_url.clone(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(ApiClient {
            dialect,
            base,
            token: cfg.token,
            retry: cfg.retry,
            action_wait: cfg.action_wait,
            client,
        })
    }

    /// The provider's name in messages.
    pub(crate) fn provider(&self) -> &'static str {
        self.dialect.provider()
    }

    /// The retry policy (providers use its backoff for their own create loops).
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// How long and how often to follow an asynchronous action.
    pub(crate) fn action_wait(&self) -> &ActionWait {
        &self.action_wait
    }

    /// GET `path` with query parameters, decoded as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let body = self
            .call(Method::GET, path, query, None, Repeat::Safe)
            .await?;
        self.decode(&Method::GET, path, &body)
    }

    /// Every item of a paginated list: the array under `key` of each page, following the API's
    /// pagination (Hetzner's `meta.pagination.next_page`, DigitalOcean's `links.pages.next`).
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        // The largest page each API allows: fewer round trips (and rate-limit budget).
        let per_page = match self.dialect {
            Dialect::Hetzner => 50,
            Dialect::DigitalOcean => 200,
        };
        let mut out = Vec::new();
        let mut page: u64 = 1;
        loop {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("per_page", per_page.to_string()));
            let v: Value = self.get(path, &q).await?;
            let items = v
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Decode {
                    provider: self.provider(),
                    request: format!("GET {path}"),
                    message: format!("the answer has no `{key}` list"),
                })?;
            for item in items {
                out.push(
                    serde_json::from_value(item.clone()).map_err(|e| Error::Decode {
                        provider: self.provider(),
                        request: format!("GET {path}"),
                        message: format!("an entry of `{key}`: {e}"),
                    })?,
                );
            }
            let next = match self.dialect {
                Dialect::Hetzner => v
                    .pointer("/meta/pagination/next_page")
                    .and_then(Value::as_u64),
                Dialect::DigitalOcean => v
                    .pointer("/links/pages/next")
                    .and_then(Value::as_str)
                    .map(|_| page + 1),
            };
            match next {
                // A page that is empty or does not advance would loop forever.
                Some(n) if n > page && !items.is_empty() => page = n,
                _ => return Ok(out),
            }
        }
    }

    /// POST a JSON body, decoded as `T`. Repeated only after a 429.
    pub(crate) async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let answer = self
            .call(
                Method::POST,
                path,
                &[],
                Some(body),
                Repeat::AfterRateLimitOnly,
            )
            .await?;
        self.decode(&Method::POST, path, &answer)
    }

    /// PUT a JSON body, decoded as `T`.
    pub(crate) async fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let answer = self
            .call(Method::PUT, path, &[], Some(body), Repeat::Safe)
            .await?;
        self.decode(&Method::PUT, path, &answer)
    }

    /// DELETE `path`; the body of the answer (if any) is ignored. A 404 is [`Error::NotFound`].
    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        self.call(Method::DELETE, path, &[], None, Repeat::Safe)
            .await
            .map(drop)
    }

    /// DELETE `path`, the answer decoded as `T` (Hetzner answers a delete with its action). A
    /// 404 is [`Error::NotFound`].
    pub(crate) async fn delete_answer<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let answer = self
            .call(Method::DELETE, path, &[], None, Repeat::Safe)
            .await?;
        self.decode(&Method::DELETE, path, &answer)
    }

    fn decode<T: DeserializeOwned>(&self, method: &Method, path: &str, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            provider: self.provider(),
            request: format!("{method} {path}"),
            message: e.to_string(),
        })
    }

    /// Sends one request, retrying as `repeat` allows; returns the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Vec<u8>> {
        let provider = self.provider();
        let mut url =
            Url::parse(&format!("{}{}", self.base, path)).map_err(|e| Error::BaseUrl {
                provider,
                url: format!("{}{}", self.base, path),
                message: e.to_string(),
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            tracing::debug!(provider, %method, path, attempt, "API request");
            let outcome = request.send().await;
            let (status, headers, bytes) = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(b) => (status, headers, b.to_vec()),
                        Err(e) => {
                            if repeat == Repeat::Safe && attempt < max_attempts {
                                let wait = self.retry.backoff(attempt);
                                tracing::warn!(provider, %method, path, attempt, wait_ms = wait.as_millis() as u64, "answer broke off; retrying");
                                tokio::time::sleep(wait).await;
                                continue;
                            }
                            return Err(self.transport(&method, path, attempt, &e));
                        }
                    }
                }
                Err(e) => {
                    if repeat == Repeat::Safe && attempt < max_attempts {
                        let wait = self.retry.backoff(attempt);
                        tracing::warn!(provider, %method, path, attempt, wait_ms = wait.as_millis() as u64, error = %describe(&e), "API not reachable; retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(self.transport(&method, path, attempt, &e));
                }
            };
            tracing::debug!(provider, %method, path, attempt, status = status.as_u16(), "API answer");
            if status.is_success() {
                return Ok(bytes);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let asked = rate_limit_wait(&headers, SystemTime::now());
                let too_long = match asked {
                    Some(RateLimitWait::RetryAfter(w)) if w > self.retry.max_rate_limit_wait => {
                        Some(w)
                    }
                    _ => None,
                };
                if too_long.is_some() || attempt >= max_attempts {
                    return Err(Error::RateLimited {
                        provider,
                        request: format!("{method} {path}"),
                        attempts: attempt,
                        wait: too_long,
                    });
                }
                // The API's own figure plus a little jitter, so parallel clients do not all come
                // back in the same instant; backoff when it gave none.
                let jitter = self.retry.base_delay.mul_f64(fastrand::f64() / 4.0);
                let wait = match asked {
                    Some(RateLimitWait::RetryAfter(w)) => w + jitter,
                    Some(RateLimitWait::Reset(w)) => w.min(self.retry.max_rate_limit_wait) + jitter,
                    None => self.retry.backoff(attempt),
                };
                tracing::warn!(provider, %method, path, attempt, wait_ms = wait.as_millis() as u64, "rate limited (429); retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                if repeat == Repeat::Safe && attempt < max_attempts {
                    let wait = self.retry.backoff(attempt);
                    tracing::warn!(provider, %method, path, attempt, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "server error; retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let parsed = self.parse_error(&bytes);
                return Err(Error::ServerError {
                    provider,
                    request: format!("{method} {path}"),
                    status: status.as_u16(),
                    attempts: attempt,
                    message: parsed.message,
                });
            }
            return Err(self.client_error(&method, path, status, &bytes, body));
        }
    }

    fn transport(&self, method: &Method, path: &str, attempts: u32, e: &reqwest::Error) -> Error {
        Error::Transport {
            provider: self.provider(),
            request: format!("{method} {path}"),
            base: self.base.clone(),
            attempts,
            message: describe(e),
        }
    }

    /// A 4xx answer as an error that quotes the API and names the fields it is about.
    fn client_error(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        bytes: &[u8],
        sent: Option<&Value>,
    ) -> Error {
        let provider = self.provider();
        let parsed = self.parse_error(bytes);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                provider,
                request: format!("{method} {path}"),
                status: status.as_u16(),
                code: parsed.code,
                message: parsed.message,
                var: self.dialect.token_var(),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                provider,
                request: format!("{method} {path}"),
                message: parsed.message,
            },
            _ => {
                let mut fields = parsed.fields;
                if fields.is_empty() {
                    fields = fields_mentioned(&parsed.message, sent);
                }
                Error::Rejected {
                    provider,
                    request: format!("{method} {path}"),
                    status: status.as_u16(),
                    code: parsed.code,
                    message: parsed.message,
                    fields,
                }
            }
        }
    }

    /// The code, message and fields of an error body in this API's format; the start of the body
    /// when it is not in that format (a proxy's HTML page, say).
    fn parse_error(&self, bytes: &[u8]) -> ApiError {
        let value: Option<Value> = serde_json::from_slice(bytes).ok();
        let parsed = value.as_ref().and_then(|v| match self.dialect {
            Dialect::Hetzner => {
                let e = v.get("error")?;
                let fields = e
                    .pointer("/details/fields")
                    .and_then(Value::as_array)
                    .map(|fs| {
                        fs.iter()
                            .filter_map(|f| {
                                Some(FieldError {
                                    name: f.get("name")?.as_str()?.to_string(),
                                    messages: f
                                        .get("messages")
                                        .and_then(Value::as_array)
                                        .map(|m| {
                                            m.iter()
                                                .filter_map(Value::as_str)
                                                .map(str::to_string)
                                                .collect()
                                        })
                                        .unwrap_or_default(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(ApiError {
                    code: e.get("code")?.as_str().unwrap_or_default().to_string(),
                    message: e.get("message")?.as_str().unwrap_or_default().to_string(),
                    fields,
                })
            }
            Dialect::DigitalOcean => Some(ApiError {
                code: v.get("id")?.as_str().unwrap_or_default().to_string(),
                message: v.get("message")?.as_str().unwrap_or_default().to_string(),
                fields: Vec::new(),
            }),
        });
        parsed.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            let cut: String = text.chars().take(200).collect();
            ApiError {
                code: String::new(),
                message: if cut.is_empty() {
                    "(empty answer)".to_string()
                } else if cut.len() < text.len() {
                    format!("{cut}...")
                } else {
                    cut
                },
                fields: Vec::new(),
            }
        })
    }
}

/// An error answer, taken apart.
struct ApiError {
    code: String,
    message: String,
    fields: Vec<FieldError>,
}

/// The top-level fields of the request body that the API's message mentions as words, e.g.
/// `size` in DigitalOcean's "You specified an invalid size for Droplet creation."
fn fields_mentioned(message: &str, sent: Option<&Value>) -> Vec<FieldError> {
    let Some(Value::Object(map)) = sent else {
        return Vec::new();
    };
    let words: Vec<String> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    // In the order the message mentions them.
    let mut out: Vec<FieldError> = Vec::new();
    for word in &words {
        let key = map.keys().find(|k| k.to_ascii_lowercase() == *word);
        if let Some(key) = key
            && !out.iter().any(|f| &f.name == key)
        {
            out.push(FieldError {
                name: key.clone(),
                messages: Vec::new(),
            });
        }
    }
    out
}

/// How long a 429 answer asks to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RateLimitWait {
    /// `Retry-After: SECONDS`: the API's instruction; a wait longer than allowed fails the call.
    RetryAfter(Duration),
    /// `RateLimit-Reset`: a UNIX time at Hetzner (when the budget is full again) and DigitalOcean
    /// (when the oldest request expires); a small number is seconds from now, as in the IETF
    /// draft. Hetzner's full refill can be far away while one request is possible much sooner,
    /// so this wait is capped rather than refused.
    Reset(Duration),
}

fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<RateLimitWait> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = number("retry-after") {
        return Some(RateLimitWait::RetryAfter(Duration::from_secs(secs)));
    }
    let reset = number("ratelimit-reset")?;
    if reset < 1_000_000_000 {
        return Some(RateLimitWait::Reset(Duration::from_secs(reset)));
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(RateLimitWait::Reset(Duration::from_secs(
        reset.saturating_sub(now),
    )))
}

/// A reqwest error with its causes (reqwest's own Display stops at "error sending request").
/// URLs in it carry no secrets: the token travels in a header.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = p.backoff(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn rate_limit_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h, now), None);
        let secs = Duration::from_secs;
        h.insert("RateLimit-Reset", "1700000007".parse().unwrap());
        assert_eq!(
            rate_limit_wait(&h, now),
            Some(RateLimitWait::Reset(secs(7)))
        );
        h.insert("ratelimit-reset", "3".parse().unwrap());
        assert_eq!(
            rate_limit_wait(&h, now),
            Some(RateLimitWait::Reset(secs(3)))
        );
        h.insert("Retry-After", "2".parse().unwrap());
        assert_eq!(
            rate_limit_wait(&h, now),
            Some(RateLimitWait::RetryAfter(secs(2)))
        );
    }

    #[test]
    fn fields_named_in_a_message() {
        let sent = serde_json::json!({"name": "a", "size": "s-9", "region": "x"});
        let f = fields_mentioned(
            "You specified an invalid size for Droplet creation.",
            Some(&sent),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "size");
    }
}
