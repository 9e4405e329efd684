//! Values that the hosts of one run share, one per type: how tasks coordinate across the hosts
//! they run on (e.g. the last host to finish does something once for the run) without globals,
//! which would mix up runs that happen at the same time in one process (tests, a control plane).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

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
