//! nginx: installed, configured from templates, tested with `nginx -t` before anything goes live
//! or is reloaded.
//!
//! - [`install`] (or [`add_install`] into a step of your own): the package, the Debian default
//!   site removed, the service enabled and running.
//! - [`ValidatedConfig`]: configuration files that are installed only when `nginx -t` accepts
//!   the configuration with them in place. A bad configuration never replaces a good one: the
//!   step fails with nginx's error and the old files keep serving.
//! - [`site`] / [`site_from_str`]: a site (`/etc/nginx/sites-enabled/NAME.conf`) from a template
//!   of your own, validated and reloaded.
//! - [`reload_reaction`]: `nginx -t` then a graceful reload (start when nginx is not running).
//! - [`render_site`], [`render_upstream`], [`render_maintenance_page`]: the load balancer's
//!   templates (embedded in the binary), used by [`crate::loadbalancer`].
//! - [`self_signed_certificate`]: a self-signed TLS certificate generated on the host.

mod install;
mod reload;
mod render;
mod tls;
mod validated_config;

pub use install::{RELOAD, add_install, install, site, site_from_str};
pub use reload::{Reload, reload_reaction};
pub use render::{
    Backend, SiteSettings, UpstreamSettings, render_maintenance_page, render_site, render_upstream,
};
pub use tls::{TlsFiles, self_signed_certificate};
pub use validated_config::{NGINX_DIR, ValidatedConfig};
