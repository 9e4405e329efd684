//! [`ValidatedConfig`]: nginx configuration files that go live only after `nginx -t` accepted
//! them together with the rest of the configuration.

use std::path::PathBuf;
use std::sync::Arc;

use dm_core::ops::{
    Action, Change, Fact, FactOptions, FileKind, Input, OpError, Operation, Plan, Resource,
    Simulation, TemplateVars, unified_diff,
};
use dm_core::shell_quote;
use serde_json::{Map, Value};

/// Where nginx reads its configuration; every file of a [`ValidatedConfig`] lives below it.
pub const NGINX_DIR: &str = "/etc/nginx";

/// A set of nginx configuration files (under `/etc/nginx`) and files that must not exist there,
/// installed only once `nginx -t` accepts the whole configuration with them in place.
///
/// A plain [`dm_core::ops::File`] replaces the live file first and tests afterwards: a broken
/// site would then stay on disk and break the next restart. This operation instead copies
/// `/etc/nginx` to a scratch directory next to it, puts the new files there, and runs
/// `nginx -t` on that copy (in a private mount namespace where the copy is mounted over
/// `/etc/nginx`, so nginx sees exactly the future configuration under its real paths; where
/// mount namespaces are not allowed, on the copy with its `/etc/nginx/` paths rewritten). Only
/// when the test passes is each file renamed into place (atomically, one file after the other);
/// when it fails nothing is installed and the step fails with nginx's own error text.
///
/// All files are tested together, so a site and the upstream it names can change in one go.
/// Files whose content is already right are left alone: a second run changes nothing.
/// Reloading is a separate reaction ([`super::reload_reaction`]) notified with
/// [`ValidatedConfig::notify`].
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_tasks::nginx::{self, ValidatedConfig};
/// let mut step = ctx.step();
/// step.add(
///     ValidatedConfig::new()
///         .template_str("/etc/nginx/sites-enabled/shop.conf", "shop.conf", "server { listen {{ port }}; }\n")
///         .var("port", 8080)
///         .absent("/etc/nginx/sites-enabled/default")
///         .notify(nginx::RELOAD),
/// );
/// step.reaction(nginx::RELOAD, nginx::reload_reaction());
/// step.apply().await?;
/// # Ok(()) }
/// ```
pub struct ValidatedConfig {
    files: Vec<ConfigFile>,
    vars: Map<String, Value>,
    notify: Vec<String>,
}

/// One file of the set: its path and where its content comes from.
struct ConfigFile {
    path: String,
    source: Source,
    /// The content, once prepared (None for absent files).
    content: Option<Arc<[u8]>>,
}

enum Source {
    Bytes(Arc<[u8]>),
    TemplateStr { name: String, text: String },
    Template(PathBuf),
    Absent,
}

impl Default for ValidatedConfig {
    fn default() -> Self {
        ValidatedConfig::new()
    }
}

impl ValidatedConfig {
    /// An empty set.
    pub fn new() -> ValidatedConfig {
        ValidatedConfig {
            files: Vec::new(),
            vars: Map::new(),
            notify: Vec::new(),
        }
    }

    fn with(mut self, path: &str, source: Source) -> ValidatedConfig {
        self.files.push(ConfigFile {
            path: path.to_string(),
            source,
            content: None,
        });
        self
    }

    /// The file `path` with exactly these bytes.
    pub fn bytes(self, path: &str, content: impl Into<Vec<u8>>) -> ValidatedConfig {
        self.with(path, Source::Bytes(Arc::from(content.into())))
    }

    /// The file `path` rendered from minijinja template source `text`, called `name` in errors
    /// (an undefined variable names the template, line and variable). Templates see the same
    /// variables as [`dm_core::ops::File::template`] plus this operation's [`ValidatedConfig::var`]s.
    pub fn template_str(self, path: &str, name: &str, text: &str) -> ValidatedConfig {
        self.with(
            path,
            Source::TemplateStr {
                name: name.to_string(),
                text: text.to_string(),
            },
        )
    }

    /// The file `path` rendered from the local template file `template` (relative paths start at
    /// the inventory's directory).
    pub fn template(self, path: &str, template: impl Into<PathBuf>) -> ValidatedConfig {
        self.with(path, Source::Template(template.into()))
    }

    /// No file at `path` (removed, after the test passed, if there is one).
    pub fn absent(self, path: &str) -> ValidatedConfig {
        self.with(path, Source::Absent)
    }

    /// A template variable for the templates of this set (wins over the step's and the host's).
    pub fn var(mut self, name: &str, value: impl serde::Serialize) -> ValidatedConfig {
        self.vars.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Triggers the reaction `reaction` of the step when a file changes.
    pub fn notify(mut self, reaction: &str) -> ValidatedConfig {
        self.notify.push(reaction.to_string());
        self
    }

    /// The path below `/etc/nginx` of `path`, or why it cannot be one of these files.
    fn relative<'p>(&self, path: &'p str) -> Result<&'p str, OpError> {
        let relative = path
            .strip_prefix(NGINX_DIR)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|rest| !rest.is_empty());
        let Some(relative) = relative else {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "`{path}` is not below {NGINX_DIR}/; nginx -t can only vouch for files of \
                     nginx's own configuration directory: write it there (e.g. \
                     {NGINX_DIR}/conf.d/NAME.conf)"
                ),
            ));
        };
        if relative
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
            || path.contains(['\n', '\0'])
        {
            return Err(OpError::invalid(
                &self.name(),
                format!("`{path}` is not a plain path (empty, `.` or `..` parts, or a newline)"),
            ));
        }
        Ok(relative)
    }

    /// The script that stages, tests and installs the changed files; `writes` are the files
    /// with new content (their bytes follow each other on standard input), `removals` the files
    /// to delete.
    fn install_script(&self, writes: &[(&str, usize)], removals: &[&str]) -> String {
        let mut s = String::from(
            "command -v nginx >/dev/null 2>&1 || { echo 'nginx is not installed on this host: \
             install it first (dm_tasks::nginx::install)' >&2; exit 1; }\n\
             dm_work=$(mktemp -d /etc/.nginx-dm-candidate.XXXXXX)\n\
             trap 'rm -rf \"$dm_work\"' EXIT\n\
             mkdir \"$dm_work/new\" \"$dm_work/tree\"\n\
             cp -a /etc/nginx/. \"$dm_work/tree/\"\n",
        );
        for (index, (relative, len)) in writes.iter().enumerate() {
            let staged = shell_quote(&format!("tree/{relative}"));
            s.push_str(&format!(
                "head -c {len} > \"$dm_work/new/{index}\"\n\
                 [ \"$(wc -c < \"$dm_work/new/{index}\")\" -eq {len} ] || {{ echo 'the content of \
                 {NGINX_DIR}/{relative} arrived incomplete; nothing was installed' >&2; exit 1; }}\n\
                 rm -f \"$dm_work/\"{staged}\n\
                 mkdir -p \"$(dirname \"$dm_work/\"{staged})\"\n\
                 cp \"$dm_work/new/{index}\" \"$dm_work/\"{staged}\n"
            ));
        }
        for relative in removals {
            s.push_str(&format!(
                "rm -f \"$dm_work/\"{}\n",
                shell_quote(&format!("tree/{relative}"))
            ));
        }
        // Test the copy. A private mount namespace shows nginx the copy at /etc/nginx, so the
        // test is exact; without one (a container that may not mount), test the copy with its
        // paths rewritten and translate the paths in nginx's messages back.
        s.push_str(
            "if unshare --mount --propagation private true 2>/dev/null; then\n\
             \x20 dm_out=$(unshare --mount --propagation private sh -c 'mount --bind \"$1\" /etc/nginx && nginx -t' sh \"$dm_work/tree\" 2>&1) && dm_ok=1 || dm_ok=\n\
             else\n\
             \x20 grep -rlF /etc/nginx/ \"$dm_work/tree\" | while IFS= read -r dm_f; do sed -i \"s#/etc/nginx/#$dm_work/tree/#g\" \"$dm_f\"; done\n\
             \x20 dm_out=$(nginx -t -c \"$dm_work/tree/nginx.conf\" 2>&1) && dm_ok=1 || dm_ok=\n\
             \x20 dm_out=$(printf '%s\\n' \"$dm_out\" | sed \"s#$dm_work/tree/#/etc/nginx/#g\")\n\
             fi\n\
             if [ -z \"$dm_ok\" ]; then\n\
             \x20 printf '%s\\n' \"nginx -t refused the new configuration, so none of it was installed and the running configuration is unchanged:\" \"$dm_out\" >&2\n\
             \x20 exit 1\n\
             fi\n",
        );
        for (index, (relative, _)) in writes.iter().enumerate() {
            let live = shell_quote(&format!("{NGINX_DIR}/{relative}"));
            let temporary = shell_quote(&format!("{NGINX_DIR}/{relative}.dm-new"));
            s.push_str(&format!(
                "mkdir -p \"$(dirname {live})\"\n\
                 cp \"$dm_work/new/{index}\" {temporary}\n\
                 chmod 644 {temporary}; chown root:root {temporary}\n\
                 mv -f {temporary} {live}\n"
            ));
        }
        for relative in removals {
            s.push_str(&format!(
                "rm -f {}\n",
                shell_quote(&format!("{NGINX_DIR}/{relative}"))
            ));
        }
        s
    }
}

impl Operation for ValidatedConfig {
    fn name(&self) -> String {
        let files: Vec<String> = self
            .files
            .iter()
            .map(|f| match f.source {
                Source::Absent => format!("no {}", f.path),
                _ => f.path.clone(),
            })
            .collect();
        format!("nginx config {}", files.join(", "))
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        if self.files.is_empty() {
            return Err(OpError::invalid(
                &self.name(),
                "no files: add some with .bytes(..), .template_str(..), .template(..) or .absent(..)",
            ));
        }
        for file in &self.files {
            self.relative(&file.path)?;
        }
        for (i, file) in self.files.iter().enumerate() {
            if self.files[..i].iter().any(|f| f.path == file.path) {
                return Err(OpError::invalid(
                    &self.name(),
                    format!("{} is given twice; give each file once", file.path),
                ));
            }
        }
        let vars = vars.with(&self.vars);
        let name = self.name();
        for file in &mut self.files {
            file.content = match &file.source {
                Source::Absent => None,
                Source::Bytes(bytes) => Some(bytes.clone()),
                Source::TemplateStr { name, text } => {
                    Some(Arc::from(vars.render(name, text)?.into_bytes()))
                }
                Source::Template(path) => {
                    let full = vars.resolve(path);
                    let text =
                        std::fs::read_to_string(&full).map_err(|source| OpError::LocalFile {
                            host: String::new(),
                            op: name.clone(),
                            path: full.clone(),
                            source,
                        })?;
                    let rendered = vars.render(&path.display().to_string(), &text)?;
                    Some(Arc::from(rendered.into_bytes()))
                }
            };
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        // Configuration files are small: compare their bytes (which also shows what changed).
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let p = shell_quote(&f.path);
                format!("dm_stat f{i} {p}; if [ -f {p} ] && [ ! -L {p} ]; then dm_b64 c{i} {p}; fi")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn resources(&self) -> Vec<Resource> {
        // Installing nginx in the same step creates files here (the default site): plan on the
        // facts gathered after it.
        let mut resources = vec![Resource::Package("nginx".to_string())];
        resources.extend(self.files.iter().map(|f| Resource::Path(f.path.clone())));
        resources
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        let mut writes: Vec<(&str, usize)> = Vec::new();
        let mut removals: Vec<&str> = Vec::new();
        let mut input: Vec<u8> = Vec::new();
        let mut described: Vec<String> = Vec::new();
        // The fact holds every file's bytes, so `--diff` shows each change like `ops::File` does.
        let mut diff = String::new();
        for (i, file) in self.files.iter().enumerate() {
            let stat = fact.stat(&format!("f{i}"));
            let relative = self.relative(&file.path)?;
            if stat.kind == FileKind::Dir {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is a directory on the host; remove it or choose another path",
                        file.path
                    ),
                ));
            }
            match &file.content {
                None => {
                    if stat.kind != FileKind::Absent {
                        removals.push(relative);
                        described.push(format!("remove {}", file.path));
                        diff.push_str(&match fact.bytes(&format!("c{i}")) {
                            Some(old) => unified_diff(&file.path, Some(old), None),
                            None => format!("{} removed (not a regular file)\n", file.path),
                        });
                        sim.forget_content(&file.path);
                    }
                }
                Some(content) => {
                    let current = fact.bytes(&format!("c{i}"));
                    let same = stat.kind == FileKind::File && current == Some(&content[..]);
                    if !same {
                        let old = fact.bytes(&format!("c{i}"));
                        diff.push_str(&unified_diff(&file.path, old, Some(&content[..])));
                        writes.push((relative, content.len()));
                        input.extend_from_slice(content);
                        described.push(match stat.kind {
                            FileKind::Absent => {
                                format!("create {} ({} bytes)", file.path, content.len())
                            }
                            _ => format!(
                                "update {} ({} → {} bytes)",
                                file.path,
                                stat.size.unwrap_or(0),
                                content.len()
                            ),
                        });
                        sim.set_content(&file.path, content.to_vec());
                    }
                }
            }
        }
        if writes.is_empty() && removals.is_empty() {
            return Ok(Plan::Ok);
        }
        let script = self.install_script(&writes, &removals);
        let action = if input.is_empty() {
            Action::shell(script)
        } else {
            Action::with_input(script, Input::Bytes(Arc::from(input)))
        };
        Ok(Plan::Change(
            Change::new(format!("nginx -t, then {}", described.join(", ")), action)
                .with_diff(Some(diff)),
        ))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(mut config: ValidatedConfig) -> ValidatedConfig {
        config.prepare(&TemplateVars::default()).expect("prepares");
        config
    }

    #[test]
    fn unchanged_files_plan_nothing() {
        let config = prepared(
            ValidatedConfig::new()
                .bytes("/etc/nginx/conf.d/a.conf", "a;\n")
                .absent("/etc/nginx/sites-enabled/default"),
        );
        // "a;\n" in base64 is "YTsK".
        let fact = Fact::parse("f0.type=file\nc0:b64=YTsK\nf1.type=absent\n");
        assert!(matches!(
            config.plan(&fact, &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
    }

    #[test]
    fn changed_and_removed_files_are_tested_before_they_go_live() {
        let config = prepared(
            ValidatedConfig::new()
                .template_str(
                    "/etc/nginx/conf.d/a.conf",
                    "a.conf.j2",
                    "port {{ port }};\n",
                )
                .var("port", 81)
                .absent("/etc/nginx/sites-enabled/default"),
        );
        let fact = Fact::parse("f0.type=file\nf0.size=3\nc0:b64=YTsK\nf1.type=link\n");
        let Ok(Plan::Change(change)) = config.plan(&fact, &mut Simulation::new()) else {
            panic!("expected a change")
        };
        assert_eq!(
            change.description,
            "nginx -t, then update /etc/nginx/conf.d/a.conf (3 → 9 bytes), remove /etc/nginx/sites-enabled/default"
        );
        let script = &change.action.script;
        let test = script.find("nginx -t").expect("tests");
        let install = script.find("mv -f").expect("installs");
        let removal = script
            .find("\nrm -f /etc/nginx/sites-enabled/default")
            .expect("removes");
        assert!(test < install && test < removal, "{script}");
        assert_eq!(change.action.input.map(|i| i.len()), Some(9));
    }

    #[test]
    fn each_changed_file_has_a_unified_diff() {
        let config = prepared(
            ValidatedConfig::new()
                .bytes("/etc/nginx/conf.d/a.conf", "a;\nport 81;\n")
                .bytes("/etc/nginx/conf.d/new.conf", "new;\n")
                .absent("/etc/nginx/sites-enabled/default"),
        );
        // c0 = "a;\nport 80;\n", c2 = "old;\n"
        let fact = Fact::parse(
            "f0.type=file\nf0.size=12\nc0:b64=YTsKcG9ydCA4MDsK\nf1.type=absent\n\
             f2.type=file\nc2:b64=b2xkOwo=\n",
        );
        let Ok(Plan::Change(change)) = config.plan(&fact, &mut Simulation::new()) else {
            panic!("expected a change")
        };
        let diff = change.diff.expect("a diff");
        assert!(
            diff.contains(
                "--- a/etc/nginx/conf.d/a.conf\n+++ b/etc/nginx/conf.d/a.conf\n@@ -1,2 +1,2 @@\n a;\n-port 80;\n+port 81;\n"
            ),
            "{diff}"
        );
        assert!(
            diff.contains("--- /dev/null\n+++ b/etc/nginx/conf.d/new.conf\n@@ -0,0 +1 @@\n+new;\n"),
            "{diff}"
        );
        assert!(
            diff.contains(
                "--- a/etc/nginx/sites-enabled/default\n+++ /dev/null\n@@ -1 +0,0 @@\n-old;\n"
            ),
            "{diff}"
        );
    }

    #[test]
    fn files_outside_etc_nginx_and_undefined_variables_are_refused_before_the_host_is_touched() {
        let mut outside = ValidatedConfig::new().bytes("/etc/other.conf", "x");
        let err = outside
            .prepare(&TemplateVars::default())
            .expect_err("outside");
        assert!(
            err.to_string().contains("is not below /etc/nginx/"),
            "{err}"
        );
        let mut undefined = ValidatedConfig::new().template_str(
            "/etc/nginx/conf.d/a.conf",
            "a.conf.j2",
            "\n{{ nope }}\n",
        );
        let err = undefined
            .prepare(&TemplateVars::default())
            .expect_err("undefined");
        let text = err.to_string();
        assert!(
            text.contains("a.conf.j2:2") && text.contains("nope"),
            "{text}"
        );
    }

    /// The generated script parses as POSIX shell (its behaviour is tested on real machines in
    /// tests/tests/std_nginx.rs).
    #[test]
    fn install_script_is_valid_shell() {
        let config = prepared(ValidatedConfig::new().bytes("/etc/nginx/conf.d/a.conf", "a;\n"));
        let script = config.install_script(&[("conf.d/a.conf", 3)], &["sites-enabled/default"]);
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .status()
            .expect("sh runs");
        assert!(status.success(), "{script}");
    }
}
