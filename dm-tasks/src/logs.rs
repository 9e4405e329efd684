//! `logs SERVICE`: a systemd service's journal on the selected servers, each line prefixed by
//! its host (dm's output prefixes every line of a host's commands).

use dm_core::Ctx;
use dm_core::shell_quote;
use dm_macros::task;

/// Show the last lines of a systemd service's journal on the selected servers; with `--follow`,
/// keep streaming new lines until Ctrl-C.
#[task]
pub async fn logs(
    ctx: &Ctx,
    #[arg(help = "the systemd unit, e.g. nginx, postgresql, supervisor")] service: String,
    #[arg(help = "keep printing new lines until Ctrl-C")] follow: bool,
    #[arg(default = "50", help = "how many of the last lines to show first")] lines: u32,
) -> anyhow::Result<()> {
    service_logs(ctx, &service, lines, follow).await
}

/// The command that prints the last `lines` journal lines of `service` (and follows), after
/// checking that the unit exists or has a journal (journalctl would print nothing for a misspelt
/// name; a finished transient unit is gone but its journal stays).
fn journal_command(service: &str, lines: u32, follow: bool) -> String {
    let unit = shell_quote(service);
    format!(
        "if [ \"$(systemctl show -p LoadState --value -- {unit})\" = not-found ] \
         && [ -z \"$(journalctl --quiet --no-pager --unit={unit} --lines=1 2>/dev/null)\" ]; then \
         echo \"no systemd unit {service} on $(hostname), and no journal of one; \\`systemctl list-units --type=service\\` lists them\" >&2; exit 4; fi; \
         exec journalctl --no-pager --output=short-iso --unit={unit} --lines={lines}{follow}",
        service = service.replace(['"', '\\', '`', '$'], ""),
        follow = if follow { " --follow" } else { "" },
    )
}

/// Prints the last `lines` lines of `service`'s journal on the context's host (as root, so
/// every line is readable); with `follow`, keeps printing new lines until Ctrl-C, then returns
/// successfully.
pub async fn service_logs(
    ctx: &Ctx,
    service: &str,
    lines: u32,
    follow: bool,
) -> anyhow::Result<()> {
    if service.is_empty() || service.starts_with('-') {
        anyhow::bail!("`{service}` is not a systemd unit name");
    }
    let command = journal_command(service, lines, follow);
    if !follow {
        // Reading the journal changes nothing: it shows under --check too.
        ctx.sudo(command).check_safe().await?;
        return Ok(());
    }
    // Ctrl-C ends following on every host: an expected end, not a failure. Dropping the command
    // closes its channel, and journalctl exits when its output is gone.
    tokio::select! {
        result = ctx.sudo(command).check_safe().into_future() => { result?; }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_command_checks_the_unit_and_follows_on_request() {
        let once = journal_command("nginx", 20, false);
        assert!(once.contains("LoadState --value -- nginx"), "{once}");
        assert!(
            once.ends_with("exec journalctl --no-pager --output=short-iso --unit=nginx --lines=20"),
            "{once}"
        );
        assert!(journal_command("nginx", 5, true).ends_with("--lines=5 --follow"));
        let quoted = journal_command("a b;rm", 1, false);
        assert!(quoted.contains("--unit='a b;rm'"), "{quoted}");
    }
}
