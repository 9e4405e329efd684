//! The releases on a host: listing them, switching `current`, removing old ones.

use dm_core::ctx::removal_script;
use dm_core::{Ctx, shell_quote};

use super::as_user::as_user;
use super::release::{GOOD_MARKER, ReleaseInfo, parse_listing, releases_to_remove};
use crate::app::AppConfig;

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
             n=$(basename \"$d\"); if [ -f \"$d{GOOD_MARKER}\" ] && [ ! -L \"$d{GOOD_MARKER}\" ]; then echo \"$n good\"; else echo \"$n new\"; fi; done; fi"
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
/// the old one (`mv -T` is a rename(2)), so `current` always points at a whole release. Reported
/// as an operation ([`super::switch::SwitchCurrent`]): `changed` when another release was live.
pub async fn switch_current(ctx: &Ctx, app: &AppConfig, release: &str) -> anyhow::Result<()> {
    super::switch::switch_to(ctx, app, release).await?;
    Ok(())
}

/// Marks `release` as good (`true`: a rollback target) or not.
///
/// As the app user: the release tree is theirs (and its content comes from the app's
/// repository), so a link there must lead nowhere they could not write themselves. A marker that
/// came with the repository is replaced, never written through.
pub async fn mark(ctx: &Ctx, app: &AppConfig, release: &str, good: bool) -> anyhow::Result<()> {
    let cmd = if good {
        format!("rm -f -- {GOOD_MARKER} && : > {GOOD_MARKER}")
    } else {
        format!("rm -f -- {GOOD_MARKER}")
    };
    let dir = format!("{}/{release}", app.releases_dir());
    ctx.sudo(as_user(app.user(), &dir, &cmd)).quiet().await?;
    Ok(())
}

/// The commit recorded in `release`'s `REVISION`, read as the app user (the file comes from the
/// release tree, which is theirs: root must not follow a link there); `None` when it is missing
/// or is not a 40-hex-digit commit.
pub async fn release_revision(
    ctx: &Ctx,
    app: &AppConfig,
    release: &str,
) -> anyhow::Result<Option<String>> {
    let dir = format!("{}/{release}", app.releases_dir());
    let out = ctx
        .sudo(as_user(
            app.user(),
            &dir,
            "head -c 100 REVISION 2>/dev/null || true",
        ))
        .quiet()
        .check_safe()
        .await?;
    let commit = out.trimmed();
    Ok(
        (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| commit.to_ascii_lowercase()),
    )
}

/// Removes the oldest releases beyond `app.keep_releases`, never the live one; returns their
/// names.
///
/// The app user owns `releases/` and the directory above it, and could swap `releases/` for a
/// link to another account's directory of releases: the removal acts as the app user there and
/// refuses a way that leaves the app user's directories ([`removal_script`]).
pub async fn cleanup(ctx: &Ctx, app: &AppConfig) -> anyhow::Result<Vec<String>> {
    let (releases, current) = list(ctx, app).await?;
    let old = releases_to_remove(&releases, app.keep_releases, current.as_deref());
    if !old.is_empty() {
        remove_releases(ctx, app, &old).await?;
    }
    Ok(old)
}

/// Removes the releases `names` of the app with everything in them, following no link the app
/// user planted on the way ([`removal_script`]).
pub(crate) async fn remove_releases(
    ctx: &Ctx,
    app: &AppConfig,
    names: &[String],
) -> anyhow::Result<()> {
    let paths: Vec<String> = names
        .iter()
        .map(|name| format!("{}/{name}", app.releases_dir()))
        .collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    ctx.sudo(removal_script(&paths, true))
        .shown_as(format!("remove releases {}", names.join(", ")))
        .quiet()
        .await?;
    Ok(())
}

/// Appends a line to `<app.path>/revisions.log`, the human-readable deploy history.
///
/// As the app user, who owns the directory and could have made the log a link to anywhere. A
/// log that root made (dm before this) is first given to the app user, without following a link.
pub async fn log_revision(ctx: &Ctx, app: &AppConfig, line: &str) -> anyhow::Result<()> {
    let log = shell_quote(&format!("{}/revisions.log", app.path()));
    let user = shell_quote(app.user());
    let append = as_user(
        app.user(),
        &app.path(),
        &format!(
            "if [ -L revisions.log ]; then echo \"{path}/revisions.log is a symbolic link; dm does not write through links in the app's directory: remove it\" >&2; exit 1; fi\n\
             printf '%s\\n' {} >> revisions.log",
            shell_quote(line),
            path = app.path().replace(['"', '$', '`', '\\'], "_")
        ),
    );
    ctx.sudo(format!(
        "if [ -f {log} ] && [ ! -L {log} ] && [ \"$(stat -c %u {log})\" = 0 ]; then chown -h {user} {log}; fi\n{append}"
    ))
    .quiet()
    .await?;
    Ok(())
}
