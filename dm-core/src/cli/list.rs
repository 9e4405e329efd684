//! `--list`: every task with its summary, the fabfile's own first.

use std::fmt::Write;

use crate::task::TaskDef;

/// Whether a task comes from dm's standard library rather than the user's fabfile.
pub fn is_standard(task: &TaskDef) -> bool {
    task.module_path.starts_with("dm_tasks")
}

/// Renders the task list.
pub fn render(tasks: &[&'static TaskDef]) -> String {
    let width = tasks.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (title, standard) in [("Tasks", false), ("Standard tasks (dm-tasks)", true)] {
        let group: Vec<_> = tasks
            .iter()
            .filter(|t| is_standard(t) == standard)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for t in group {
            let mut notes = Vec::new();
            if !t.roles.is_empty() {
                notes.push(format!("roles: {}", t.roles.join(", ")));
            }
            if let Some(n) = t.serial {
                notes.push(format!("serial {n}"));
            }
            if let Some(n) = t.parallel {
                notes.push(format!("parallel {n}"));
            }
            if t.once {
                notes.push("once".to_string());
            }
            if t.local {
                notes.push("local".to_string());
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join("; "))
            };
            let _ = writeln!(out, "  {:<width$}  {}{notes}", t.name, t.summary());
        }
    }
    out
}
