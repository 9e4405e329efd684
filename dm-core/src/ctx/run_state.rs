//! What the hosts of one run share: how to connect, where events go, the sudo password, the
//! modes and the selection ([`RunShared`]), and values tasks keep for the run, one per type
//! ([`RunState`]): how tasks coordinate across the hosts they run on without globals, which would
//! mix up runs that happen at the same time in one process (tests, a control plane).
//!
//! The context ([`crate::Ctx`]) and the executor both stand on this module; it imports neither.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use super::sudo::SudoPassword;
use crate::events::{Event, EventSender};
use crate::host::Host;
use crate::inventory::Inventory;
use crate::ssh::ConnectOptions;

/// What every host of a run shares: how to connect, where events go, the sudo password, the
/// modes, the selection, and how hosts start (the parallel limit, Ctrl-C).
///
/// One per run: contexts derived from another ([`crate::Ctx::with_inventory`],
/// [`crate::Ctx::on_hosts`]) share it, so what they do lands in the same report.
#[derive(Debug)]
pub struct RunShared {
    /// The inventory the run was started with: every context's inventory unless a task continued
    /// with another one ([`crate::Ctx::with_inventory`]). Read a context's with [`crate::Ctx::inventory`].
    pub inventory: Arc<Inventory>,
    /// How to reach hosts (keys, known_hosts, timeouts).
    pub connect: ConnectOptions,
    /// Where output and progress go.
    pub events: EventSender,
    /// The sudo password, asked at most once per run.
    pub sudo_password: SudoPassword,
    /// `--check`: operations plan and report, and change nothing.
    pub check: bool,
    /// `--diff`: operations show unified diffs of the file contents they change.
    pub diff: bool,
    /// The hosts the command line selected (`-H`, `-R`, the task's `#[arg(hosts)]` values, else
    /// the task's roles or the environment's servers), also for `local` tasks.
    pub selected: Vec<Arc<Host>>,
    /// At most this many hosts of one start at once (`-p`, or the task's `parallel` when lower):
    /// of the run's own hosts, and of each fan-out of a task ([`crate::Ctx::on_hosts`]), which
    /// never waits for the slots of the host that fans out.
    pub parallel: usize,
    /// Ctrl-C: no new host starts after the first, running ones are abandoned after the second,
    /// for the run's own hosts and the hosts tasks fan out to alike.
    pub interrupt: Interrupt,
    /// Values the run's hosts share, one per type: read with [`crate::Ctx::run_state`].
    pub run_state: RunState,
}

/// The two stages of an interruption: the first Ctrl-C stops new work and lets running hosts
/// finish; the second aborts them.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    /// No new host starts.
    pub stop_new: CancellationToken,
    /// Running hosts are abandoned.
    pub abort: CancellationToken,
}

impl Interrupt {
    /// Wires Ctrl-C to the two stages, telling `events` of the first; returns the handle that
    /// starting hosts watch.
    pub fn on_ctrl_c(events: EventSender) -> Interrupt {
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.stop_new.cancel();
                events.send(Event::Interrupted);
                if tokio::signal::ctrl_c().await.is_ok() {
                    handle.abort.cancel();
                }
            }
        });
        interrupt
    }
}

/// The exit status a task asked the run to end with ([`crate::Ctx::exit_as`]).
#[derive(Debug, Default)]
pub(crate) struct ExitAs(pub(crate) std::sync::OnceLock<u8>);

/// The per-run values of [`crate::Ctx::run_state`]: one per type, created on first use.
#[derive(Default)]
pub struct RunState {
    values: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl RunState {
    /// The run's value of type `T`, created with `T::default()` by the first caller; every
    /// later caller of the run gets the same one.
    pub fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match Arc::clone(value).downcast::<T>() {
            Ok(typed) => typed,
            // Unreachable: the entry for `TypeId::of::<T>()` only ever holds a `T`. Replacing it
            // keeps this total without a panic path.
            Err(_) => {
                let fresh = Arc::new(T::default());
                *value = fresh.clone();
                fresh
            }
        }
    }
}

impl fmt::Debug for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("RunState").field("values", &count).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Finished(AtomicUsize);

    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);

    #[test]
    fn every_caller_of_a_run_gets_the_same_value_per_type() {
        let run = RunState::default();
        run.get::<Finished>().0.fetch_add(1, Ordering::SeqCst);
        run.get::<Finished>().0.fetch_add(1, Ordering::SeqCst);
        run.get::<Names>().0.lock().unwrap().push("lb1".into());
        assert_eq!(run.get::<Finished>().0.load(Ordering::SeqCst), 2);
        assert_eq!(*run.get::<Names>().0.lock().unwrap(), ["lb1"]);
    }

    #[test]
    fn two_runs_do_not_share_values() {
        let (one, two) = (RunState::default(), RunState::default());
        one.get::<Finished>().0.fetch_add(1, Ordering::SeqCst);
        assert_eq!(two.get::<Finished>().0.load(Ordering::SeqCst), 0);
    }
}
