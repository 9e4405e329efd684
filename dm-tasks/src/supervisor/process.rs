//! How an app process described in `app.processes` ([`ProcessSpec`]) becomes the supervisor
//! [`Program`] that runs it.

use dm_core::shell_quote;

use super::program::Program;
use crate::app::{AppConfig, Kind, ProcessSpec};

/// The supervisor program name of process `process` of `app`: `<app>-<process>`.
pub fn program_name(app: &str, process: &str) -> String {
    format!("{app}-{process}")
}

impl ProcessSpec {
    /// The program for process `name` of `app`; `bind` is `address:port` for `wsgi`.
    pub fn to_program(&self, app: &AppConfig, name: &str, bind: &str) -> Result<Program, String> {
        let full = program_name(&app.name, name);
        let need = |field: &Option<String>, what: &str| {
            field.clone().ok_or_else(|| {
                format!(
                    "app.processes.{name}: a {:?} process needs `{what}`",
                    self.kind
                )
                .to_lowercase()
            })
        };
        let directory = self.directory.clone().unwrap_or_else(|| app.current());
        let command = match self.kind {
            Kind::Command | Kind::Worker => need(&self.command, "command")?,
            Kind::Wsgi => match &self.command {
                Some(c) => c.clone(),
                None => {
                    let module = need(&self.module, "module")?;
                    let python = self.python.clone().unwrap_or_else(|| "python3".into());
                    let python = if python.contains('/') && !python.starts_with('/') {
                        format!("{directory}/{python}")
                    } else {
                        python
                    };
                    format!(
                        "{python} -m gunicorn --bind {bind} --workers {} --access-logfile - {module}",
                        self.workers.unwrap_or(2)
                    )
                }
            },
            Kind::Periodic => {
                let command = need(&self.command, "command")?;
                let interval = self.interval.filter(|i| *i > 0).ok_or_else(|| {
                    format!("app.processes.{name}: a periodic process needs `interval` (seconds, at least 1)")
                })?;
                let script = format!(
                    "while :; do {command}; status=$?; [ $status -eq 0 ] || echo \"{full}: exit status $status\" >&2; sleep {interval}; done"
                );
                format!("sh -c {}", shell_quote(&script))
            }
        };
        let mut env = app.env_strings();
        env.extend(self.env.clone());
        let mut program = Program::new(&full, &command)
            .user(self.user.as_deref().unwrap_or(app.user()))
            .directory(&directory)
            .numprocs(self.numprocs.unwrap_or(1));
        program.env = env;
        program.owner = Some(app.name.clone());
        if let Some(a) = &self.autorestart {
            program.autorestart = a.clone();
        }
        program.stopasgroup = self.stopasgroup.unwrap_or(true);
        program.stopwaitsecs = self.stopwaitsecs.unwrap_or(match self.kind {
            Kind::Worker => 60,
            _ => 10,
        });
        program.check()?;
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> ProcessSpec {
        serde_json::from_value(json).expect("a process spec")
    }

    fn app() -> AppConfig {
        serde_json::from_value(serde_json::json!({"name": "shop", "env": {"MODE": "prod", "N": 2}}))
            .expect("app")
    }

    #[test]
    fn wsgi_runs_gunicorn_on_the_bind_address() {
        let p = spec(serde_json::json!({"kind": "wsgi", "module": "app:application", "python": "venv/bin/python"}))
            .to_program(&app(), "web", "10.0.0.5:8000")
            .expect("program");
        assert_eq!(p.name, "shop-web");
        assert_eq!(
            p.command,
            "/srv/shop/current/venv/bin/python -m gunicorn --bind 10.0.0.5:8000 --workers 2 --access-logfile - app:application"
        );
        assert_eq!(p.user.as_deref(), Some("shop"));
        assert_eq!(p.directory.as_deref(), Some("/srv/shop/current"));
        assert_eq!(p.env.get("N").map(String::as_str), Some("2"));
    }

    #[test]
    fn periodic_jobs_loop_with_a_pause() {
        let p = spec(
            serde_json::json!({"kind": "periodic", "command": "date >> /tmp/t", "interval": 30}),
        )
        .to_program(&app(), "tick", "-")
        .expect("program");
        assert_eq!(
            p.command,
            "sh -c 'while :; do date >> /tmp/t; status=$?; [ $status -eq 0 ] || echo \"shop-tick: exit status $status\" >&2; sleep 30; done'"
        );
        let err = spec(serde_json::json!({"kind": "periodic", "command": "x"}))
            .to_program(&app(), "tick", "-")
            .expect_err("interval");
        assert!(err.contains("interval"), "{err}");
    }

    #[test]
    fn workers_get_time_to_finish_and_missing_fields_are_named() {
        let p = spec(serde_json::json!({"kind": "worker", "command": "python3 worker.py", "numprocs": 2, "env": {"MODE": "worker"}}))
            .to_program(&app(), "jobs", "-")
            .expect("program");
        assert_eq!((p.stopwaitsecs, p.numprocs), (60, 2));
        assert_eq!(p.env.get("MODE").map(String::as_str), Some("worker"));
        let err = spec(serde_json::json!({"kind": "wsgi"}))
            .to_program(&app(), "web", "-")
            .expect_err("module");
        assert!(err.contains("`module`"), "{err}");
        assert!(serde_json::from_value::<ProcessSpec>(serde_json::json!({"comand": "x"})).is_err());
    }
}
