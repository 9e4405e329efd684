//! [`Program`]: one supervisor program and its configuration file.

use std::collections::BTreeMap;

/// Where Debian's supervisor reads program files.
pub const CONF_DIR: &str = "/etc/supervisor/conf.d";

/// A supervisor program, rendered to `/etc/supervisor/conf.d/<name>.conf`.
///
/// ```
/// use dm_tasks::supervisor::Program;
/// let web = Program::new("shop-web", "python3 -m gunicorn app:application")
///     .user("shop")
///     .directory("/srv/shop/current")
///     .env("DJANGO_SETTINGS_MODULE", "shop.settings");
/// assert!(web.render().contains("[program:shop-web]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The program's name (`shop-web`): the file name and the `supervisorctl` name.
    pub name: String,
    /// The command line (supervisor splits it like a shell, without running one).
    pub command: String,
    /// The user it runs as (root when `None`).
    pub user: Option<String>,
    /// Its working directory.
    pub directory: Option<String>,
    /// How many copies run (`name:name_00`, `name:name_01`, …).
    pub numprocs: u32,
    /// `true`, `false` or `unexpected`.
    pub autorestart: String,
    /// Stop and kill the whole process group (children of shells and workers too).
    pub stopasgroup: bool,
    /// Seconds it may take to stop before it is killed.
    pub stopwaitsecs: u32,
    /// Seconds it must stay up to count as started.
    pub startsecs: u32,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Who manages the file: written as a comment so stale programs of an app can be found.
    pub owner: Option<String>,
}

impl Program {
    /// A program running `command`, restarted whenever it exits, one copy.
    pub fn new(name: &str, command: &str) -> Program {
        Program {
            name: name.to_string(),
            command: command.to_string(),
            user: None,
            directory: None,
            numprocs: 1,
            autorestart: "true".to_string(),
            stopasgroup: true,
            stopwaitsecs: 10,
            startsecs: 1,
            env: BTreeMap::new(),
            owner: None,
        }
    }

    /// Runs as `user`.
    pub fn user(mut self, user: &str) -> Program {
        self.user = Some(user.to_string());
        self
    }

    /// Runs in `dir`.
    pub fn directory(mut self, dir: &str) -> Program {
        self.directory = Some(dir.to_string());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Program {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Runs `n` copies.
    pub fn numprocs(mut self, n: u32) -> Program {
        self.numprocs = n;
        self
    }

    /// The program's file.
    pub fn conf_path(&self) -> String {
        format!("{CONF_DIR}/{}.conf", self.name)
    }

    /// The `supervisorctl` argument naming all of its processes (`shop-web:*`).
    pub fn group_pattern(&self) -> String {
        format!("{}:*", self.name)
    }

    /// Rejects what supervisor would misread; the message names the program.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(format!(
                "supervisor program `{}`: the name must be letters, digits, `-`, `_` or `.`",
                self.name
            ));
        }
        if self.command.trim().is_empty() {
            return Err(format!(
                "supervisor program `{}`: the command is empty",
                self.name
            ));
        }
        if self.numprocs == 0 {
            return Err(format!(
                "supervisor program `{}`: numprocs must be at least 1",
                self.name
            ));
        }
        if !["true", "false", "unexpected"].contains(&self.autorestart.as_str()) {
            return Err(format!(
                "supervisor program `{}`: autorestart must be true, false or unexpected, not `{}`",
                self.name, self.autorestart
            ));
        }
        let values = [
            Some(&self.command),
            self.user.as_ref(),
            self.directory.as_ref(),
        ];
        let env = self.env.iter().flat_map(|(k, v)| [k, v]);
        if values
            .into_iter()
            .flatten()
            .chain(env)
            .any(|v| v.contains(['\n', '\r', '\0']))
        {
            return Err(format!(
                "supervisor program `{}`: a value contains a line break",
                self.name
            ));
        }
        Ok(())
    }

    /// The configuration file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push('=');
            out.push_str(value);
            out.push('\n');
        };
        let header = match &self.owner {
            Some(owner) => format!(
                "; Written by dm for app {owner}; changes made here are overwritten.\n{}{owner}\n",
                owner_marker_prefix()
            ),
            None => "; Written by dm; changes made here are overwritten.\n".to_string(),
        };
        line(
            &format!("{header}[program:{}]\ncommand", self.name),
            &escape(&self.command),
        );
        if self.numprocs > 1 {
            line("process_name", "%(program_name)s_%(process_num)02d");
        } else {
            line("process_name", "%(program_name)s");
        }
        line("numprocs", &self.numprocs.to_string());
        if let Some(dir) = &self.directory {
            line("directory", &escape(dir));
        }
        if let Some(user) = &self.user {
            line("user", &escape(user));
        }
        line("autostart", "true");
        line("autorestart", &self.autorestart);
        line("startsecs", &self.startsecs.to_string());
        line("stopwaitsecs", &self.stopwaitsecs.to_string());
        line("stopasgroup", bool_word(self.stopasgroup));
        line("killasgroup", bool_word(self.stopasgroup));
        line("redirect_stderr", "true");
        line(
            "stdout_logfile",
            &escape(&format!("/var/log/supervisor/{}.log", self.name)),
        );
        line("stdout_logfile_maxbytes", "10MB");
        line("stdout_logfile_backups", "5");
        let mut env = self.env.clone();
        if let Some(user) = &self.user {
            // supervisor switches the uid but keeps its own HOME and USER.
            env.entry("USER".to_string())
                .or_insert_with(|| user.clone());
        }
        if !env.is_empty() {
            let pairs: Vec<String> = env
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}=\"{}\"",
                        escape(&v.replace('\\', "\\\\").replace('"', "\\\""))
                    )
                })
                .collect();
            line("environment", &pairs.join(","));
        }
        out
    }
}

/// The comment line that marks a file as belonging to an app (`; dm-app=shop`).
pub fn owner_marker_prefix() -> &'static str {
    "; dm-app="
}

fn bool_word(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// supervisor expands `%(name)s` in values: a literal `%` is written `%%`.
fn escape(value: &str) -> String {
    value.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_complete_program() {
        let mut p = Program::new(
            "shop-web",
            "python3 -m gunicorn --bind 10.0.0.5:8000 app:application",
        )
        .user("shop")
        .directory("/srv/shop/current")
        .env("GREETING", "say \"hi\" 100%");
        p.owner = Some("shop".into());
        let text = p.render();
        assert_eq!(
            text,
            "; Written by dm for app shop; changes made here are overwritten.\n\
             ; dm-app=shop\n\
             [program:shop-web]\n\
             command=python3 -m gunicorn --bind 10.0.0.5:8000 app:application\n\
             process_name=%(program_name)s\n\
             numprocs=1\n\
             directory=/srv/shop/current\n\
             user=shop\n\
             autostart=true\n\
             autorestart=true\n\
             startsecs=1\n\
             stopwaitsecs=10\n\
             stopasgroup=true\n\
             killasgroup=true\n\
             redirect_stderr=true\n\
             stdout_logfile=/var/log/supervisor/shop-web.log\n\
             stdout_logfile_maxbytes=10MB\n\
             stdout_logfile_backups=5\n\
             environment=GREETING=\"say \\\"hi\\\" 100%%\",USER=\"shop\"\n"
        );
    }

    #[test]
    fn several_copies_get_numbered_names() {
        let text = Program::new("shop-worker", "worker").numprocs(3).render();
        assert!(text.contains("process_name=%(program_name)s_%(process_num)02d\nnumprocs=3\n"));
        assert!(!text.contains("environment="));
    }

    #[test]
    fn bad_programs_are_refused() {
        assert!(Program::new("a b", "x").check().is_err());
        assert!(Program::new("a", " ").check().is_err());
        assert!(Program::new("a", "x").numprocs(0).check().is_err());
        assert!(Program::new("a", "x").env("K", "1\n2").check().is_err());
        let mut p = Program::new("a", "x");
        p.autorestart = "always".into();
        assert!(p.check().expect_err("autorestart").contains("unexpected"));
        assert!(Program::new("a", "x").check().is_ok());
    }
}
