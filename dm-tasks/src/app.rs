//! The application's settings: [`AppConfig`], the `app` inventory variable, read once and checked
//! before any host is touched, with its processes ([`ProcessSpec`]).
//!
//! Its own module because deploying ([`crate::deploy`]), supervising ([`crate::supervisor`]), the
//! app node recipe and the database client all read it: each imports it from here.

mod process;

pub use process::{Kind, ProcessSpec};

use std::collections::BTreeMap;

use dm_core::Ctx;
use dm_core::host::Host;
use serde::Deserialize;

/// The application deployed on app nodes: the `app` table of the inventory's vars.
///
/// Every field has a default, so a host without an `app` variable gets an app called `app` in
/// `/srv/app` run by user `app`. See the [`deploy`](crate::deploy) module for what each field does.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    /// The app's name: supervisor program prefix, default user and path (`app`).
    pub name: String,
    /// A git URL (fetched by the host) or a local directory on the controller (sent as a bundle).
    pub repo: Option<String>,
    /// The branch deployed when no `--branch`, `--tag` or `--commit` is given (`main`).
    pub branch: String,
    /// The port the app server listens on, on the host's private address (8000).
    pub port: u16,
    /// The system user that owns the releases and runs the app (default: the app's name).
    pub user: Option<String>,
    /// Where releases, `shared/` and `current` live (default `/srv/<name>`).
    pub path: Option<String>,
    /// How many releases to keep (5); the live one is always kept.
    pub keep_releases: usize,
    /// Directories of `shared/` linked into every release (`media`, `log`).
    pub shared_dirs: Vec<String>,
    /// Files of `shared/` linked into every release (`.env`); they must exist on the host.
    pub shared_files: Vec<String>,
    /// Shell commands run, as the app user, in a new release before it goes live.
    pub build: Vec<String>,
    /// Environment of the build commands and of every app process.
    pub env: BTreeMap<String, serde_json::Value>,
    /// Supervisor programs of the app, by name.
    pub processes: BTreeMap<String, ProcessSpec>,
    /// Static files directory, relative to a release (served by nginx at `/static/`).
    pub static_dir: Option<String>,
    /// Extra Debian packages the app needs on app nodes.
    pub packages: Vec<String>,
    /// The path a node's app server must answer (any status below 500) before a deploy,
    /// rollback or restart puts the node back behind the load balancers (`/`).
    pub health_path: String,
}

impl Default for AppConfig {
    fn default() -> AppConfig {
        AppConfig {
            name: "app".to_string(),
            repo: None,
            branch: "main".to_string(),
            port: 8000,
            user: None,
            path: None,
            keep_releases: 5,
            shared_dirs: Vec::new(),
            shared_files: Vec::new(),
            build: Vec::new(),
            env: BTreeMap::new(),
            processes: BTreeMap::new(),
            static_dir: None,
            packages: Vec::new(),
            health_path: "/".to_string(),
        }
    }
}

inventory::submit! {
    dm_core::inventory::VarsTable {
        name: "app",
        read_by: "dm's appnode, deploy, rollback and loadbalancer tasks",
        check: |value| {
            let app: AppConfig = dm_core::inventory::VarsProblem::deserialize(value)?;
            app.check()
                .map_err(|why| dm_core::inventory::VarsProblem::at(&[], why))
        },
    }
}

impl AppConfig {
    /// The host's `app` variable (defaults when it is not set), checked.
    pub fn from_ctx(ctx: &Ctx) -> anyhow::Result<AppConfig> {
        let app: AppConfig = match ctx.vars().get("app") {
            Some(_) => ctx.var("app")?,
            None => AppConfig::default(),
        };
        app.check()
            .map_err(|e| anyhow::anyhow!("{}: variable `app`: {e}", ctx.name()))?;
        Ok(app)
    }

    /// [`AppConfig::from_ctx`] from the inventory alone, before connecting to `host`.
    pub fn of_host(host: &Host) -> anyhow::Result<AppConfig> {
        let app: AppConfig = match host.vars.get("app") {
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                anyhow::anyhow!("{}: variable `app` has the wrong type: {e}", host.name)
            })?,
            None => AppConfig::default(),
        };
        app.check()
            .map_err(|e| anyhow::anyhow!("{}: variable `app`: {e}", host.name))?;
        Ok(app)
    }

    /// Rejects values that would make paths or shell lines ambiguous, saying what to write.
    pub fn check(&self) -> Result<(), String> {
        // `.` and `..` would name a parent directory in the paths made from them (the app's
        // directory, the deploy lock of a load balancer).
        let simple = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !simple(&self.name) {
            return Err(format!(
                "name `{}` must be letters, digits, `-`, `_` or `.`",
                self.name
            ));
        }
        if !simple(self.user()) {
            return Err(format!(
                "user `{}` must be letters, digits, `-`, `_` or `.`",
                self.user()
            ));
        }
        let path = self.path();
        if !path.starts_with('/') || path == "/" || path.contains(['\n', '\0']) {
            return Err(format!(
                "path `{path}` must be an absolute directory such as /srv/{}",
                self.name
            ));
        }
        if self.keep_releases == 0 {
            return Err("keep_releases must be at least 1 (the live release)".to_string());
        }
        for (what, list) in [
            ("shared_dirs", &self.shared_dirs),
            ("shared_files", &self.shared_files),
        ] {
            for entry in list {
                let bad = entry.is_empty()
                    || entry.starts_with('/')
                    || entry.contains(['\n', '\0'])
                    || entry.split('/').any(|part| part == ".." || part == ".");
                if bad {
                    return Err(format!(
                        "{what} entry `{entry}` must be a path relative to the release, without `..`"
                    ));
                }
            }
        }
        if !self.health_path.starts_with('/') || self.health_path.contains(char::is_whitespace) {
            return Err(format!(
                "health_path `{}` must be a path starting with `/`, without spaces",
                self.health_path
            ));
        }
        for (key, _) in self.env.iter() {
            let valid = !key.is_empty()
                && !key.starts_with(|c: char| c.is_ascii_digit())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(format!(
                    "env key `{key}` is not a valid environment variable name"
                ));
            }
        }
        Ok(())
    }

    /// The system user owning the releases and running the app.
    pub fn user(&self) -> &str {
        self.user.as_deref().unwrap_or(&self.name)
    }

    /// The app's directory on the host.
    pub fn path(&self) -> String {
        self.path
            .clone()
            .map(|p| p.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("/srv/{}", self.name))
    }

    /// `<path>/releases`.
    pub fn releases_dir(&self) -> String {
        format!("{}/releases", self.path())
    }

    /// `<path>/shared`.
    pub fn shared_dir(&self) -> String {
        format!("{}/shared", self.path())
    }

    /// `<path>/current`: the symlink to the live release.
    pub fn current(&self) -> String {
        format!("{}/current", self.path())
    }

    /// `<path>/repo`: the host's bare mirror of the repository, so deploys fetch only new objects.
    pub fn mirror_dir(&self) -> String {
        format!("{}/repo", self.path())
    }

    /// `<path>/.deploy-lock`: the deploy lock directory.
    pub fn lock_dir(&self) -> String {
        format!("{}/.deploy-lock", self.path())
    }

    /// The environment of app processes and build commands, values as strings.
    pub fn env_strings(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_name() {
        let app: AppConfig =
            serde_json::from_value(serde_json::json!({"name": "shop"})).expect("parses");
        assert_eq!(app.user(), "shop");
        assert_eq!(app.path(), "/srv/shop");
        assert_eq!(app.current(), "/srv/shop/current");
        assert_eq!(app.branch, "main");
        assert_eq!(app.keep_releases, 5);
        assert!(app.check().is_ok());
    }

    #[test]
    fn unsafe_values_are_refused() {
        let mut app = AppConfig {
            shared_dirs: vec!["../etc".into()],
            ..AppConfig::default()
        };
        assert!(app.check().expect_err("..").contains("without `..`"));
        app.shared_dirs.clear();
        app.path = Some("srv/app".into());
        assert!(app.check().expect_err("relative").contains("absolute"));
        app.path = None;
        app.keep_releases = 0;
        assert!(app.check().is_err());
        app.keep_releases = 1;
        for parent in [".", ".."] {
            app.name = parent.into();
            assert!(app.check().is_err(), "name {parent}");
        }
    }
}
