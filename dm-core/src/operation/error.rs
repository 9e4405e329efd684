//! Errors of operations: each names the host, the operation or template, and what to do.

use std::path::PathBuf;

/// Why a step of operations failed.
///
/// Operations create these without knowing the host; the engine fills it in before the error
/// reaches the task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The desired state cannot be planned: a bad argument, or the host lacks something the
    /// operation needs (e.g. git is not installed). Nothing of this operation was applied.
    #[error("{host}: operation `{op}`: {message}")]
    Invalid {
        /// The host.
        host: String,
        /// The operation's name.
        op: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A template uses a variable that is not defined. Nothing was written to the host.
    #[error(
        "{host}: template {file}:{line}: undefined variable `{variable}`; set it in dm.toml \
         (vars of the server, its roles or environment), with .var(\"{variable}\", ..) on the \
         operation or step, or as a component parameter. Nothing was changed on {host}."
    )]
    TemplateUndefined {
        /// The host.
        host: String,
        /// The template file.
        file: String,
        /// 1-based line of the use.
        line: usize,
        /// The variable (or attribute path, e.g. `app.port`).
        variable: String,
    },
    /// A template does not parse or fails to render. Nothing was written to the host.
    #[error("{host}: template {file}{}: {message}. Nothing was changed on {host}.", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The host.
        host: String,
        /// The template file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A local file an operation needs cannot be read.
    #[error("{host}: operation `{op}`: cannot read {}: {source}", path.display())]
    LocalFile {
        /// The host.
        host: String,
        /// The operation's name.
        op: String,
        /// The local file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Applying an operation failed on the host. Operations after it did not run; those before
    /// it were applied.
    #[error(
        "{host}: operation `{op}` failed with {status}{}{}",
        if stderr.trim().is_empty() { String::new() } else { format!(":\n{}", stderr.trim_end()) },
        if *applied == 0 { String::new() } else { format!("\n({applied} earlier change{} of this step were applied; the operations after it did not run)", if *applied == 1 { "" } else { "s" }) }
    )]
    Failed {
        /// The host.
        host: String,
        /// The operation's name (several, for a merged apt call).
        op: String,
        /// `exit status 100`.
        status: String,
        /// What the operation wrote to standard error.
        stderr: String,
        /// How many changes of the step were applied before it.
        applied: usize,
    },
    /// Gathering facts or applying changes did not complete (the shell or sudo failed).
    #[error("{host}: {what} did not complete ({status}){}", if stderr.trim().is_empty() { String::new() } else { format!(":\n{}", stderr.trim_end()) })]
    Incomplete {
        /// The host.
        host: String,
        /// `gathering facts` or `applying changes`.
        what: String,
        /// How the command ended.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// Components of a step are inconsistent: a dependency cycle, an unknown dependency, a
    /// duplicate name, or a notification of a reaction that does not exist.
    #[error("{host}: {message}")]
    Structure {
        /// The host.
        host: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The connection or sudo failed while running the step's commands.
    #[error(transparent)]
    Run(#[from] crate::error::Error),
}

impl OpError {
    /// An [`OpError::Invalid`] for operation `op`; the engine fills in the host.
    pub fn invalid(op: &str, message: impl Into<String>) -> OpError {
        OpError::Invalid {
            host: String::new(),
            op: op.to_string(),
            message: message.into(),
        }
    }

    /// An [`OpError::Structure`]; the engine fills in the host.
    pub(crate) fn structure(message: impl Into<String>) -> OpError {
        OpError::Structure {
            host: String::new(),
            message: message.into(),
        }
    }

    /// Fills in the host where the error was created without one.
    pub(crate) fn on_host(mut self, name: &str) -> OpError {
        match &mut self {
            OpError::Invalid { host, .. }
            | OpError::TemplateUndefined { host, .. }
            | OpError::Template { host, .. }
            | OpError::LocalFile { host, .. }
            | OpError::Failed { host, .. }
            | OpError::Incomplete { host, .. }
            | OpError::Structure { host, .. }
                if host.is_empty() =>
            {
                *host = name.to_string();
            }
            _ => {}
        }
        self
    }
}
