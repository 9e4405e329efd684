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
        check: |value| dm_core::inventory::VarsProblem::deserialize::<NginxVars>(value)?.check(),
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

impl NginxVars {
    /// Refuses values that would change what the site or upstream file says: they are written
    /// unquoted into nginx's configuration, where `domain = "x; include /etc/shadow"` would add a
    /// directive. Says which key, and what to write.
    fn check(&self) -> Result<(), dm_core::inventory::VarsProblem> {
        use dm_core::inventory::VarsProblem;
        if let Some(problem) = server_names_problem(&self.domain) {
            return Err(VarsProblem::at(&["domain"], problem));
        }
        for (key, value) in [
            ("tls_certificate", &self.tls_certificate),
            ("tls_certificate_key", &self.tls_certificate_key),
            ("static_root", &self.static_root),
            ("media_root", &self.media_root),
        ] {
            if let Some(problem) = value.as_deref().and_then(path_problem) {
                return Err(VarsProblem::at(&[key], problem));
            }
        }
        if let Some(problem) = size_problem(&self.client_max_body_size) {
            return Err(VarsProblem::at(&["client_max_body_size"], problem));
        }
        if let Some(problem) = time_problem(&self.fail_timeout) {
            return Err(VarsProblem::at(&["fail_timeout"], problem));
        }
        Ok(())
    }
}

/// What is wrong with `domain` as nginx's `server_name` list, if anything: names separated by
/// spaces, each a hostname, `_`, or a wildcard name (`*.example.com`, `.example.com`,
/// `www.example.*`).
fn server_names_problem(domain: &str) -> Option<String> {
    let names: Vec<&str> = domain
        .split([' ', '\t'])
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Some("no server name: write a domain such as `example.com`, or `_` for any".into());
    }
    for name in names {
        if name == "_" {
            continue;
        }
        if name.starts_with('~') {
            return Some(format!(
                "`{name}` is a regular-expression server name, which dm does not write; list the \
                 names, or use a wildcard such as `*.example.com`"
            ));
        }
        let bare = name
            .strip_prefix("*.")
            .or_else(|| name.strip_prefix('.'))
            .or_else(|| name.strip_suffix(".*"))
            .unwrap_or(name);
        if bare.is_empty()
            || bare.split('.').any(|label| {
                label.is_empty()
                    || label.starts_with('-')
                    || !label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        {
            return Some(format!(
                "{name:?} is not a server name: write hostnames (letters, digits, `-`, `.`) \
                 separated by spaces, `*.example.com`, or `_` for any"
            ));
        }
    }
    None
}

/// What is wrong with `path` as a file or directory in nginx's configuration, where it is
/// written unquoted: it must be absolute, without spaces, quotes or nginx's syntax characters.
pub(super) fn path_problem(path: &str) -> Option<String> {
    let bad = path.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\' | '$' | '#')
    });
    match bad {
        _ if !path.starts_with('/') => Some(format!(
            "{path:?} is not an absolute path: write it from the root, e.g. /srv/app/static"
        )),
        Some(c) => Some(format!(
            "{path:?} contains {c:?}, which nginx's configuration would read as syntax: use a \
             path without spaces, quotes, `;`, `{{`, `}}`, `$`, `#` or `\\`"
        )),
        None => None,
    }
}

/// What is wrong with `size` as an nginx size (`10m`, `512k`, `1g`, `1048576`).
fn size_problem(size: &str) -> Option<String> {
    let digits = size.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    let valid = !digits.is_empty()
        && size.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit());
    (!valid).then(|| {
        format!(
            "{size:?} is not a size: write a number with an optional unit, e.g. `10m`, `512k`, `1g`"
        )
    })
}

/// What is wrong with `time` as an nginx time (`10s`, `500ms`, `1m30s`, `30`).
fn time_problem(time: &str) -> Option<String> {
    const UNITS: [&str; 8] = ["ms", "s", "m", "h", "d", "w", "M", "y"];
    let mut rest = time;
    let mut valid = !rest.is_empty();
    while valid && !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            valid = false;
            break;
        }
        rest = &rest[digits..];
        // A bare number is seconds, and only as the whole value.
        if rest.is_empty() {
            valid = digits == time.len();
            break;
        }
        match UNITS.iter().find(|unit| rest.starts_with(**unit)) {
            Some(unit) => rest = &rest[unit.len()..],
            None => valid = false,
        }
    }
    (!valid).then(|| format!("{time:?} is not a time: write e.g. `10s`, `500ms`, `1m30s`"))
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
        // Checked when the inventory loads too; again here for settings built otherwise.
        nginx.check().map_err(|problem| {
            anyhow::anyhow!(
                "{}: variable `nginx.{}`: {}",
                host.name,
                problem.path.join("."),
                problem.message
            )
        })?;
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
        if let Some(problem) = static_root
            .as_deref()
            .filter(|_| nginx.static_root.is_none())
            .and_then(path_problem)
        {
            anyhow::bail!(
                "{}: variables `app.path` and `app.static_dir` make the static files directory \
                 of nginx's site: {problem}",
                host.name
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(value: serde_json::Value) -> Result<(), dm_core::inventory::VarsProblem> {
        dm_core::inventory::VarsProblem::deserialize::<NginxVars>(&value)?.check()
    }

    #[test]
    fn nginx_values_that_are_names_sizes_times_and_paths_pass() {
        let ok = serde_json::json!({
            "domain": "example.com www.example.com *.example.org .example.net www.example.* _",
            "tls_certificate": "/etc/ssl/certs/shop.pem",
            "tls_certificate_key": "/etc/ssl/private/shop.key",
            "static_root": "/srv/shop/current/static",
            "media_root": "/srv/shop/shared/media",
            "client_max_body_size": "10m",
            "fail_timeout": "1m30s",
        });
        assert_eq!(checked(ok), Ok(()));
        assert_eq!(checked(serde_json::json!({})), Ok(()));
        for size in ["0", "1048576", "512k", "1G"] {
            assert_eq!(size_problem(size), None, "{size}");
        }
        for time in ["10s", "500ms", "30", "1h", "2d12h"] {
            assert_eq!(time_problem(time), None, "{time}");
        }
    }

    #[test]
    fn nginx_syntax_in_a_value_is_refused_with_its_key() {
        for (key, value) in [
            ("domain", "x; include /etc/shadow"),
            ("domain", "example.com;"),
            ("domain", "~^(?<sub>.+)\\.example\\.com$"),
            ("domain", ""),
            ("domain", "a}b"),
            ("client_max_body_size", "10m; include /etc/shadow"),
            ("client_max_body_size", "10mb"),
            ("fail_timeout", "10s max_conns=1"),
            ("fail_timeout", "s"),
            ("static_root", "/srv/a;b"),
            ("media_root", "/srv/my media"),
            ("tls_certificate", "relative/cert.pem"),
            ("tls_certificate_key", "/etc/ssl/${x}.key"),
        ] {
            let problem = checked(serde_json::json!({ key: value }))
                .expect_err(&format!("{key} = {value:?} passed"));
            assert_eq!(problem.path, [key], "{key} = {value:?}: {problem:?}");
        }
    }
}
