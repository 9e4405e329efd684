//! The executor: runs one task on many hosts.
//!
//! Split like a test runner: the [`dispatcher`] decides which host starts when (batches, parallel
//! limit, fail-fast, interruption), [`host_run`] does the work on one host (connect, run the task,
//! classify the result), and [`crate::events`] carry what happens to the reporter as it happens,
//! which builds the run's report from them alone. A failure on one host is that host's result; it
//! never cancels or loses another host's work.
//!
//! A task that starts work on other hosts itself ([`crate::Ctx::on_hosts`], in [`fan_out`]) goes
//! through the same dispatcher: the same parallel limit, the same Ctrl-C, the same events.

pub mod dispatcher;
pub mod fan_out;
pub mod host_run;
pub mod selection;

use std::sync::Arc;

use crate::host::Host;
use crate::task::TaskDef;

pub use dispatcher::run;
pub use selection::{Selection, select};

/// What the run does: the task, the hosts it runs on, and how many hosts at a time.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The task.
    pub task: &'static TaskDef,
    /// Hosts in order. Ignored for local tasks.
    pub hosts: Vec<Arc<Host>>,
    /// Run hosts in batches of this size, each batch after the previous one finished.
    pub batch_size: Option<usize>,
    /// At most this many hosts at once (within a batch).
    pub parallel: usize,
    /// Start no new host once one has failed.
    pub fail_fast: bool,
}

impl RunPlan {
    /// The batches of hosts, in the order they run. A `once` task runs on the first host only.
    pub fn batches(&self) -> Vec<Vec<Arc<Host>>> {
        let hosts: Vec<Arc<Host>> = if self.task.once {
            self.hosts.iter().take(1).cloned().collect()
        } else {
            self.hosts.clone()
        };
        if hosts.is_empty() {
            return Vec::new();
        }
        let size = self.batch_size.unwrap_or(hosts.len()).max(1);
        hosts.chunks(size).map(<[Arc<Host>]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(once: bool) -> &'static TaskDef {
        Box::leak(Box::new(TaskDef {
            name: "t",
            doc: "",
            roles: &[],
            serial: None,
            parallel: None,
            once,
            local: false,
            hosts_arg: None,
            args: Vec::new,
            run: |_, _| Box::pin(async { Ok(()) }),
            module_path: "",
        }))
    }

    fn hosts(n: usize) -> Vec<Arc<Host>> {
        (0..n)
            .map(|i| Arc::new(Host::new(format!("h{i}"), "127.0.0.1")))
            .collect()
    }

    fn names(batches: &[Vec<Arc<Host>>]) -> Vec<Vec<String>> {
        batches
            .iter()
            .map(|b| b.iter().map(|h| h.name.clone()).collect())
            .collect()
    }

    #[test]
    fn serial_two_splits_five_hosts_into_three_batches() {
        let plan = RunPlan {
            task: task(false),
            hosts: hosts(5),
            batch_size: Some(2),
            parallel: 10,
            fail_fast: false,
        };
        assert_eq!(
            names(&plan.batches()),
            [vec!["h0", "h1"], vec!["h2", "h3"], vec!["h4"]]
        );
    }

    #[test]
    fn without_serial_all_hosts_are_one_batch() {
        let plan = RunPlan {
            task: task(false),
            hosts: hosts(3),
            batch_size: None,
            parallel: 1,
            fail_fast: false,
        };
        assert_eq!(plan.batches().len(), 1);
    }

    #[test]
    fn once_task_runs_on_the_first_host_only() {
        let plan = RunPlan {
            task: task(true),
            hosts: hosts(3),
            batch_size: None,
            parallel: 10,
            fail_fast: false,
        };
        assert_eq!(names(&plan.batches()), [vec!["h0"]]);
    }
}
