//! The load balancer's settings, read from the inventory variables `app` and `nginx`.

use dm_core::host::{Host, Vars};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::nginx::{Backend, SiteSettings, UpstreamSettings};

/// The `app` table, as far as the load balancer reads it.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct AppVars {
    name: String,
    port: u16,
    path: Option<String>,
    static_dir: Option<String>,
}

impl Default for AppVars {
    fn default() -> Self {
        AppVars {
            name: "app".to_string(),
            port: 8000,
            path: None,
            static_dir: None,
        }
    }
}

inventory::submit! {
    dm_core::inventory::VarsTable {
        name: "nginx",
        read_by: "dm's loadbalancer role (launch) and maintenance task",
        check: |value| dm_core::inventory::VarsProblem::deserialize::<NginxVars>(value).map(drop),
    }
}

/// The `nginx` table.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct NginxVars {
    domain: String,
    tls: Option<bool>,
    tls_certificate: Option<String>,
    tls_certificate_key: Option<String>,
    static_root: Option<String>,
    media_root: Option<String>,
    client_max_body_size: String,
    max_fails: u32,
    fail_timeout: String,
}

impl Default for NginxVars {
    fn default() -> Self {
        NginxVars {
            domain: "_".to_string(),
            tls: None,
            tls_certificate: None,
            tls_certificate_key: None,
            static_root: None,
            media_root: None,
            client_max_body_size: "10m".to_string(),
            max_fails: 3,
            fail_timeout: "10s".to_string(),
        }
    }
}

/// Variable `name` of `host` as `T`, or the default when unset.
fn table<T: DeserializeOwned + Default>(host: &str, vars: &Vars, name: &str) -> anyhow::Result<T> {
    match vars.get(name) {
        None => Ok(T::default()),
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{host}: variable `{name}` has the wrong shape: {e}; see dm_tasks::loadbalancer \
                 for its fields"
            )
        }),
    }
}

/// The port the app listens on at app node `host` (its `app.port`, default 8000).
pub(super) fn app_port(host: &Host) -> anyhow::Result<u16> {
    Ok(table::<AppVars>(&host.name, &host.vars, "app")?.port)
}

/// Everything the load balancer's recipe needs, resolved from the host's variables.
#[derive(Debug, Clone)]
pub struct LoadBalancerSettings {
    /// What the site template is rendered with (certificate paths filled when generated).
    pub site: SiteSettings,
    /// Whether to generate a self-signed certificate (TLS on, no certificate given).
    pub generate_certificate: bool,
    /// The common name of a generated certificate.
    pub certificate_name: String,
    /// `nginx.max_fails`.
    pub max_fails: u32,
    /// `nginx.fail_timeout`.
    pub fail_timeout: String,
}

impl LoadBalancerSettings {
    /// Reads the `app` and `nginx` variables of the load balancer `host`.
    pub fn read(host: &Host) -> anyhow::Result<LoadBalancerSettings> {
        let app: AppVars = table(&host.name, &host.vars, "app")?;
        let nginx: NginxVars = table(&host.name, &host.vars, "nginx")?;
        let name = app.name.clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            anyhow::bail!(
                "{}: variable `app.name` = {name:?} names nginx files and the upstream: use \
                 letters, digits, `-` and `_` only",
                host.name
            );
        }
        let tls = match nginx.tls {
            Some(tls) => tls,
            None => match host.vars.get("tls") {
                None => false,
                Some(value) => value.as_bool().ok_or_else(|| {
                    anyhow::anyhow!("{}: variable `tls` must be true or false", host.name)
                })?,
            },
        };
        let given = match (&nginx.tls_certificate, &nginx.tls_certificate_key) {
            (Some(certificate), Some(key)) => Some((certificate.clone(), key.clone())),
            (None, None) => None,
            _ => anyhow::bail!(
                "{}: set both `nginx.tls_certificate` and `nginx.tls_certificate_key` (or \
                 neither, for a self-signed certificate)",
                host.name
            ),
        };
        let app_path = app.path.clone().unwrap_or_else(|| format!("/srv/{name}"));
        let static_root = nginx.static_root.clone().or_else(|| {
            let on_app_node = super::is_app_node(host);
            app.static_dir
                .as_deref()
                .filter(|_| on_app_node)
                .map(|dir| format!("{app_path}/current/{}", dir.trim_matches('/')))
        });
        let certificate_name = nginx
            .domain
            .split_whitespace()
            .next()
            .filter(|d| *d != "_" && !d.contains('*') && !d.starts_with('~'))
            .unwrap_or(&host.name)
            .to_string();
        let (tls_certificate, tls_certificate_key) = given.clone().unwrap_or_default();
        Ok(LoadBalancerSettings {
            site: SiteSettings {
                upstream: format!("{}_app", name.replace('-', "_")),
                domain: nginx.domain,
                tls,
                tls_certificate,
                tls_certificate_key,
                static_root: static_root.map(|r| r.trim_end_matches('/').to_string()),
                media_root: nginx
                    .media_root
                    .map(|r| r.trim_end_matches('/').to_string()),
                client_max_body_size: nginx.client_max_body_size,
                maintenance_flag: format!("/var/lib/dm/maintenance/{name}"),
                maintenance_root: format!("/var/www/dm-maintenance/{name}"),
                name,
            },
            generate_certificate: tls && given.is_none(),
            certificate_name,
            max_fails: nginx.max_fails,
            fail_timeout: nginx.fail_timeout,
        })
    }

    /// `/etc/nginx/sites-enabled/NAME.conf`.
    pub fn site_path(&self) -> String {
        format!("/etc/nginx/sites-enabled/{}.conf", self.site.name)
    }

    /// `/etc/nginx/conf.d/NAME-upstream.conf`.
    pub fn upstream_path(&self) -> String {
        format!("/etc/nginx/conf.d/{}-upstream.conf", self.site.name)
    }

    /// The upstream of `backends`.
    pub fn upstream(&self, backends: Vec<Backend>) -> UpstreamSettings {
        UpstreamSettings {
            site: self.site.name.clone(),
            name: self.site.upstream.clone(),
            backends,
            max_fails: self.max_fails,
            fail_timeout: self.fail_timeout.clone(),
        }
    }
}
