//! Processes on this host as machines see them: a process told apart from a later one that got
//! the same pid (start time, boot id), killing one and waiting until it is gone, the processes of
//! a network namespace. Records, cgroups, teardown and sweeps all build on these.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::command::program;

/// The identity of a process across pid reuse and reboots: pid, start time, boot id.
#[derive(Debug, PartialEq)]
pub struct Owner {
    pid: u32,
    start: u64,
    boot_id: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: process_start(pid).unwrap_or(0),
            boot_id: boot_id(),
        }
    }

    /// Whether the process is still running (in this boot, with this start time).
    pub fn is_alive(&self) -> bool {
        self.boot_id == boot_id() && process_start(self.pid) == Some(self.start)
    }

    /// Reads an owner file.
    pub fn read(path: &Path) -> Option<Owner> {
        Owner::parse(&fs::read_to_string(path).ok()?)
    }

    /// Parses the text written by [`Owner::to_text`].
    pub fn parse(text: &str) -> Option<Owner> {
        let mut words = text.split_whitespace();
        Some(Owner {
            pid: words.next()?.parse().ok()?,
            start: words.next()?.parse().ok()?,
            boot_id: words.next()?.to_string(),
        })
    }

    /// The owner file's text.
    pub fn to_text(&self) -> String {
        format!("{} {} {}\n", self.pid, self.start, self.boot_id)
    }
}

/// This boot's id: a pid and start time only identify a process within one boot.
fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Start time of a live (not zombie) process, from `/proc/PID/stat`.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: fields after it are
    // counted from the last ')'. State is field 3, start time field 22.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Kills a process by pid if it is still the process that was recorded, and waits until it is
/// gone (or a zombie its parent has not reaped yet).
pub fn kill_and_wait(pid: u32, start: u64) {
    if process_start(pid) != Some(start) {
        return;
    }
    if let Some(raw) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(raw, rustix::process::Signal::KILL);
    }
    wait_until(Duration::from_secs(10), || {
        process_start(pid) != Some(start)
    });
}

/// The pids of the processes inside network namespace `name`.
pub fn namespace_pids(name: &str) -> Vec<u32> {
    if !Path::new("/run/netns").join(name).exists() {
        return Vec::new();
    }
    program("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every process inside network namespace `name` (a machine's processes, when its
/// systemd-nspawn is already gone) and waits until none is left.
pub fn kill_namespace_processes(name: &str) {
    for pid in namespace_pids(name) {
        if let Some(start) = process_start(pid) {
            kill_and_wait(pid, start);
        }
    }
    wait_until(Duration::from_secs(10), || {
        namespace_pids(name)
            .iter()
            .all(|&p| process_start(p).is_none())
    });
}

/// Polls `done` every 20 ms until it is true or `limit` has passed; returns whether it became true.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(Owner::current().is_alive());
        let me = Owner::current();
        let other = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!other.is_alive());
    }
}
