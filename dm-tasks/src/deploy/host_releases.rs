//! The releases on a host: listing them, switching `current`, removing old ones.

use dm_core::{Ctx, shell_quote};

use super::app::AppConfig;
use super::release::{GOOD_MARKER, ReleaseInfo, parse_listing, releases_to_remove};

/// The releases of the app on the host, and the name of the live one.
pub async fn list(
    ctx: &Ctx,
    app: &AppConfig,
) -> anyhow::Result<(Vec<ReleaseInfo>, Option<String>)> {
    let releases = shell_quote(&app.releases_dir());
    let current = shell_quote(&app.current());
    let out = ctx
        .sudo(format!(
            "if [ -L {current} ]; then printf 'current=%s\\n' \"$(basename \"$(readlink {current})\")\"; fi\n\
             if [ -d {releases} ]; then for d in {releases}/*/; do [ -d \"$d\" ] || continue; \
             n=$(basename \"$d\"); if [ -e \"$d{GOOD_MARKER}\" ]; then echo \"$n good\"; else echo \"$n new\"; fi; done; fi"
        ))
        .quiet()
        .check_safe()
        .await?;
    let current = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("current="))
        .map(str::to_string)
        .filter(|c| !c.is_empty());
    Ok((parse_listing(&out.stdout), current))
}

/// Points `current` at `release` atomically: a new symlink under a temporary name renamed over
/// the old one (`mv -T` is a rename(2)), so `current` always points at a whole release.
pub async fn switch_current(ctx: &Ctx, app: &AppConfig, release: &str) -> anyhow::Result<()> {
    let target = shell_quote(&format!("{}/{release}", app.releases_dir()));
    let current = shell_quote(&app.current());
    let tmp = shell_quote(&format!("{}/.current-{release}", app.path()));
    ctx.sudo(format!(
        "[ -d {target} ] && ln -sfn {target} {tmp} && mv -T {tmp} {current}"
    ))
    .quiet()
    .await?;
    Ok(())
}

/// Marks `release` as good (`true`: a rollback target) or not.
pub async fn mark(ctx: &Ctx, app: &AppConfig, release: &str, good: bool) -> anyhow::Result<()> {
    let marker = shell_quote(&format!("{}/{release}/{GOOD_MARKER}", app.releases_dir()));
    let cmd = if good {
        format!("touch {marker}")
    } else {
        format!("rm -f {marker}")
    };
    ctx.sudo(cmd).quiet().await?;
    Ok(())
}

/// Removes the oldest releases beyond `app.keep_releases`, never the live one; returns their
/// names.
pub async fn cleanup(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<Vec<String>> {
    let (releases, current) = list(ctx, app).await?;
    let old = releases_to_remove(&releases, app.keep_releases, current.as_deref());
    if !old.is_empty() {
        let paths: Vec<String> = old
            .iter()
            .map(|name| shell_quote(&format!("{}/{name}", app.releases_dir())))
            .collect();
        ctx.sudo(format!("rm -rf -- {}", paths.join(" ")))
            .quiet()
            .await?;
    }
    Ok(old)
}

/// Appends a line to `<app.path>/revisions.log`, the human-readable deploy history.
pub async fn log_revision(ctx: &Ctx, app: &AppConfig, line: &str) -> anyhow::Result<()> {
    let log = shell_quote(&format!("{}/revisions.log", app.path()));
    ctx.sudo(format!("printf '%s\\n' {} >> {log}", shell_quote(line)))
        .quiet()
        .await?;
    Ok(())
}
