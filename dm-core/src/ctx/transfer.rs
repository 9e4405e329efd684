//! Moving files: `ctx.put(..)`, `ctx.put_bytes(..)`, `ctx.get(..)`.
//!
//! Uploads are atomic on the host: the data goes to a temporary file next to the destination
//! (created with mode 0600), its size is checked, mode and owner are set, and only then is it
//! renamed over the destination. An interrupted upload leaves the destination untouched and removes
//! the temporary file.
//!
//! Under `--check` uploads and downloads do not happen: each is reported as not run (an upload
//! resolves to `Ok(())`, a download to `Ok(0)` without writing the local file). Reading a file into
//! memory ([`Ctx::read_file`]) changes nothing and runs in check mode too.

use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use super::Ctx;
use super::command::Stdin;
use crate::error::Error;
use crate::quote::shell_quote;
use crate::ssh::Stream;

/// An upload, configured by its builder methods and run by `.await`.
#[must_use = "an upload runs only when awaited"]
pub struct Put<'a> {
    ctx: &'a Ctx,
    source: Stdin,
    dest: String,
    mode: u32,
    owner: Option<String>,
    group: Option<String>,
    sudo: bool,
}

impl<'a> Put<'a> {
    /// File mode of the result (default 0644). The data never lands under a wider mode.
    pub fn mode(mut self, mode: u32) -> Put<'a> {
        self.mode = mode;
        self
    }

    /// Owner of the result (needs root: implies [`Put::sudo`]).
    pub fn owner(mut self, user: &str) -> Put<'a> {
        self.owner = Some(user.to_string());
        self.sudo = true;
        self
    }

    /// Group of the result (needs root: implies [`Put::sudo`]).
    pub fn group(mut self, group: &str) -> Put<'a> {
        self.group = Some(group.to_string());
        self.sudo = true;
        self
    }

    /// Writes as root through sudo, for destinations the login user cannot write.
    pub fn sudo(mut self) -> Put<'a> {
        self.sudo = true;
        self
    }

    async fn execute(self) -> Result<(), Error> {
        if self.ctx.check_mode() {
            self.ctx
                .events()
                .send(crate::executor::events::Event::CommandSkipped {
                    host: self.ctx.name().to_string(),
                    what: format!("upload {}", self.dest),
                });
            return Ok(());
        }
        let size = match &self.source {
            Stdin::Bytes(b) => b.len() as u64,
            Stdin::File(p) => tokio::fs::metadata(p)
                .await
                .map_err(|source| Error::LocalIo {
                    path: p.clone(),
                    source,
                })?
                .len(),
        };
        let script = upload_script(
            &self.dest,
            size,
            self.mode,
            self.owner.as_deref(),
            self.group.as_deref(),
        );
        let mut run = self.ctx.run(script).quiet().stdin_source(self.source);
        if self.sudo {
            run = run.as_user("root");
        }
        let out = run.allow_failure().await.map_err(|e| match e {
            Error::Command { stderr, .. } => Error::Transfer {
                host: self.ctx.name().to_string(),
                path: self.dest.clone(),
                message: stderr.trim().to_string(),
            },
            other => other,
        })?;
        if !out.success() {
            return Err(Error::Transfer {
                host: self.ctx.name().to_string(),
                path: self.dest,
                message: format!("{}: {}", out.status, out.stderr.trim()),
            });
        }
        Ok(())
    }
}

impl<'a> IntoFuture for Put<'a> {
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

/// The shell script that receives exactly `size` bytes on stdin and installs them at `dest`.
///
/// `head -c` stops at `size`; a connection that drops early ends its input short, which the size
/// check catches, so a truncated upload is never renamed into place. The trap removes the temporary
/// file on every exit and on hang-up.
pub(crate) fn upload_script(
    dest: &str,
    size: u64,
    mode: u32,
    owner: Option<&str>,
    group: Option<&str>,
) -> String {
    let dest_q = shell_quote(dest);
    // The temporary file's name is made here rather than with `dirname` and `basename` on the
    // host: two processes fewer per upload, which count when a step writes many files.
    let (dir, base) = dir_and_base(dest);
    let tmp_q = shell_quote(&format!("{dir}/.{base}.dm-tmp."));
    let mut s = format!(
        "set -e; d={dest_q}; t={tmp_q}$$; \
         trap 'rm -f \"$t\"' EXIT HUP INT TERM; umask 077; \
         head -c {size} > \"$t\"; \
         n=$(wc -c < \"$t\"); \
         if [ \"$n\" -ne {size} ]; then echo \"incomplete upload: got $n of {size} bytes; $d left unchanged\" >&2; exit 1; fi; \
         chmod {mode:o} \"$t\"; "
    );
    if let Some(owner) = owner {
        s.push_str(&format!("chown {} \"$t\"; ", shell_quote(owner)));
    }
    if let Some(group) = group {
        s.push_str(&format!("chgrp {} \"$t\"; ", shell_quote(group)));
    }
    s.push_str("mv -f \"$t\" \"$d\"; trap - EXIT");
    s
}

/// `dirname` and `basename` of `path`, as POSIX defines them (what the commands print): trailing
/// slashes are ignored, a path without `/` is in `.`, and `/` is its own directory and name.
pub(crate) fn dir_and_base(path: &str) -> (String, String) {
    if path.is_empty() {
        return (".".to_string(), String::new());
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return ("/".to_string(), "/".to_string());
    }
    match trimmed.rfind('/') {
        None => (".".to_string(), trimmed.to_string()),
        Some(i) => {
            let dir = trimmed[..i].trim_end_matches('/');
            let dir = if dir.is_empty() { "/" } else { dir };
            (dir.to_string(), trimmed[i + 1..].to_string())
        }
    }
}

/// A download, run by `.await`; resolves to the number of bytes written.
#[must_use = "a download runs only when awaited"]
pub struct Get<'a> {
    ctx: &'a Ctx,
    remote: String,
    local: PathBuf,
    sudo: bool,
}

impl<'a> Get<'a> {
    /// Reads the file as root through sudo.
    pub fn sudo(mut self) -> Get<'a> {
        self.sudo = true;
        self
    }

    async fn execute(self) -> Result<u64, Error> {
        if self.ctx.check_mode() {
            self.ctx
                .events()
                .send(crate::executor::events::Event::CommandSkipped {
                    host: self.ctx.name().to_string(),
                    what: format!("download {} to {}", self.remote, self.local.display()),
                });
            return Ok(0);
        }
        let local_err = |path: &Path, source| Error::LocalIo {
            path: path.to_path_buf(),
            source,
        };
        let dir = match self.local.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| local_err(&dir, e))?;
        let bytes = self
            .ctx
            .read_file_into(&self.remote, self.sudo, tmp.as_file())
            .await?;
        tmp.persist(&self.local)
            .map_err(|e| local_err(&self.local, e.error))?;
        Ok(bytes)
    }
}

impl<'a> IntoFuture for Get<'a> {
    type Output = Result<u64, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.execute())
    }
}

impl Ctx {
    /// Uploads a local file to `dest` on the host (atomically; see [`Put`]). Not under `--check`.
    pub fn put(&self, local: impl AsRef<Path>, dest: &str) -> Put<'_> {
        self.put_source(Stdin::File(local.as_ref().to_path_buf()), dest)
    }

    /// Writes `bytes` to `dest` on the host (atomically; see [`Put`]). Not under `--check`.
    pub fn put_bytes(&self, bytes: impl Into<Vec<u8>>, dest: &str) -> Put<'_> {
        self.put_source(Stdin::Bytes(Arc::from(bytes.into())), dest)
    }

    fn put_source(&self, source: Stdin, dest: &str) -> Put<'_> {
        Put {
            ctx: self,
            source,
            dest: dest.to_string(),
            mode: 0o644,
            owner: None,
            group: None,
            sudo: false,
        }
    }

    /// Downloads `remote` from the host to the local path `local` (written to a temporary file
    /// first, renamed when complete). Under `--check` nothing is downloaded and it resolves to 0.
    pub fn get(&self, remote: &str, local: impl AsRef<Path>) -> Get<'_> {
        Get {
            ctx: self,
            remote: remote.to_string(),
            local: local.as_ref().to_path_buf(),
            sudo: false,
        }
    }

    /// Reads a whole file of the host into memory (also under `--check`: it changes nothing).
    pub async fn read_file(&self, remote: &str) -> Result<Vec<u8>, Error> {
        let out = self
            .run(format!("cat -- {}", shell_quote(remote)))
            .quiet()
            .check_safe()
            .await?;
        Ok(out.stdout.into_bytes())
    }

    async fn read_file_into(
        &self,
        remote: &str,
        sudo: bool,
        file: &std::fs::File,
    ) -> Result<u64, Error> {
        use std::io::Write;
        let command = format!("cat -- {}", shell_quote(remote));
        let transfer_err = |message: String| Error::Transfer {
            host: self.name().to_string(),
            path: remote.to_string(),
            message,
        };
        let Some(session) = self.session() else {
            let mut src = std::fs::File::open(remote).map_err(|e| transfer_err(e.to_string()))?;
            let mut dst = file;
            return std::io::copy(&mut src, &mut dst).map_err(|e| transfer_err(e.to_string()));
        };
        let command = if sudo && self.host().user != "root" {
            format!("sudo -n -- sh -c {}", shell_quote(&command))
        } else {
            command
        };
        let mut written = 0u64;
        let mut stderr = Vec::new();
        let mut write_err = None;
        let mut writer = std::io::BufWriter::new(file);
        let status = session
            .exec(&command, None, &mut |stream, bytes| match stream {
                Stream::Stdout if write_err.is_none() => match writer.write_all(bytes) {
                    Ok(()) => written += bytes.len() as u64,
                    Err(e) => write_err = Some(e),
                },
                Stream::Stdout => {}
                Stream::Stderr => stderr.extend_from_slice(bytes),
            })
            .await?;
        if let Some(e) = write_err {
            return Err(transfer_err(format!("writing the local copy: {e}")));
        }
        writer
            .flush()
            .map_err(|e| transfer_err(format!("writing the local copy: {e}")))?;
        if !status.success() {
            return Err(transfer_err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::{dir_and_base, upload_script};
    use std::process::{Command, Stdio};

    fn run_script(script: &str, input: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write");
        drop(stdin);
        child.wait_with_output().expect("sh ends")
    }

    #[test]
    fn dir_and_base_agree_with_dirname_and_basename() {
        let paths = [
            "/",
            "//",
            "/a",
            "a",
            "a/",
            "a/b",
            "a//b",
            "/a/b/",
            "./a",
            "../a",
            "a b/c d",
            "",
            "///a//b//",
            "/srv/it's (1)/f.txt",
        ];
        for path in paths {
            let run = |program: &str| {
                let out = Command::new(program)
                    .arg("--")
                    .arg(path)
                    .output()
                    .expect("coreutils");
                String::from_utf8_lossy(&out.stdout)
                    .trim_end_matches('\n')
                    .to_string()
            };
            assert_eq!(
                dir_and_base(path),
                (run("dirname"), run("basename")),
                "{path:?}"
            );
        }
    }

    #[test]
    fn upload_script_installs_the_bytes_with_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("it's a file");
        let out = run_script(
            &upload_script(dest.to_str().expect("utf8"), 5, 0o640, None, None),
            b"hello",
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn short_upload_leaves_destination_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("target");
        std::fs::write(&dest, b"old").expect("write");
        let out = run_script(
            &upload_script(dest.to_str().expect("utf8"), 100, 0o644, None, None),
            b"only a part",
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("incomplete upload"));
        assert_eq!(std::fs::read(&dest).expect("read"), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
    }
}
