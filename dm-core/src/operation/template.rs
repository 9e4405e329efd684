//! Templates: minijinja, strict about undefined variables.
//!
//! Variables, later ones winning: `env` (the controlling machine's environment variables, e.g.
//! `{{ env.USER }}`), `host` (`name`, `address`, `user`, `roles`), `environment` (the inventory
//! environment's name), the host's inventory vars, the component's parameters, the step's
//! `.var()`s, and the operation's own `.var()`s.
//!
//! Block tags (`{% if %}`, `{% for %}`) take their line ending with them (`trim_blocks`, as in
//! Ansible), and a template's final newline is kept.
//!
//! A template is rendered on the controlling machine before any host is touched, so an undefined
//! variable stops the step with the file, line and variable named and nothing written.

use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use serde_json::Map;

use super::error::OpError;

/// The variables templates see, and the directory relative template paths start from.
#[derive(Debug, Clone, Default)]
pub struct TemplateVars {
    vars: Map<String, serde_json::Value>,
    base_dir: PathBuf,
}

impl TemplateVars {
    /// Variables `vars`; relative template paths are read from `base_dir`.
    pub fn new(vars: Map<String, serde_json::Value>, base_dir: PathBuf) -> TemplateVars {
        TemplateVars { vars, base_dir }
    }

    /// A copy with `extra` added (replacing variables of the same name).
    pub fn with(&self, extra: &Map<String, serde_json::Value>) -> TemplateVars {
        let mut vars = self.vars.clone();
        for (k, v) in extra {
            vars.insert(k.clone(), v.clone());
        }
        TemplateVars {
            vars,
            base_dir: self.base_dir.clone(),
        }
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.vars.get(name)
    }

    /// Every variable.
    pub fn all(&self) -> &Map<String, serde_json::Value> {
        &self.vars
    }

    /// Where a template path given by a task points: relative paths start at the directory of
    /// the inventory file (or the working directory without one).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// Renders template source `source`, named `name` in errors, with these variables.
    pub fn render(&self, name: &str, source: &str) -> Result<String, OpError> {
        render(name, source, &self.vars)
    }
}

/// Renders `source` with `vars`; an undefined variable is an error naming file, line, variable.
pub(crate) fn render(
    name: &str,
    source: &str,
    vars: &Map<String, serde_json::Value>,
) -> Result<String, OpError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let to_error = |e: minijinja::Error| template_error(name, source, &e);
    // Config files end in a newline: keep it (minijinja drops one by default). Block tags take
    // their own line ending with them, as in Ansible, so `{% if %}` lines leave no blank lines.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .build()
        .map_err(to_error)?;
    env.set_syntax(syntax);
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(to_error)?;
    let template = env.get_template(name).map_err(to_error)?;
    let ctx = Value::from(minijinja::value::Serde(vars));
    template.render(ctx).map_err(to_error)
}

fn template_error(name: &str, source: &str, e: &minijinja::Error) -> OpError {
    let file = e.name().unwrap_or(name).to_string();
    if e.kind() == ErrorKind::UndefinedError {
        let variable = e
            .detail()
            .and_then(|d| d.strip_prefix('`'))
            .and_then(|d| d.split_once('`'))
            .map(|(v, _)| v.to_string())
            .or_else(|| e.range().and_then(|r| source.get(r)).map(str::to_string))
            .unwrap_or_else(|| "?".to_string());
        return OpError::TemplateUndefined {
            host: String::new(),
            file,
            line: e.line().unwrap_or(0),
            variable,
        };
    }
    OpError::Template {
        host: String::new(),
        file,
        line: e.line(),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(json: serde_json::Value) -> Map<String, serde_json::Value> {
        match json {
            serde_json::Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn renders_nested_vars_and_keeps_the_final_newline() {
        let out = render(
            "site.conf.j2",
            "listen {{ port }};\nserver_name {{ app.name }};\n",
            &vars(serde_json::json!({"port": 80, "app": {"name": "shop"}})),
        )
        .expect("renders");
        assert_eq!(out, "listen 80;\nserver_name shop;\n");
    }

    #[test]
    fn undefined_variable_names_file_line_and_variable() {
        let err = render(
            "templates/site.conf.j2",
            "a\nlisten {{ port }};\n{{ missing_var }}\n",
            &vars(serde_json::json!({"port": 80})),
        )
        .expect_err("undefined");
        match &err {
            OpError::TemplateUndefined {
                file,
                line,
                variable,
                ..
            } => {
                assert_eq!(file, "templates/site.conf.j2");
                assert_eq!(*line, 3);
                assert_eq!(variable, "missing_var");
            }
            other => panic!("wrong error: {other:?}"),
        }
        let text = err.on_host("app1").to_string();
        assert!(
            text.starts_with(
                "app1: template templates/site.conf.j2:3: undefined variable `missing_var`"
            ),
            "{text}"
        );
    }

    #[test]
    fn undefined_attribute_and_condition_are_errors_too() {
        let err = render("t", "{{ app.port }}", &vars(serde_json::json!({"app": {}})))
            .expect_err("undefined attribute");
        assert!(
            matches!(err, OpError::TemplateUndefined { ref variable, .. } if variable == "app.port"),
            "{err:?}"
        );
        let err =
            render("t", "{% if verbose_logs %}x{% endif %}", &Map::new()).expect_err("undefined");
        assert!(
            matches!(err, OpError::TemplateUndefined { ref variable, .. } if variable == "verbose_logs"),
            "{err:?}"
        );
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = render("t.j2", "ok\n{% if %}\n", &Map::new()).expect_err("syntax");
        assert!(
            matches!(err, OpError::Template { line: Some(2), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn later_vars_win() {
        let base = TemplateVars::new(
            vars(serde_json::json!({"a": 1, "b": 1})),
            PathBuf::from("/x"),
        );
        let merged = base.with(&vars(serde_json::json!({"b": 2})));
        assert_eq!(merged.render("t", "{{ a }}{{ b }}").expect("renders"), "12");
        assert_eq!(merged.resolve(Path::new("t.j2")), PathBuf::from("/x/t.j2"));
    }
}
