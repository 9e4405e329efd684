//! The secrets of a run: the active environment's secrets, decrypted once when the run starts,
//! registered for redaction, and handed to tasks (`ctx.secret`) and vars (`secret.<key>`).
//!
//! Failing to decrypt does not stop a run: tasks that need no secret still run, and the error
//! (no key, wrong key, damaged file) is reported by the first task that asks for a secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::document::SecretDoc;

/// The secrets available to a run. Cheap to clone.
#[derive(Clone, Default)]
pub struct Secrets {
    state: Arc<State>,
}

#[derive(Default)]
enum State {
    /// No environment is active (or no inventory file was read).
    #[default]
    NoEnvironment,
    /// The environment has no secrets file.
    NoFile { environment: String, path: PathBuf },
    /// Decrypted.
    Loaded {
        environment: String,
        path: PathBuf,
        doc: SecretDoc,
    },
    /// The file exists but could not be decrypted; the message says why and what to do.
    Failed { message: String },
}

impl Secrets {
    /// No secrets: no environment is active.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// Secrets from an already decrypted document (registered for redaction here).
    pub fn loaded(environment: &str, path: &Path, doc: SecretDoc) -> Secrets {
        for value in doc.values() {
            register(value);
        }
        Secrets::wrap(State::Loaded {
            environment: environment.to_string(),
            path: path.to_path_buf(),
            doc,
        })
    }

    /// The environment has no secrets file (yet): asking for a secret says how to create it.
    pub(crate) fn no_file(environment: &str, path: &Path) -> Secrets {
        Secrets::wrap(State::NoFile {
            environment: environment.to_string(),
            path: path.to_path_buf(),
        })
    }

    /// The file could not be read or decrypted: asking for a secret says why (`message`).
    pub(crate) fn failed(message: String) -> Secrets {
        Secrets::wrap(State::Failed { message })
    }

    fn wrap(state: State) -> Secrets {
        Secrets {
            state: Arc::new(state),
        }
    }

    /// The value of `key` (dotted for tables: `tls.key`), or a message saying why there is none
    /// and what to do.
    pub fn get(&self, key: &str) -> Result<String, String> {
        match &*self.state {
            State::NoEnvironment => Err(format!(
                "secret `{key}` is asked for, but no environment is active: pass -E ENV, or set default_environment in dm.toml (secrets live in secrets/ENV.age next to it)"
            )),
            State::NoFile { environment, path } => Err(format!(
                "secret `{key}`: environment `{environment}` has no secrets ({} does not exist); create them with `secrets init {environment} --recipient KEY` and `secrets set {environment} {key}`",
                path.display()
            )),
            State::Failed { message } => Err(format!("secret `{key}`: {message}")),
            State::Loaded {
                environment,
                path,
                doc,
            } => doc.get(key).map(str::to_string).ok_or_else(|| {
                let keys = doc.keys();
                format!(
                    "secret `{key}` is not in {} ({}); add it with `secrets set {environment} {key}`",
                    path.display(),
                    if keys.is_empty() {
                        "it is empty".to_string()
                    } else {
                        format!("it has: {}", keys.join(", "))
                    }
                )
            }),
        }
    }

    /// The values as a JSON object, for the `secret` variable; `None` unless decrypted.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match &*self.state {
            State::Loaded { doc, .. } => Some(doc.to_json()),
            _ => None,
        }
    }

    /// Why the secrets could not be decrypted, if they exist and could not be.
    pub fn failure(&self) -> Option<&str> {
        match &*self.state {
            State::Failed { message } => Some(message),
            _ => None,
        }
    }
}

/// Registers a value for redaction, and each line of a multi-line value too: output is shown
/// line by line, so a whole multi-line value never appears on one line to be matched.
fn register(value: &str) {
    crate::redact::register(value);
    if value.contains('\n') {
        for line in value.lines() {
            // Very short lines (a closing brace, `--`) are not secret and would mask noise.
            if line.trim().chars().count() >= 6 {
                crate::redact::register(line.trim());
            }
        }
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.state {
            State::NoEnvironment => f.write_str("Secrets(no environment)"),
            State::NoFile { path, .. } => write!(f, "Secrets(none: {})", path.display()),
            State::Loaded { path, doc, .. } => {
                write!(f, "Secrets({}: {:?})", path.display(), doc.keys())
            }
            State::Failed { message } => write!(f, "Secrets(failed: {message})"),
        }
    }
}
