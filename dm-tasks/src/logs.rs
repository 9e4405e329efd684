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

/// The command that prints the last `lines` lines of `service` (and follows): the journal of a
/// systemd unit of that name (which exists, or has a journal: journalctl would print nothing for
/// a misspelt name, and a finished transient unit is gone but its journal stays), else the log
/// of a supervisor program of that name (an app's programs, `shop-web`), else an error naming
/// both places it looked.
fn journal_command(service: &str, lines: u32, follow: bool) -> String {
    let unit = shell_quote(service);
    // dm's supervisor programs log here (`supervisor::Program`); others have supervisorctl's tail.
    let program_log = shell_quote(&format!("/var/log/supervisor/{service}.log"));
    let shown = service.replace(['"', '\\', '`', '$'], "");
    format!(
        "if [ \"$(systemctl show -p LoadState --value -- {unit})\" != not-found ] \
         || [ -n \"$(journalctl --quiet --no-pager --unit={unit} --lines=1 2>/dev/null)\" ]; then \
         exec journalctl --no-pager --output=short-iso --unit={unit} --lines={lines}{follow}; fi; \
         if command -v supervisorctl >/dev/null \
         && ! supervisorctl status {unit} 2>&1 | grep -q 'no such'; then \
         if [ -f {program_log} ]; then exec tail -n {lines}{tail_follow} -- {program_log}; fi; \
         exec supervisorctl tail{super_follow} {unit}; fi; \
         echo \"no systemd unit or supervisor program {shown} on $(hostname); \\`systemctl list-units --type=service\\` and \\`supervisorctl status\\` list them\" >&2; exit 4",
        follow = if follow { " --follow" } else { "" },
        tail_follow = if follow { " -F" } else { "" },
        super_follow = if follow { " -f" } else { "" },
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
    let label = format!("logs of {service}");
    if !follow {
        // Reading the journal changes nothing: it shows under --check too.
        ctx.sudo(command).shown_as(label).check_safe().await?;
        return Ok(());
    }
    // Ctrl-C ends following on every host: an expected end, not a failure. Dropping the command
    // closes its channel, and journalctl exits when its output is gone.
    tokio::select! {
        result = ctx.sudo(command).shown_as(label).check_safe().into_future() => { result?; }
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
            once.contains("exec journalctl --no-pager --output=short-iso --unit=nginx --lines=20;"),
            "{once}"
        );
        assert!(journal_command("nginx", 5, true).contains("--lines=5 --follow;"));
        assert!(once.contains("supervisorctl status nginx"), "{once}");
        assert!(
            once.contains("exec tail -n 20 -- /var/log/supervisor/nginx.log;"),
            "{once}"
        );
        let quoted = journal_command("a b;rm", 1, false);
        assert!(quoted.contains("--unit='a b;rm'"), "{quoted}");
    }
}
