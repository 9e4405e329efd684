//! A run's events as the JSON a job's log stores and clients receive: the same events the
//! command line's reporter gets, each text passed through dm's redaction exactly like the
//! terminal's lines, so a secret's value never reaches the database or a response.

use dm_core::events::{Event, Outcome, Stream};
use serde_json::{Value, json};

/// `text` with every registered secret masked.
fn redacted(text: &str) -> String {
    dm_core::redact::redact(text).into_owned()
}

/// How a host ended, as JSON: its one-word status and, when not ok, why (redacted).
fn outcome(outcome: &Outcome) -> Value {
    json!({
        "status": outcome.label(),
        "error": outcome.message().map(redacted),
    })
}

/// The JSON of one event: an object with a `kind` and the event's fields.
pub fn to_json(event: &Event) -> Value {
    match event {
        Event::RunStarted { task, hosts, local } => json!({
            "kind": "run_started", "task": task, "hosts": hosts, "local": local,
        }),
        Event::HostsAdded { hosts } => json!({"kind": "hosts_added", "hosts": hosts}),
        Event::HostStarted { host } => json!({"kind": "host_started", "host": host}),
        Event::Output { host, stream, line } => json!({
            "kind": "output",
            "host": host,
            "stream": match stream { Stream::Stdout => "stdout", Stream::Stderr => "stderr" },
            "line": redacted(line),
        }),
        Event::Command { host, command } => json!({
            "kind": "command", "host": host, "command": redacted(command),
        }),
        Event::CommandSkipped { host, what } => json!({
            "kind": "command_skipped", "host": host, "what": redacted(what),
        }),
        Event::HostFinished {
            host,
            outcome: ending,
            elapsed,
            round_trips,
            fanned_out,
        } => json!({
            "kind": "host_finished",
            "host": host,
            "outcome": outcome(ending),
            "elapsed_secs": elapsed.as_secs_f64(),
            "round_trips": round_trips,
            "fanned_out": fanned_out,
        }),
        Event::Operation {
            host,
            name,
            status,
            description,
            diff,
            error,
        } => json!({
            "kind": "operation",
            "host": host,
            "name": redacted(name),
            "status": status,
            "description": description.as_deref().map(redacted),
            "diff": diff.as_deref().map(redacted),
            "error": error.as_deref().map(redacted),
        }),
        Event::AfterAllHostsDone {
            host,
            name,
            outcome: ending,
            elapsed,
        } => json!({
            "kind": "after_all_hosts_done",
            "host": host,
            "name": name,
            "outcome": outcome(ending),
            "elapsed_secs": elapsed.as_secs_f64(),
        }),
        Event::Interrupted => json!({
            "kind": "interrupted",
            "message": "cancelled: no new hosts start; running ones finish (cancel again to abort them)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_and_errors_are_redacted_like_the_terminals() {
        dm_core::redact::register("hunter2-serve-test");
        let line = to_json(&Event::Output {
            host: "app1".into(),
            stream: Stream::Stdout,
            line: "password=hunter2-serve-test".into(),
        });
        assert_eq!(line["line"], "password=********");
        assert_eq!(line["stream"], "stdout");
        let ended = to_json(&Event::HostFinished {
            host: "app1".into(),
            outcome: Outcome::Failed("bad 'hunter2-serve-test'".into()),
            elapsed: std::time::Duration::from_millis(1500),
            round_trips: 2,
            fanned_out: false,
        });
        assert_eq!(ended["outcome"]["status"], "failed");
        assert!(!ended.to_string().contains("hunter2"), "{ended}");
        assert_eq!(ended["elapsed_secs"], 1.5);
    }
}
