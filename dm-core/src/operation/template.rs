//! Templates: minijinja, strict about undefined variables.
//!
//! Variables, later ones winning: `env` (the controlling machine's environment variables, e.g.
//! `{{ env.USER }}`), `host` (`name`, `address`, `user`, `roles`), `environment` (the inventory
//! environment's name), the host's inventory vars, the component's parameters, the step's
//! `.var()`s, and the operation's own `.var()`s.
//!
//! Block tags (`{% if %}`, `{% for %}`) take their line ending with them (`trim_blocks`, as in
//! Ansible), and the output ends with as many newlines as the template does (as Ansible's
//! templating ensures, also when a block tag ends the template). [`RenderOptions`] changes
//! either, adds `lstrip_blocks`, and chooses the newline sequence.
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

    /// [`TemplateVars::render`] with whitespace and newline options.
    pub fn render_with(
        &self,
        name: &str,
        source: &str,
        options: &RenderOptions,
    ) -> Result<String, OpError> {
        render_with(name, source, &self.vars, options)
    }
}

/// How a template's whitespace and newlines are rendered (the options of Ansible's `template`).
///
/// # Coming from Ansible / pyinfra
/// Templates are what Ansible's `template` module and pyinfra's `files.template` render, on the
/// controlling machine as both do: Jinja syntax (minijinja, a Rust implementation of it), with
/// `trim_blocks` (on by default, as Ansible), `lstrip_blocks`, `newline_sequence` and Jinja's
/// `keep_trailing_newline` as the fields here (the methods of those names on
/// [`File`](super::File)); `owner`/`group`/`mode`/`backup` are [`File`](super::File)'s.
/// Variables: the host's inventory vars (Ansible's host and group vars), `host.*` (its
/// inventory facts, like `inventory_hostname`), `env.*` (the controller's environment, Ansible's
/// `lookup('env', ..)`), the component's parameters and the `.var()`s (pyinfra's keyword
/// arguments). Differences: an undefined variable is always an error naming the file, line and
/// variable, before anything is written, as Ansible's default and with no setting to relax it:
/// a config with an empty value in it is worse than no deployment. Ansible's own
/// filters and lookups (`to_nice_yaml`, `password_hash`, `lookup('file', ..)`), `ansible_managed`
/// and gathered facts (`ansible_facts`) are not there, nor Python's methods on values
/// (`m.items()`, `s.split(",")` are errors: write `m|items`, or compute the value in the task,
/// in Rust, and pass it with `.var()`). `variable_start_string` and the other
/// delimiter options, `output_encoding` (always UTF-8) and `validate` (use a reaction that
/// checks and reloads) are not offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// A block tag takes the newline after it (default: yes, as Ansible).
    pub trim_blocks: bool,
    /// Spaces and tabs before a block tag at the start of a line are dropped (default: no).
    pub lstrip_blocks: bool,
    /// The output ends with as many newlines as the template (default: yes, as Ansible). Off,
    /// one final newline of the template is dropped, as plain Jinja does.
    pub keep_trailing_newline: bool,
    /// The line ending of the output: `\n` (default), `\r\n` or `\r`. Every line ending of the
    /// output is written this way, including those inside variables' values.
    pub newline_sequence: String,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            trim_blocks: true,
            lstrip_blocks: false,
            keep_trailing_newline: true,
            newline_sequence: "\n".to_string(),
        }
    }
}

/// Renders `source` with `vars`; an undefined variable is an error naming file, line, variable.
pub(crate) fn render(
    name: &str,
    source: &str,
    vars: &Map<String, serde_json::Value>,
) -> Result<String, OpError> {
    render_with(name, source, vars, &RenderOptions::default())
}

/// [`render`] with whitespace and newline options.
pub(crate) fn render_with(
    name: &str,
    source: &str,
    vars: &Map<String, serde_json::Value>,
    options: &RenderOptions,
) -> Result<String, OpError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let to_error = |e: minijinja::Error| template_error(name, source, &e);
    if !["\n", "\r\n", "\r"].contains(&options.newline_sequence.as_str()) {
        return Err(OpError::Template {
            host: String::new(),
            file: name.to_string(),
            line: None,
            message: format!(
                "newline sequence {:?} is not a line ending; use \"\\n\", \"\\r\\n\" or \"\\r\"",
                options.newline_sequence
            ),
        });
    }
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(options.trim_blocks)
        .lstrip_blocks(options.lstrip_blocks)
        .build()
        .map_err(to_error)?;
    env.set_syntax(syntax);
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(to_error)?;
    let template = env.get_template(name).map_err(to_error)?;
    let ctx = Value::from(minijinja::value::Serde(vars));
    let mut out = template.render(ctx).map_err(to_error)?;
    // Config files end in a newline: the output ends with as many as the source, even when
    // `trim_blocks` took the last one with a closing tag (Ansible's templating does the same).
    let trailing = |t: &str| t.len() - t.trim_end_matches('\n').len();
    let wanted = if options.keep_trailing_newline {
        trailing(source)
    } else {
        trailing(source).saturating_sub(1)
    };
    let have = trailing(&out);
    if have < wanted {
        out.push_str(&"\n".repeat(wanted - have));
    } else if !options.keep_trailing_newline && have > wanted && source.ends_with('\n') {
        out.pop();
    }
    if options.newline_sequence != "\n" {
        out = out
            .replace("\r\n", "\n")
            .replace('\n', &options.newline_sequence);
    }
    Ok(out)
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

    #[test]
    fn python_methods_are_errors_and_the_items_filter_works() {
        let mut vars = Map::new();
        vars.insert("m".to_string(), serde_json::json!({"a": 1}));
        let out = render(
            "t",
            "{% for k, v in m|items %}{{ k }}={{ v }}{% endfor %}",
            &vars,
        );
        assert_eq!(out.expect("|items renders"), "a=1");
        assert!(render("t", "{% for k, v in m.items() %}{% endfor %}", &vars).is_err());
        assert!(render("t", "{{ 'a,b'.split(',') }}", &vars).is_err());
    }

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
    fn a_closing_tag_at_the_end_keeps_the_final_newline_as_in_ansible() {
        let source = "a\nb = {% if x %}1{% else %}0{% endif %}\n";
        let x = vars(serde_json::json!({"x": true}));
        assert_eq!(render("t", source, &x).expect("renders"), "a\nb = 1\n");
        let plain = RenderOptions {
            keep_trailing_newline: false,
            ..RenderOptions::default()
        };
        assert_eq!(render_with("t", "a\n", &x, &plain).expect("renders"), "a");
    }

    #[test]
    fn whitespace_and_newline_options() {
        let source = "[x]\n  {% if x %}\nk = 1\n  {% endif %}\n";
        let x = vars(serde_json::json!({"x": true}));
        assert_eq!(
            render("t", source, &x).expect("renders"),
            "[x]\n  k = 1\n  \n"
        );
        let lstrip = RenderOptions {
            lstrip_blocks: true,
            ..RenderOptions::default()
        };
        assert_eq!(
            render_with("t", source, &x, &lstrip).expect("renders"),
            "[x]\nk = 1\n"
        );
        let untrimmed = RenderOptions {
            trim_blocks: false,
            lstrip_blocks: true,
            ..RenderOptions::default()
        };
        assert_eq!(
            render_with("t", source, &x, &untrimmed).expect("renders"),
            "[x]\n\nk = 1\n\n"
        );
        let crlf = RenderOptions {
            newline_sequence: "\r\n".into(),
            lstrip_blocks: true,
            ..RenderOptions::default()
        };
        assert_eq!(
            render_with("t", source, &x, &crlf).expect("renders"),
            "[x]\r\nk = 1\r\n"
        );
        let bad = RenderOptions {
            newline_sequence: "\t".into(),
            ..RenderOptions::default()
        };
        assert!(render_with("t", source, &x, &bad).is_err());
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
