//! Installing nginx, reloading it safely, and sites from the user's own templates.

use std::path::PathBuf;

use dm_core::Ctx;
use dm_core::ops::{self, Step, StepReport};

use super::reload::reload_reaction;
use super::validated_config::ValidatedConfig;

/// The name of the reaction that tests and reloads nginx ([`super::reload_reaction`]); notify it from
/// operations that change nginx's configuration.
pub const RELOAD: &str = "reload-nginx";

/// The Debian package's own site, which would claim `default_server` on port 80.
const DEBIAN_DEFAULT_SITE: &str = "/etc/nginx/sites-enabled/default";

/// Adds nginx's installation to `step`: the package, no Debian default site, the service enabled
/// and running, and the [`RELOAD`] reaction (so the step's configuration operations can notify
/// it).
pub fn add_install(step: &mut Step<'_>) {
    step.add(ops::Apt::present(["nginx"]));
    step.add(
        ValidatedConfig::new()
            .absent(DEBIAN_DEFAULT_SITE)
            .notify(RELOAD),
    );
    step.add(ops::Service::new("nginx").enabled().running());
    step.reaction(RELOAD, reload_reaction());
}

/// Installs nginx on the context's host (see [`add_install`]).
pub async fn install(ctx: &Ctx) -> anyhow::Result<StepReport> {
    let mut step = ctx.step();
    add_install(&mut step);
    Ok(step.apply().await?)
}

/// The path of site `name`, checked to be a plain file name.
fn site_path(name: &str) -> anyhow::Result<String> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if !plain {
        anyhow::bail!(
            "nginx site name `{name}` must be letters, digits, `-`, `_` or `.` (it names \
             /etc/nginx/sites-enabled/NAME.conf)"
        );
    }
    Ok(format!("/etc/nginx/sites-enabled/{name}.conf"))
}

/// Installs nginx and the site `name` (`/etc/nginx/sites-enabled/NAME.conf`) rendered from the
/// local template file `template` (relative paths start at the inventory's directory) with the
/// host's variables; `nginx -t` must accept it before it goes live, then nginx reloads.
pub async fn site(
    ctx: &Ctx,
    name: &str,
    template: impl Into<PathBuf>,
) -> anyhow::Result<StepReport> {
    let path = site_path(name)?;
    let mut step = ctx.step();
    add_install(&mut step);
    step.add(
        ValidatedConfig::new()
            .template(&path, template)
            .notify(RELOAD),
    );
    Ok(step.apply().await?)
}

/// Like [`site`], from template source `source` (called `template_name` in errors), e.g. one
/// embedded with `include_str!`.
pub async fn site_from_str(
    ctx: &Ctx,
    name: &str,
    template_name: &str,
    source: &str,
) -> anyhow::Result<StepReport> {
    let path = site_path(name)?;
    let mut step = ctx.step();
    add_install(&mut step);
    step.add(
        ValidatedConfig::new()
            .template_str(&path, template_name, source)
            .notify(RELOAD),
    );
    Ok(step.apply().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_are_plain_file_names() {
        assert_eq!(
            site_path("shop").expect("plain"),
            "/etc/nginx/sites-enabled/shop.conf"
        );
        for bad in ["", "../x", "a b", ".hidden", "a/b"] {
            assert!(site_path(bad).is_err(), "{bad}");
        }
    }
}
