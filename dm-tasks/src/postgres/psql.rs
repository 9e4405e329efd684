//! Running SQL on the database server as the `postgres` superuser, over the local socket.
//!
//! Fact scripts read with a one-line query; changes send their SQL on standard input, so that
//! nothing of it (a password verifier, names) shows up in the process list.

use std::sync::Arc;

use dm_core::operation::{Action, Input};
use dm_core::ops::OpError;
use dm_core::shell_quote;

/// `psql` as the `postgres` user, from `/` (its home may not be readable from the caller's
/// directory), without reading `~/.psqlrc`, stopping at the first error.
const PSQL: &str = "cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres";

/// A fact script fragment: prints `installed=0` when PostgreSQL is not installed, `down=1` when
/// the server does not answer, else `installed=1` and one `PREFIX=VALUE` line per row of `query`
/// (columns joined by `|`).
pub(crate) fn fact_query(prefix: &str, query: &str) -> String {
    format!(
        "if ! command -v psql >/dev/null 2>&1 || ! id -u postgres >/dev/null 2>&1; then echo installed=0; \
         elif ! dm_rows=$({PSQL} -A -t -c {query} 2>/dev/null); then echo installed=1; echo down=1; \
         else echo installed=1; printf '%s\\n' \"$dm_rows\" | sed '/^$/d; s/^/{prefix}=/'; fi",
        query = shell_quote(query)
    )
}

/// An action that runs `sql` through psql, reading it from standard input.
pub(crate) fn action(sql: String) -> Action {
    let bytes: Arc<[u8]> = Arc::from(sql.into_bytes());
    let script = format!("head -c {} | ({PSQL} >/dev/null)", bytes.len());
    Action::with_input(script, Input::Bytes(bytes))
}

/// Checks that `name` is a plain SQL identifier (lower-case letters, digits, `_`, at most 63
/// bytes), so it can be written into SQL unquoted and means the same to every client.
pub(crate) fn check_identifier(op: &str, what: &str, name: &str) -> Result<(), OpError> {
    match identifier_problem(what, name) {
        None => Ok(()),
        Some(problem) => Err(OpError::invalid(op, problem)),
    }
}

/// What is wrong with `name` as a plain SQL identifier (see [`check_identifier`]), if anything.
pub(crate) fn identifier_problem(what: &str, name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (!valid).then(|| {
        format!(
            "{what} `{name}` is not a plain identifier: use 1 to 63 lower-case letters, digits \
             and `_`, starting with a letter or `_` (set it in dm.toml's [vars.postgres])"
        )
    })
}

/// `'text'` as an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
