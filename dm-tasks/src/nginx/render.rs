//! The load balancer's templates (embedded in the binary) and the settings they are rendered
//! with. Rendering happens on the controlling machine, strict about undefined variables, so a
//! template error names the template and line before any host is touched.

use std::path::PathBuf;

use dm_core::ops::{OpError, TemplateVars};
use serde::Serialize;
use serde_json::{Map, Value};

/// The load balancer's site: `templates/nginx/site.conf.j2`.
const SITE_TEMPLATE: &str = include_str!("../../templates/nginx/site.conf.j2");
/// The upstream of app nodes: `templates/nginx/upstream.conf.j2`.
const UPSTREAM_TEMPLATE: &str = include_str!("../../templates/nginx/upstream.conf.j2");
/// The page served with 503 in maintenance mode: `templates/nginx/maintenance.html.j2`.
const MAINTENANCE_TEMPLATE: &str = include_str!("../../templates/nginx/maintenance.html.j2");

/// What the site template needs (the template sees it as `site`).
#[derive(Debug, Clone, Serialize)]
pub struct SiteSettings {
    /// The site's name (the app's name): names its files.
    pub name: String,
    /// `server_name` (`_` answers any name).
    pub domain: String,
    /// The upstream block proxied to ([`UpstreamSettings::name`]).
    pub upstream: String,
    /// Whether to listen on 443 with TLS too.
    pub tls: bool,
    /// Certificate file on the host (with `tls`).
    pub tls_certificate: String,
    /// Private key file on the host (with `tls`).
    pub tls_certificate_key: String,
    /// Directory served at `/static/`, if any.
    pub static_root: Option<String>,
    /// Directory served at `/media/`, if any.
    pub media_root: Option<String>,
    /// `client_max_body_size` (`10m`).
    pub client_max_body_size: String,
    /// The file whose existence switches maintenance mode on.
    pub maintenance_flag: String,
    /// The directory holding `dm-maintenance.html`.
    pub maintenance_root: String,
}

/// One app node of the upstream.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Backend {
    /// The server's inventory name (a comment in the file).
    pub name: String,
    /// `address:port` (`[v6]:port` for IPv6 addresses).
    pub endpoint: String,
}

impl Backend {
    /// The app node `name` reached at `address` (its private address) and `port`.
    pub fn new(name: &str, address: &str, port: u16) -> Backend {
        let endpoint = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        };
        Backend {
            name: name.to_string(),
            endpoint,
        }
    }
}

/// What the upstream template needs (the template sees it as `upstream`).
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamSettings {
    /// The site it serves (a comment in the file).
    pub site: String,
    /// The upstream's name in nginx (`shop_app`).
    pub name: String,
    /// The app nodes; at least one (nginx refuses an empty upstream).
    pub backends: Vec<Backend>,
    /// Failed attempts before a node is skipped.
    pub max_fails: u32,
    /// How long a failing node is skipped, and the window for counting failures (`10s`).
    pub fail_timeout: String,
}

/// Renders `source` with the single variable `key` = `value`.
fn render(
    template: &str,
    source: &str,
    key: &str,
    value: &impl Serialize,
) -> Result<String, OpError> {
    let mut vars = Map::new();
    vars.insert(
        key.to_string(),
        serde_json::to_value(value).unwrap_or(Value::Null),
    );
    TemplateVars::new(vars, PathBuf::new()).render(template, source)
}

/// The load balancer's site configuration.
pub fn render_site(site: &SiteSettings) -> Result<String, OpError> {
    render("templates/nginx/site.conf.j2", SITE_TEMPLATE, "site", site)
}

/// The upstream block listing the app nodes.
pub fn render_upstream(upstream: &UpstreamSettings) -> Result<String, OpError> {
    if upstream.backends.is_empty() {
        return Err(OpError::invalid(
            &format!("nginx upstream {}", upstream.name),
            "no app nodes: nginx refuses an upstream without servers; add a server with role \
             appnode (or appbalancer, dbappbalancer) to the inventory",
        ));
    }
    render(
        "templates/nginx/upstream.conf.j2",
        UPSTREAM_TEMPLATE,
        "upstream",
        upstream,
    )
}

/// The maintenance page.
pub fn render_maintenance_page(site: &SiteSettings) -> Result<String, OpError> {
    render(
        "templates/nginx/maintenance.html.j2",
        MAINTENANCE_TEMPLATE,
        "site",
        site,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteSettings {
        SiteSettings {
            name: "shop".into(),
            domain: "_".into(),
            upstream: "shop_app".into(),
            tls: false,
            tls_certificate: String::new(),
            tls_certificate_key: String::new(),
            static_root: None,
            media_root: None,
            client_max_body_size: "10m".into(),
            maintenance_flag: "/var/lib/dm/maintenance/shop".into(),
            maintenance_root: "/var/www/dm-maintenance/shop".into(),
        }
    }

    #[test]
    fn upstream_lists_every_app_node_with_passive_health_checks() {
        let text = render_upstream(&UpstreamSettings {
            site: "shop".into(),
            name: "shop_app".into(),
            backends: vec![
                Backend::new("appnode1", "10.0.0.11", 8000),
                Backend::new("appnode2", "fd00::12", 9000),
            ],
            max_fails: 3,
            fail_timeout: "10s".into(),
        })
        .expect("renders");
        assert!(text.contains("upstream shop_app {\n"), "{text}");
        assert!(
            text.contains(
                "    server 10.0.0.11:8000 max_fails=3 fail_timeout=10s;  # appnode1\n    \
                 server [fd00::12]:9000 max_fails=3 fail_timeout=10s;  # appnode2\n    keepalive 16;\n}\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_empty_upstream_is_refused_with_what_to_do() {
        let err = render_upstream(&UpstreamSettings {
            site: "shop".into(),
            name: "shop_app".into(),
            backends: Vec::new(),
            max_fails: 3,
            fail_timeout: "10s".into(),
        })
        .expect_err("empty");
        assert!(err.to_string().contains("role appnode"), "{err}");
    }

    #[test]
    fn plain_site_proxies_with_headers_and_no_tls() {
        let text = render_site(&site()).expect("renders");
        assert!(text.contains("listen 80 default_server;"), "{text}");
        assert!(!text.contains("443") && !text.contains("ssl_"), "{text}");
        assert!(text.contains("proxy_pass http://shop_app;"), "{text}");
        assert!(
            text.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"),
            "{text}"
        );
        assert!(
            text.contains("proxy_next_upstream error timeout http_502 http_503 http_504;"),
            "{text}"
        );
        assert!(!text.contains("location /static/"), "{text}");
        // Blocks leave no blank-line debris behind.
        assert!(!text.contains("\n\n\n"), "{text}");
    }

    #[test]
    fn tls_static_and_media_blocks_appear_when_asked() {
        let mut settings = site();
        settings.tls = true;
        settings.tls_certificate = "/etc/nginx/dm-tls/shop.crt".into();
        settings.tls_certificate_key = "/etc/nginx/dm-tls/shop.key".into();
        settings.static_root = Some("/srv/shop/current/static".into());
        settings.media_root = Some("/srv/shop/shared/media".into());
        let text = render_site(&settings).expect("renders");
        assert!(text.contains("listen 443 ssl default_server;"), "{text}");
        assert!(
            text.contains("ssl_certificate /etc/nginx/dm-tls/shop.crt;\n    ssl_certificate_key /etc/nginx/dm-tls/shop.key;"),
            "{text}"
        );
        assert!(
            text.contains("location /static/ {")
                && text.contains("alias /srv/shop/current/static/;"),
            "{text}"
        );
        assert!(text.contains("alias /srv/shop/shared/media/;"), "{text}");
    }

    #[test]
    fn every_location_answers_503_while_the_maintenance_flag_exists() {
        let mut settings = site();
        settings.static_root = Some("/srv/shop/current/static".into());
        let text = render_site(&settings).expect("renders");
        let check = "if (-f /var/lib/dm/maintenance/shop) { return 503; }";
        // `/`, `/static/`: every location but the maintenance page itself.
        assert_eq!(text.matches(check).count(), 2, "{text}");
        assert!(
            text.contains("error_page 503 /dm-maintenance.html;"),
            "{text}"
        );
        assert!(
            text.contains(
                "location = /dm-maintenance.html {\n        root /var/www/dm-maintenance/shop;"
            ),
            "{text}"
        );
        let page = render_maintenance_page(&settings).expect("renders");
        assert!(
            page.contains("<title>shop: down for maintenance</title>"),
            "{page}"
        );
    }
}
