//! `servers`: the table of servers dm booted, as the state file records them and their
//! providers see them now.

use dm_core::Ctx;
use dm_macros::task;
use dm_providers::{ServerStatus, State};

use super::providers::{project_and_state_path, provider_named};

/// List the servers dm booted: name, provider, address, roles, status.
///
/// Reads `servers.state.toml` next to the inventory (without waiting for a run that holds its
/// lock) and asks each server's provider for its current status; when a provider cannot be
/// asked (no token), the recorded status is shown with a `?`.
#[task(local)]
pub async fn servers(ctx: &Ctx) -> anyhow::Result<()> {
    let (project, state_path) = project_and_state_path(ctx);
    let records = State::read(&state_path)?;
    if records.is_empty() {
        ctx.log(format!(
            "no servers booted by dm ({} has none); boot some with `boot NAME...`",
            state_path.display()
        ));
        return Ok(());
    }
    let known_hosts = ctx.connect_options().known_hosts.clone();
    let mut notes = Vec::new();
    let mut rows = vec![[
        "NAME".to_string(),
        "PROVIDER".to_string(),
        "ADDRESS".to_string(),
        "ROLES".to_string(),
        "STATUS".to_string(),
    ]];
    for record in records {
        let settings = ctx.inventory().provider_settings(&record.name);
        let status = match (
            &record.id,
            provider_named(ctx, &record.provider, &project, &known_hosts, &settings),
        ) {
            (Some(id), Ok(provider)) => match provider.status(id).await {
                Ok(server) => server.status.to_string(),
                Err(dm_providers::Error::NotFound { .. }) => "gone".to_string(),
                Err(_) => format!("{}?", record.status),
            },
            _ => format!("{}?", record.status),
        };
        // dm's own write-ahead statuses left by a run that ended before the provider answered
        // (killed, Ctrl-C): say so and what to do, rather than `creating?`.
        let unfinished = match record.status {
            ServerStatus::Creating => {
                Some(("boot", "boot NAME` again to finish it, or `destroy NAME"))
            }
            ServerStatus::Deleting => Some(("destroy", "destroy NAME` again")),
            _ => None,
        };
        let status = match unfinished {
            Some((what, todo)) => {
                let environment = match &record.environment {
                    Some(env) => format!("-E {env} "),
                    None => String::new(),
                };
                notes.push(format!(
                    "{}: its {what} did not finish (interrupted?); unless a run is doing it now, run `{environment}{}`",
                    record.name,
                    todo.replace("NAME", &record.name)
                ));
                let seen = status.trim_end_matches('?');
                if seen == record.status.to_string() {
                    format!("{what}-unfinished")
                } else {
                    format!("{what}-unfinished({seen})")
                }
            }
            None => status,
        };
        // A server of another environment than the run's says which.
        let name = match &record.environment {
            Some(env) if Some(env.as_str()) != ctx.inventory().environment() => {
                format!("{} ({env})", record.name)
            }
            _ => record.name.clone(),
        };
        rows.push([
            name,
            record.provider.clone(),
            record
                .address()
                .map_or_else(|| "-".to_string(), |a| a.to_string()),
            if record.roles.is_empty() {
                "-".to_string()
            } else {
                record.roles.join(",")
            },
            status,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        ctx.log(line.join("  ").trim_end().to_string());
    }
    for note in notes {
        ctx.log(note);
    }
    Ok(())
}
