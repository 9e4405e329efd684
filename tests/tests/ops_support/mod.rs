//! Helpers of the operations tests: reading the `--json` report's operations, and proving from
//! outside that a host's file system did not change.

#![allow(dead_code)]

use dm::ops::OpStatus;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::*;
use serde_json::Value;

/// The status of every operation of the run's only host, in order.
pub fn statuses(report: &RunReport) -> Vec<OpStatus> {
    report.hosts[0]
        .operations
        .iter()
        .map(|o| o.status)
        .collect()
}

/// `(name, status)` of every operation of the run's only host, in order.
pub fn named_statuses(report: &RunReport) -> Vec<(String, OpStatus)> {
    report.hosts[0]
        .operations
        .iter()
        .map(|o| (o.name.clone(), o.status))
        .collect()
}

/// Runs the test fabfile with `--json` and the given arguments; returns the run and its report.
pub fn run_json(fleet: &Fleet, args: &[&str]) -> (Run, Value) {
    run_json_env(fleet, args, &[])
}

/// [`run_json`] with extra environment variables.
pub fn run_json_env(fleet: &Fleet, args: &[&str], env: &[(&str, &str)]) -> (Run, Value) {
    let mut dm = Dm::new(fleet).args(["--json"]);
    for (k, v) in env {
        dm = dm.env(k, v);
    }
    let run = dm.args(args).run();
    let json = run.json();
    (run, json)
}

/// The report of `host` in a JSON report.
pub fn host<'a>(json: &'a Value, host: &str) -> &'a Value {
    json["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host))
        .unwrap_or_else(|| panic!("no host {host} in the report:\n{json:#}"))
}

/// `(name, status)` of every operation reported for `host`, in order.
pub fn ops(json: &Value, name: &str) -> Vec<(String, String)> {
    host(json, name)["operations"]
        .as_array()
        .map(|ops| {
            ops.iter()
                .map(|o| {
                    (
                        o["name"].as_str().unwrap_or_default().to_string(),
                        o["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The status of the operation of `host` whose name starts with `prefix`.
pub fn status(json: &Value, host_name: &str, prefix: &str) -> String {
    ops(json, host_name)
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no operation `{prefix}..` on {host_name}:\n{json:#}"))
}

/// The operation of `host` whose name starts with `prefix`, as JSON.
pub fn op<'a>(json: &'a Value, host_name: &str, prefix: &str) -> &'a Value {
    host(json, host_name)["operations"]
        .as_array()
        .and_then(|ops| {
            ops.iter()
                .find(|o| o["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        })
        .unwrap_or_else(|| panic!("no operation `{prefix}..` on {host_name}:\n{json:#}"))
}

/// How many operations of `host` ended with `status` (`ok`, `changed`, `would_change`, ...).
pub fn count(json: &Value, host_name: &str, status: &str) -> u64 {
    host(json, host_name)["op_counts"][status]
        .as_u64()
        .unwrap_or_else(|| panic!("no op_counts.{status} for {host_name}:\n{json:#}"))
}

/// The round trips the report counts for `host`.
pub fn round_trips(json: &Value, host_name: &str) -> u64 {
    host(json, host_name)["round_trips"]
        .as_u64()
        .unwrap_or_else(|| panic!("no round_trips for {host_name}:\n{json:#}"))
}

/// A fingerprint of the machine's whole file system (every path's size, mode, owner and
/// modification time, and every regular file's content hash under the directories operations
/// touch), leaving out what a running system changes on its own (logs, journal, systemd state).
pub fn fs_fingerprint(machine: &Machine) -> String {
    machine.exec_ok(
        "{ find / /tmp -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \
            -o -path /var/log -o -path /var/lib/systemd -o -path /var/cache -o -path /var/tmp \\) -prune \
            -o -printf '%p %s %m %u %g %T@\\n'; \
          find /etc /srv /root /home /tmp -xdev -type f -exec sha256sum {} + ; } | sort | sha256sum",
    )
}

/// Regular files modified after `stamp` (a file the test created), anywhere but where a
/// running system writes on its own.
pub fn files_newer_than(machine: &Machine, stamp: &str) -> String {
    machine.exec_ok(&format!(
        "find / /tmp -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \
            -o -path /var/log -o -path /var/lib/systemd \\) -prune -o -newer {stamp} -print | grep -v '^{stamp}$' || true"
    ))
}
