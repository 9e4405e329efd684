//! [`ProcessSpec`]: the short description of an app process in `app.processes`. Supervisor turns
//! it into a program ([`ProcessSpec::to_program`], in [`crate::supervisor`]).

use std::collections::BTreeMap;

use serde::Deserialize;

/// What kind of process an entry of `app.processes` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A custom command (`command` required).
    #[default]
    Command,
    /// A WSGI app served by gunicorn on the host's private address and `app.port`
    /// (`module` required, e.g. `app:application`; `workers`, `python` optional).
    Wsgi,
    /// A background worker (`command` required); given a minute to finish its job when stopped.
    Worker,
    /// A job run every `interval` seconds (`command` and `interval` required), as a supervisor
    /// program looping `command; sleep interval`: it runs as the app with the app's
    /// environment, logs with the other programs and restarts on deploy. For wall-clock
    /// schedules use a cron entry (`dm_core::ops::Cron`) instead.
    Periodic,
}

/// One entry of `app.processes`, e.g. in dm.toml:
///
/// ```toml
/// [vars.app.processes.web]
/// kind = "wsgi"
/// module = "app:application"
/// workers = 3
///
/// [vars.app.processes.cleanup]
/// kind = "periodic"
/// command = "venv/bin/python manage.py clearsessions"
/// interval = 3600
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessSpec {
    /// The kind (`command` when not given).
    pub kind: Kind,
    /// The command line; for `wsgi`, replaces the gunicorn command.
    pub command: Option<String>,
    /// `wsgi`: the WSGI callable, `module:name`.
    pub module: Option<String>,
    /// `wsgi`: gunicorn worker processes (2).
    pub workers: Option<u32>,
    /// `wsgi`: the Python that runs gunicorn (`python3`; a relative path such as
    /// `venv/bin/python` is relative to the process directory).
    pub python: Option<String>,
    /// `periodic`: seconds between the end of a run and the start of the next.
    pub interval: Option<u64>,
    /// The user it runs as (the app user).
    pub user: Option<String>,
    /// Its directory (`<app.path>/current`).
    pub directory: Option<String>,
    /// How many copies (1).
    pub numprocs: Option<u32>,
    /// `true`, `false` or `unexpected` (`true`).
    pub autorestart: Option<String>,
    /// Stop the whole process group (`true`).
    pub stopasgroup: Option<bool>,
    /// Seconds it may take to stop (10; workers 60).
    pub stopwaitsecs: Option<u32>,
    /// Environment on top of `app.env`.
    pub env: BTreeMap<String, String>,
}
