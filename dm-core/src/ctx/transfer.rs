//! Moving files: `ctx.put(..)`, `ctx.put_bytes(..)`, `ctx.get(..)`.
//!
//! Uploads are atomic on the host: the data goes to a temporary file next to the destination
//! (created exclusively, under an unpredictable name, with mode 0600), its size is checked, mode
//! and owner are set, and only then is it renamed over the destination. An interrupted upload
//! leaves the destination untouched and removes the temporary file. Links planted by other
//! accounts are never followed (see [`PUT_FUNCTIONS`]).
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
                .send(crate::events::Event::CommandSkipped {
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

/// The shell functions behind every upload: `dm_put DIR BASE SIZE MODE OWNER GROUP TEMPLATE`
/// installs exactly SIZE bytes of standard input as `DIR/BASE`; `dm_mkdir DIR MODE OWNER GROUP`
/// makes a directory the same careful way; `dm_ln DIR BASE TARGET d|- OWNER GROUP` makes `DIR/BASE`
/// a symbolic link to TARGET (replacing an empty directory there with `d`); `dm_rm DIR BASE [r]` removes `DIR/BASE` (with everything
/// in it when `r`) by the same choice of who acts, from inside `DIR` entered once (`cd -P`), so
/// that a directory on the way swapped for a link makes root remove nothing elsewhere (`rm` itself
/// never follows a link it meets: the last name, or anything inside a tree it removes).
///
/// Root writes into directories that other accounts own (the app's, postgres's, a user's `~/.ssh`),
/// and such an account may plant links to make root write, chown or chmod a file of its choosing
/// (`/etc/ld.so.preload`). So, as root, `dm_who` first looks at every directory the path passes
/// through, following links as the kernel would (`realpath` of each prefix, then each of those
/// directories' parents), and decides who writes:
///
/// - if root alone can change the way there, root writes: it enters the directory once (`cd -P`:
///   later renames of the path no longer matter), creates a temporary with an unpredictable name
///   exclusively (`set -C`, `O_EXCL`), and holds it open: size check, owner and mode go through
///   that descriptor (`/proc/self/fd/9`), never through a name another account could swap for a
///   link; then it is renamed in place (rename(2) replaces a link, never follows it);
/// - if one other account can change the way (it owns a directory on it), the directory must be
///   theirs too, and that account writes (`setpriv`), so that whatever it planted leads only where
///   it could write itself; root only changes the owner (`chown -h`, never following a link);
/// - anything else (two accounts, a directory others may write without the sticky bit) is refused
///   with a message naming the directory.
///
/// Missing directories are made by whoever writes. `head -c` stops at SIZE; a connection that
/// drops early ends the input short, which the size check catches, so a truncated upload is never
/// renamed into place. The trap removes the temporary file on every exit and on hang-up.
pub(crate) const PUT_FUNCTIONS: &str = r#"dm_nl='
'
dm_who() {
  dm_e=$1
  while [ ! -e "$dm_e" ] && [ ! -L "$dm_e" ]; do
    dm_e=${dm_e%/*}; [ -n "$dm_e" ] || dm_e=/
  done
  set -- /; dm_p=; dm_r=${dm_e#/}
  while [ -n "$dm_r" ]; do
    dm_p=$dm_p/${dm_r%%/*}; set -- "$@" "$dm_p"
    case $dm_r in */*) dm_r=${dm_r#*/} ;; *) dm_r= ;; esac
  done
  dm_real=$(realpath -m -- "$@") || return 1
  set -- /; dm_ifs=$IFS; IFS=$dm_nl; set -f
  for dm_f in $dm_real; do
    dm_r=${dm_f#/}; dm_p=
    while [ -n "$dm_r" ]; do
      dm_p=$dm_p/${dm_r%%/*}; set -- "$@" "$dm_p"
      case $dm_r in */*) dm_r=${dm_r#*/} ;; *) dm_r= ;; esac
    done
  done
  IFS=$dm_ifs; set +f
  dm_st=$(stat -c '%u %U %a %n' -- "$@") || { echo "cannot inspect the directories on the way to $dm_d" >&2; return 1; }
  dm_fu= dm_nu= dm_nn=
  while read -r dm_su dm_sU dm_sa dm_sn; do
    if [ "$dm_sn" = "$dm_f" ]; then dm_fu=$dm_su
      [ "$dm_e" != "$dm_dir" ] || continue
    fi
    if [ "$dm_su" = 0 ]; then
      if [ $((0$dm_sa & 022)) -ne 0 ] && [ $((0$dm_sa & 01000)) -eq 0 ]; then
        echo "refusing to ${dm_verb:-write} $dm_d as root: $dm_sn, on the way to it, is writable by other accounts, who could redirect the ${dm_noun:-write} elsewhere; remove their write permission (chmod go-w) or set the sticky bit" >&2; return 1
      fi
    elif [ -z "$dm_nu" ]; then dm_nu=$dm_su dm_nU=$dm_sU dm_nn=$dm_sn
    elif [ "$dm_nu" != "$dm_su" ]; then
      echo "refusing to ${dm_verb:-write} $dm_d: $dm_nn and $dm_sn, on the way to it, belong to two different accounts ($dm_nU and $dm_sU), either of which could redirect the ${dm_noun:-write} elsewhere" >&2; return 1
    fi
  done <<DM_EOF
$dm_st
DM_EOF
  dm_as=
  if [ -n "$dm_nu" ]; then
    if [ "$dm_fu" != "$dm_nu" ]; then
      echo "refusing to ${dm_verb:-write} $dm_d as root: $dm_nn, on the way to it, belongs to $dm_nU, who could redirect the ${dm_noun:-write} elsewhere ($dm_f, where it would land now, is not theirs); make the directories below $dm_nn belong to $dm_nU too, or ${dm_verb:-write} somewhere else" >&2; return 1
    fi
    dm_as=$dm_nu
  elif [ "$dm_fu" != 0 ] && [ "$dm_e" != "$dm_dir" ]; then
    dm_as=$dm_fu
  fi
}
dm_put() {
  dm_dir=$1 dm_b=$2 dm_n=$3 dm_m=$4 dm_o=$5 dm_g=$6 dm_d=$1/$2 dm_as=
  [ "$dm_dir" != / ] || dm_d=/$2
  if [ "$(id -u)" = 0 ]; then dm_who "$dm_dir" || exit 1; fi
  dm_t=$(mktemp -u ".$7.dm-tmp.XXXXXXXXXX")
  if [ -z "$dm_as" ]; then
    [ -d "$dm_dir" ] || mkdir -p -- "$dm_dir"
    cd -P -- "$dm_dir"; umask 077
    trap 'rm -f -- "$dm_t"' EXIT HUP INT TERM
    set -C; exec 9>"$dm_t"; set +C
    head -c "$dm_n" >&9
    dm_c=$(wc -c </proc/self/fd/9)
    [ "$dm_c" -eq "$dm_n" ] || { echo "incomplete upload: got $dm_c of $dm_n bytes; $dm_d left unchanged" >&2; exit 1; }
    if [ -n "$dm_o" ]; then chown -- "$dm_o" /proc/self/fd/9; fi
    if [ -n "$dm_g" ]; then chgrp -- "$dm_g" /proc/self/fd/9; fi
    chmod -- "$dm_m" /proc/self/fd/9
    exec 9>&-
    mv -fT -- "$dm_t" "$dm_b"
  else
    dm_ag=$(id -g -- "$dm_as") || { echo "refusing to write $dm_d: its directory belongs to uid $dm_as, which has no account to write as" >&2; exit 1; }
    case $dm_m in ????) [ -z "$dm_o$dm_g" ] || { echo "refusing to write $dm_d with mode $dm_m and an owner or group in a directory of uid $dm_as: the owner change would drop the setuid/setgid bits" >&2; exit 1; } ;; esac
    dm_run="setpriv --reuid=$dm_as --regid=$dm_ag --clear-groups --"
    trap 'rm -f -- "$dm_dir/$dm_t"' EXIT HUP INT TERM
    $dm_run sh -c 'set -e; [ -d "$1" ] || mkdir -p -- "$1"; cd -P -- "$1"; umask 077; set -C; exec 9>"$2"; set +C
      head -c "$3" >&9; c=$(wc -c </proc/self/fd/9)
      [ "$c" -eq "$3" ] || { echo "incomplete upload: got $c of $3 bytes; $1/$5 left unchanged" >&2; exit 1; }
      chmod -- "$4" /proc/self/fd/9' dm_put "$dm_dir" "$dm_t" "$dm_n" "$dm_m" "$dm_b"
    if [ -n "$dm_o" ]; then chown -h -- "$dm_o" "$dm_dir/$dm_t"; fi
    if [ -n "$dm_g" ]; then chgrp -h -- "$dm_g" "$dm_dir/$dm_t"; fi
    $dm_run sh -c 'cd -P -- "$1" && mv -fT -- "$2" "$3"' dm_put "$dm_dir" "$dm_t" "$dm_b"
  fi
  trap - EXIT HUP INT TERM
}
dm_rm() {
  dm_dir=$1 dm_d=$1/$2 dm_as= dm_verb=remove dm_noun=removal
  [ "$dm_dir" != / ] || dm_d=/$2
  if [ ! -e "$dm_d" ] && [ ! -L "$dm_d" ]; then return 0; fi
  if [ "$(id -u)" = 0 ]; then dm_who "$dm_dir" || exit 1; fi
  if [ -z "$dm_as" ]; then
    (cd -P -- "$dm_dir" && rm -f$3 -- "$2")
  else
    dm_ag=$(id -g -- "$dm_as") || { echo "refusing to remove $dm_d: its directory belongs to uid $dm_as, which has no account to act as" >&2; exit 1; }
    setpriv --reuid="$dm_as" --regid="$dm_ag" --clear-groups -- sh -c 'cd -P -- "$1" && rm -f$3 -- "$2"' dm_rm "$dm_dir" "$2" "$3"
  fi
  dm_verb= dm_noun=
}
dm_ln() {
  dm_dir=$1 dm_b=$2 dm_d=$1/$2 dm_as= dm_verb="make the link" dm_noun=link
  [ "$dm_dir" != / ] || dm_d=/$2
  if [ "$(id -u)" = 0 ]; then dm_who "$dm_dir" || exit 1; fi
  dm_t=$(mktemp -u ".dm-link.XXXXXXXXXX")
  if [ -z "$dm_as" ]; then
    [ -d "$dm_dir" ] || mkdir -p -- "$dm_dir"
    (cd -P -- "$dm_dir"; trap 'rm -f -- "$dm_t"' EXIT HUP INT TERM
      ln -s -- "$3" "$dm_t"
      [ -z "$5" ] || chown -h -- "$5" "$dm_t"
      [ -z "$6" ] || chgrp -h -- "$6" "$dm_t"
      [ "$4" != d ] || rmdir -- "$dm_b"
      mv -fT -- "$dm_t" "$dm_b")
  else
    dm_ag=$(id -g -- "$dm_as") || { echo "refusing to make the link $dm_d: its directory belongs to uid $dm_as, which has no account to act as" >&2; exit 1; }
    dm_run="setpriv --reuid=$dm_as --regid=$dm_ag --clear-groups --"
    trap 'rm -f -- "$dm_dir/$dm_t"' EXIT HUP INT TERM
    $dm_run sh -c 'set -e; [ -d "$1" ] || mkdir -p -- "$1"; cd -P -- "$1"; ln -s -- "$3" "$2"' dm_ln "$dm_dir" "$dm_t" "$3"
    [ -z "$5" ] || chown -h -- "$5" "$dm_dir/$dm_t"
    [ -z "$6" ] || chgrp -h -- "$6" "$dm_dir/$dm_t"
    $dm_run sh -c 'set -e; cd -P -- "$1"; [ "$4" != d ] || rmdir -- "$3"; mv -fT -- "$2" "$3"' dm_ln "$dm_dir" "$dm_t" "$dm_b" "$4"
    trap - EXIT HUP INT TERM
  fi
  dm_verb= dm_noun=
}
dm_mkdir() {
  dm_dir=$1 dm_d=$1 dm_as=
  if [ "$(id -u)" = 0 ]; then dm_who "$dm_dir" || exit 1; fi
  if [ -z "$dm_as" ]; then
    mkdir -p -- "$1"; [ -z "$2" ] || chmod -- "$2" "$1"
  else
    dm_ag=$(id -g -- "$dm_as") || { echo "refusing to make $dm_d: the directory above it belongs to uid $dm_as, which has no account to act as" >&2; exit 1; }
    setpriv --reuid="$dm_as" --regid="$dm_ag" --clear-groups -- sh -c 'mkdir -p -- "$1"; [ -z "$2" ] || chmod -- "$2" "$1"' dm_mkdir "$1" "$2"
  fi
  [ -z "$3" ] || chown -h -- "$3" "$1"
  [ -z "$4" ] || chgrp -h -- "$4" "$1"
}
"#;

/// The shell script that makes the directory `path` (and its missing parents) with `mode`,
/// `owner` and `group`, as [`PUT_FUNCTIONS`] decides who writes: in a directory another account
/// owns, that account makes it (and sets the mode), and root only changes the owner (`chown -h`).
pub(crate) fn mkdir_script(
    path: &str,
    mode: Option<u32>,
    owner: Option<&str>,
    group: Option<&str>,
) -> String {
    format!(
        "set -e\n{PUT_FUNCTIONS}\ndm_mkdir {} {} {} {}",
        shell_quote(path),
        shell_quote(&mode.map(|m| format!("{m:o}")).unwrap_or_default()),
        shell_quote(owner.unwrap_or("")),
        shell_quote(group.unwrap_or(""))
    )
}

/// The shell script, to run as root (`ctx.sudo`), that removes each of `paths` if it exists —
/// with everything in it when `recursive` — following no link that another account planted on
/// the way: where an account other than root owns a directory on the way, the removal runs as
/// that account (a link it planted leads only where it could remove anyway), and a way that leads
/// out of that account's directories is refused with a message naming the directory.
pub fn removal_script(paths: &[&str], recursive: bool) -> String {
    let mut script = format!("set -e\n{PUT_FUNCTIONS}");
    for path in paths {
        let (dir, base) = dir_and_base(path);
        script.push_str(&format!(
            "\ndm_rm {} {}{}",
            shell_quote(&dir),
            shell_quote(&base),
            if recursive { " r" } else { "" }
        ));
    }
    script
}

/// The shell script, to run as root (`ctx.sudo`), that makes `link` a symbolic link to `target`
/// — replacing a link, file or special file there, and an empty directory when
/// `replace_empty_dir` — with the link's own `owner` and `group`, following no link that another
/// account planted on the way ([`PUT_FUNCTIONS`]' `dm_ln`): where an account other than root
/// owns a directory on the way, that account makes the link (root only changes its owner, `chown
/// -h`, on an unpredictable temporary name); otherwise root makes it under an unpredictable
/// temporary name inside the directory entered once (`cd -P`). Either way the temporary is renamed
/// over `link` (rename(2) replaces what is there and follows no link), and a way that leads out of
/// the account's directories is refused with a message naming the directory.
pub(crate) fn link_script(
    link: &str,
    target: &str,
    replace_empty_dir: bool,
    owner: Option<&str>,
    group: Option<&str>,
) -> String {
    let (dir, base) = dir_and_base(link);
    format!(
        "set -e\n{PUT_FUNCTIONS}\ndm_ln {} {} {} {} {} {}",
        shell_quote(&dir),
        shell_quote(&base),
        shell_quote(target),
        if replace_empty_dir { "d" } else { "-" },
        shell_quote(owner.unwrap_or("")),
        shell_quote(group.unwrap_or(""))
    )
}

/// The longest part of the destination's name kept in the temporary file's name (a name may have
/// 255 bytes; the temporary adds 19).
const TEMP_NAME_BASE: usize = 100;

/// The shell script that receives exactly `size` bytes on stdin and installs them at `dest` (see
/// [`PUT_FUNCTIONS`]).
pub(crate) fn upload_script(
    dest: &str,
    size: u64,
    mode: u32,
    owner: Option<&str>,
    group: Option<&str>,
) -> String {
    upload_script_with(
        dest,
        size,
        &format!("{mode:o}"),
        &shell_quote(owner.unwrap_or("")),
        &shell_quote(group.unwrap_or("")),
    )
}

/// [`upload_script`] with mode, owner and group given as shell words (quoted values or
/// expressions such as `"$1"`), for values known only on the host.
pub(crate) fn upload_script_with(
    dest: &str,
    size: u64,
    mode: &str,
    owner: &str,
    group: &str,
) -> String {
    // The directory and name are split here rather than with `dirname` and `basename` on the
    // host: two processes fewer per upload, which count when a step writes many files.
    let (dir, base) = dir_and_base(dest);
    let mut short = base.clone();
    while short.len() > TEMP_NAME_BASE {
        short.pop();
    }
    format!(
        "set -e\n{PUT_FUNCTIONS}\ndm_put {} {} {size} {mode} {owner} {group} {}",
        shell_quote(&dir),
        shell_quote(&base),
        shell_quote(&short)
    )
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
                .send(crate::events::Event::CommandSkipped {
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
