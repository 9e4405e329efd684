//! `secrets edit`: the secrets decrypted to a private temporary file, opened in `$EDITOR`, checked,
//! and re-encrypted.
//!
//! The plaintext copy lives in a directory only the user can enter (0700), as a file only the user
//! can read (0600), on a RAM disk (`/dev/shm`) when there is one and `$TMPDIR` is not set. It is
//! overwritten with zeros and removed on every way out: success, invalid TOML, a failing editor, an
//! error, a panic, or SIGTERM/SIGHUP while the editor runs (the editor is stopped first). Ctrl-C
//! goes to the editor, which decides what it means; dm keeps waiting for it. Only SIGKILL can leave
//! the copy behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use age::secrecy::zeroize::Zeroizing;

use super::document::SecretDoc;
use super::identity::Identities;
use super::store::SecretsFile;
use crate::error::Error;

/// How to edit.
pub struct EditOptions {
    /// The editor command (`$EDITOR`, else `vi`), run by `sh` with the file as its last argument,
    /// so `code --wait` works.
    pub editor: String,
    /// Where the private temporary directory is made; `None`: `$TMPDIR`, else `/dev/shm` if it
    /// exists, else the system's temporary directory.
    pub temp_parent: Option<PathBuf>,
    /// Asked, with the error, when the edited text is not valid: `true` opens the editor again on
    /// the edited text; `false` (or no callback) ends with the error, the original unchanged.
    pub ask_again: Option<AskAgain>,
}

/// The question asked after an invalid edit: given the error, whether to edit again.
pub type AskAgain = Box<dyn Fn(&Error) -> bool + Send + Sync>;

impl EditOptions {
    /// `$EDITOR` (else `vi`), the default temporary directory, and no second chance.
    pub fn from_env() -> EditOptions {
        EditOptions {
            editor: std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "vi".to_string()),
            temp_parent: None,
            ask_again: None,
        }
    }
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    /// The text was not changed; the file was not rewritten.
    Unchanged,
    /// The new text was encrypted and saved.
    Saved,
}

/// Edits the secrets of `file` in an editor and saves them re-encrypted if they changed and are
/// valid. The encrypted file is replaced atomically, and only then.
pub async fn edit(
    file: &SecretsFile,
    identities: &Identities,
    opts: &EditOptions,
) -> Result<EditOutcome, Error> {
    // Both checked before any plaintext is written: nobody edits what cannot be saved.
    file.recipients()?;
    let original = file.read_or_empty(identities)?;
    let parent = opts.temp_parent.clone().unwrap_or_else(default_temp_parent);
    let copy = PlaintextCopy::create(
        &parent,
        &format!("{}.toml", file.environment()),
        original.text().as_bytes(),
    )?;
    loop {
        run_editor(&opts.editor, copy.path(), file.path()).await?;
        let edited = copy.read()?;
        if edited.as_slice() == original.text().as_bytes() {
            return Ok(EditOutcome::Unchanged);
        }
        match SecretDoc::from_bytes(&edited, file.path()) {
            Ok(doc) => {
                file.write(&doc)?;
                return Ok(EditOutcome::Saved);
            }
            Err(Error::SecretsInvalid {
                path,
                line,
                column,
                message,
            }) => {
                let err = Error::SecretsInvalid {
                    line,
                    column,
                    message: format!(
                        "{message} (line {line} of your edit); nothing was saved: {} is unchanged",
                        path.display()
                    ),
                    path,
                };
                match &opts.ask_again {
                    Some(ask) if ask(&err) => continue,
                    _ => return Err(err),
                }
            }
            Err(other) => return Err(other),
        }
    }
}

fn default_temp_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("TMPDIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Runs the editor on `path` and waits for it; SIGTERM or SIGHUP stop it and end the edit.
async fn run_editor(editor: &str, path: &Path, secrets: &Path) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let fail = |message: String| Error::SecretsEditor {
        editor: editor.to_string(),
        path: secrets.to_path_buf(),
        message,
    };
    // Registered before the editor starts: without them these signals would end dm at once and skip
    // the cleanup of the plaintext copy.
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        // `exec`: the editor replaces the shell, so stopping the child stops the editor itself.
        .arg(format!("exec {editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("could not be started: {e}")))?;
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| fail(format!("could not be waited for: {e}")))?;
                return match status.code() {
                    Some(0) => Ok(()),
                    Some(127) => Err(fail("could not be started (command not found); set $EDITOR to your editor".into())),
                    Some(code) => Err(fail(format!("exited with status {code}"))),
                    None => Err(fail("was killed by a signal".into())),
                };
            }
            () = next(&mut interrupt) => {}
            () = next(&mut terminate) => return Err(stop(&mut child, fail, "SIGTERM").await),
            () = next(&mut hangup) => return Err(stop(&mut child, fail, "SIGHUP").await),
        }
    }
}

async fn stop(
    child: &mut tokio::process::Child,
    fail: impl Fn(String) -> Error,
    signal: &str,
) -> Error {
    let _ = child.kill().await;
    fail(format!("was stopped: dm received {signal}"))
}

/// The next delivery of a signal; never, if it could not be registered or its stream ended.
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(s) = signal.as_mut() {
        if s.recv().await.is_some() {
            return;
        }
        *signal = None;
    }
    std::future::pending::<()>().await
}

/// The plaintext copy being edited, removed (zeroed first) when dropped.
struct PlaintextCopy {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl PlaintextCopy {
    fn create(parent: &Path, name: &str, content: &[u8]) -> Result<PlaintextCopy, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::LocalIo { path, source }
        };
        use std::os::unix::fs::PermissionsExt;
        // Created with mode 0700 (not chmod-ed after): nobody else can ever enter it.
        let dir = tempfile::Builder::new()
            .prefix("dm-secrets-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .map_err(io(parent))?;
        let path = dir.path().join(name);
        let copy = PlaintextCopy {
            dir: Some(dir),
            path,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy.path)
            .map_err(io(&copy.path))?;
        f.write_all(content).map_err(io(&copy.path))?;
        f.sync_all().map_err(io(&copy.path))?;
        Ok(copy)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        std::fs::read(&self.path)
            .map(Zeroizing::new)
            .map_err(|source| Error::LocalIo {
                path: self.path.clone(),
                source,
            })
    }
}

impl Drop for PlaintextCopy {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // The editor may have left swap or backup files beside the copy: scrub them all.
            if let Ok(entries) = std::fs::read_dir(dir.path()) {
                for entry in entries.flatten() {
                    scrub(&entry.path());
                }
            }
            let _ = dir.close();
        }
    }
}

/// Overwrites a regular file with zeros, then removes it.
fn scrub(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_file()
        && let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path)
    {
        let zeros = [0u8; 4096];
        let mut left = meta.len();
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            if f.write_all(&zeros[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = f.sync_all();
    }
    let _ = std::fs::remove_file(path);
}
