//! Errors of the provider layer: each says which provider, which API call or file, what the API
//! or the system said, and what to do about it. None of them ever contains an API token.

use std::path::PathBuf;
use std::time::Duration;

/// A result with the provider layer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field the API named as wrong, with its own messages (Hetzner's `details.fields`), or a
/// field of the request that the API's message mentions (DigitalOcean names none itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The request field, e.g. `server_type`.
    pub name: String,
    /// What the API said about it (may be empty).
    pub messages: Vec<String>,
}

/// Everything that can go wrong while booting, listing or destroying servers, changing DNS
/// records or keeping the state file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API token is not configured.
    #[error(
        "{provider}: no API token: set the environment variable {var} (or store it in dm's secrets) \
         to a token with read/write access"
    )]
    TokenMissing {
        /// The provider, e.g. `Hetzner Cloud`.
        provider: &'static str,
        /// The environment variable looked at.
        var: &'static str,
    },

    /// The configured API base URL cannot be used.
    #[error("{provider}: API base URL `{url}` is not usable: {message}")]
    BaseUrl {
        /// The provider.
        provider: &'static str,
        /// The URL given.
        url: String,
        /// Why.
        message: String,
    },

    /// The API could not be reached (connection refused, DNS, TLS, timeout) after every attempt.
    #[error(
        "{provider}: {request}: cannot reach the API at {base} after {attempts} attempt(s): \
         {message}; check the network and the base URL"
    )]
    Transport {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// The base URL.
        base: String,
        /// Attempts made.
        attempts: u32,
        /// What failed.
        message: String,
    },

    /// The API refused the token (401) or its permissions (403).
    #[error(
        "{provider}: {request}: the API refused the token (HTTP {status}{}): \"{message}\"; \
         check that {var} holds a valid token with read/write access",
        code_suffix(code)
    )]
    Unauthorized {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// 401 or 403.
        status: u16,
        /// The API's error code, e.g. `unauthorized`.
        code: String,
        /// The API's own message.
        message: String,
        /// Where the token comes from.
        var: &'static str,
    },

    /// The API rejected the request as invalid (400, 409, 422, ...): its own message and the
    /// fields it named.
    #[error(
        "{provider}: {request} was rejected (HTTP {status}{}): \"{message}\"{}",
        code_suffix(code),
        fields_suffix(fields)
    )]
    Rejected {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// HTTP status.
        status: u16,
        /// The API's error code, e.g. `invalid_input` or `unprocessable_entity`.
        code: String,
        /// The API's own message, verbatim.
        message: String,
        /// The fields of the request that are wrong.
        fields: Vec<FieldError>,
    },

    /// The local provider could not boot, inspect or destroy a machine on this host (not root,
    /// a missing program, a failing `ip`/`mount`/`systemd-nspawn`): the message says which and
    /// what to do.
    ///
    /// The machine error is part of the message, not a `source()`: a chain printed whole
    /// (`{:#}`) would say it twice.
    #[error("local provider: {0}")]
    Local(dm_machines::Error),

    /// The resource asked for does not exist (404).
    #[error("{provider}: {request}: not found (\"{message}\")")]
    NotFound {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// The API's message.
        message: String,
    },

    /// The API kept answering 429 Too Many Requests, or asked for a longer wait than allowed.
    #[error(
        "{provider}: {request}: rate limited (HTTP 429) after {attempts} attempt(s){}; \
         wait a while and run again",
        wait.map(|w| format!(", the API asks to wait {}s more", w.as_secs())).unwrap_or_default()
    )]
    RateLimited {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// Attempts made.
        attempts: u32,
        /// The wait the API asked for when it was longer than the configured limit.
        wait: Option<Duration>,
    },

    /// The API answered with a server error (5xx) on every attempt, or once for a request that is
    /// not safe to repeat.
    #[error(
        "{provider}: {request}: the API failed with HTTP {status} after {attempts} attempt(s): \
         \"{message}\"; this is on the provider's side, try again later"
    )]
    ServerError {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The API's message (or the start of the body).
        message: String,
    },

    /// The API answered with something that is not the documented payload.
    #[error("{provider}: {request}: unexpected answer from the API: {message}")]
    Decode {
        /// The provider.
        provider: &'static str,
        /// The request: method and path below the base URL, e.g. `POST /servers`.
        request: String,
        /// What did not match.
        message: String,
    },

    /// A server spec or argument is not valid; nothing was sent to the provider.
    #[error("server `{name}`: {message}")]
    InvalidSpec {
        /// The server name.
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A DNS change was asked for that dm refuses to make.
    #[error("DNS {name}.{domain}: {message}")]
    InvalidDns {
        /// The domain.
        domain: String,
        /// The record name.
        name: String,
        /// What is wrong.
        message: String,
    },

    /// A server did not become ready (running, SSH port open) in time.
    #[error(
        "{provider}: server `{name}` was not ready after {:.1}s: {last}; raise the timeout or \
         check the server in the provider's console",
        waited.as_secs_f32()
    )]
    NotReady {
        /// The provider.
        provider: String,
        /// The server name.
        name: String,
        /// How long dm waited.
        waited: Duration,
        /// The last thing seen, e.g. `provider status is initializing`.
        last: String,
    },

    /// An action the API carried out after answering (a delete, a power-on) ended in an error:
    /// the server is as the provider left it, e.g. still there and billed after a failed delete.
    #[error(
        "{provider}: server {server}: action `{action}` (id {id}) failed: {message}; the server \
         may still exist: check it in the provider's console and run again"
    )]
    ActionFailed {
        /// The provider.
        provider: &'static str,
        /// The server: its id, and its name when known.
        server: String,
        /// The action's kind as the API names it, e.g. `delete_server` or `power_on`.
        action: String,
        /// The action's id at the provider.
        id: u64,
        /// The API's error message, or the status it reported.
        message: String,
    },

    /// An action the API carries out after answering did not finish in time.
    #[error(
        "{provider}: server {server}: action `{action}` had not finished after {:.1}s ({last}); \
         it may still finish: check the server in the provider's console and run again",
        waited.as_secs_f32()
    )]
    ActionTimeout {
        /// The provider.
        provider: &'static str,
        /// The server: its id, and its name when known.
        server: String,
        /// The action's kind, e.g. `delete_server`, or `destroy` for a droplet's disappearance.
        action: String,
        /// How long dm followed it.
        waited: Duration,
        /// The last thing seen, e.g. `status running` or `the droplet still exists`.
        last: String,
    },

    /// The state file (or its lock file) could not be read or written.
    #[error("{}: {source}", path.display())]
    StateIo {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },

    /// The state file is not valid.
    #[error(
        "{}:{line}:{column}: {message}; the file is written by dm: restore it from a backup or \
         remove the broken entry",
        path.display()
    )]
    StateInvalid {
        /// The state file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },

    /// Another dm run holds the state lock and did not release it in time.
    #[error(
        "{} is locked by another dm run ({}); waited {}s. Let that run finish and try again \
         (the lock is released automatically when that process exits)",
        path.display(),
        holder.map(|pid| format!("pid {pid}")).unwrap_or_else(|| "pid unknown".to_string()),
        waited.as_secs()
    )]
    StateLocked {
        /// The lock file.
        path: PathBuf,
        /// The pid written into the lock file by its holder.
        holder: Option<u32>,
        /// How long this run waited.
        waited: Duration,
    },

    /// The state file has no server by this name.
    #[error("no server `{name}` in {}{}", path.display(), if known.is_empty() { String::new() } else { format!(" (known: {})", known.join(", ")) })]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// The state file.
        path: PathBuf,
        /// The names that are recorded.
        known: Vec<String>,
    },

    /// A server name is recorded under another provider than the one asked to act on it.
    #[error(
        "server `{name}` is recorded in {} as a `{recorded}` server, not `{asked}`; destroy it \
         first or pick another name",
        path.display()
    )]
    ProviderMismatch {
        /// The server name.
        name: String,
        /// The state file.
        path: PathBuf,
        /// The provider in the record.
        recorded: String,
        /// The provider asked to act.
        asked: String,
    },
}

impl Error {
    /// Whether this is a 404 from the API.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The same error with the server called by `name` as well as by its provider id, where
    /// the provider only knew the id (a failed or unfinished action).
    pub(crate) fn naming_server(self, name: &str) -> Error {
        match self {
            Error::ActionFailed {
                provider,
                server,
                action,
                id,
                message,
            } => Error::ActionFailed {
                provider,
                server: format!("`{name}` (id {server})"),
                action,
                id,
                message,
            },
            Error::ActionTimeout {
                provider,
                server,
                action,
                waited,
                last,
            } => Error::ActionTimeout {
                provider,
                server: format!("`{name}` (id {server})"),
                action,
                waited,
                last,
            },
            other => other,
        }
    }

    /// Whether repeating the same request later might succeed: transport failures, rate limits
    /// and server errors; not rejections.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Transport { .. } | Error::RateLimited { .. } | Error::ServerError { .. }
        )
    }
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(", {code}")
    }
}

fn fields_suffix(fields: &[FieldError]) -> String {
    if fields.is_empty() {
        return "; fix the request and try again".to_string();
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.messages.is_empty() {
                format!("field `{}`", f.name)
            } else {
                format!("field `{}`: {}", f.name, f.messages.join("; "))
            }
        })
        .collect();
    format!(
        " [{}]; fix that in the server spec and try again",
        parts.join(", ")
    )
}

impl From<dm_machines::Error> for Error {
    fn from(e: dm_machines::Error) -> Error {
        Error::Local(e)
    }
}

#[cfg(test)]
mod local_error_tests {
    use super::*;

    #[test]
    fn a_local_machine_error_is_said_once_in_a_whole_chain() {
        let err = Error::from(dm_machines::Error::InvalidMachine(
            "name \"x\" is too long".to_string(),
        ));
        // As anyhow's `{:#}` prints it: the message, then each source.
        let mut whole = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            whole.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        assert_eq!(whole.matches("is too long").count(), 1, "{whole}");
        assert!(
            whole.starts_with("local provider: local machine:"),
            "{whole}"
        );
    }
}
