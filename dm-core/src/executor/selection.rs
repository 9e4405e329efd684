//! Which hosts a run of a task covers: one answer for the command line and for `serve`'s jobs.

use std::sync::Arc;

use crate::error::Error;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::task::TaskDef;

/// The hosts a run of a task covers.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The servers selected, in inventory order (also for a `local` task, which may act on them).
    pub selected: Vec<Arc<Host>>,
    /// Declared servers the selection names that are not booted (for this environment): said,
    /// and counted in the summary, rather than skipped without a word.
    pub not_booted: Vec<String>,
}

impl Selection {
    /// The hosts the task itself runs on: none for a `local` task, which runs once on this
    /// machine.
    pub fn run_hosts(&self, task: &TaskDef) -> Vec<Arc<Host>> {
        if task.local {
            Vec::new()
        } else {
            self.selected.clone()
        }
    }
}

/// Selects the hosts of a run of `task`: the `names` (`-H`) and `roles` (`-R`) given, plus the
/// values of the task's `#[arg(hosts)]` argument in `matches` (a role when the inventory has
/// such a role and no such server: `provision appnode` is `-R appnode provision`), else the
/// task's own roles. A task that runs on hosts and selects none is an error that says why: the
/// servers are declared but not booted, or nothing matched.
pub fn select(
    task: &TaskDef,
    matches: &clap::ArgMatches,
    names: &[String],
    roles: &[String],
    inventory: &Inventory,
) -> Result<Selection, Error> {
    let (mut names, mut roles) = (names.to_vec(), roles.to_vec());
    let targets = task
        .hosts_arg
        .and_then(|id| matches.try_get_many::<String>(id).ok().flatten())
        .into_iter()
        .flatten();
    for target in targets {
        let is_role = inventory.server(target).is_none()
            && inventory.roles().iter().any(|role| role == target);
        if is_role {
            roles.push(target.clone());
        } else {
            names.push(target.clone());
        }
    }
    let selected: Vec<Arc<Host>> = inventory
        .select(&names, &roles, task.roles)?
        .into_iter()
        .map(Arc::new)
        .collect();
    let not_booted = inventory.unbooted_in_selection(&roles, task.roles, &names);
    if !task.local && selected.is_empty() {
        if !not_booted.is_empty() {
            return Err(Error::NotBooted {
                names: not_booted,
                environment: inventory.environment().map(str::to_string),
            });
        }
        return Err(Error::NoHostsSelected {
            task: task.name.to_string(),
            has_inventory: inventory.path().is_some(),
        });
    }
    Ok(Selection {
        selected,
        not_booted,
    })
}
