//! The base tree: a Debian bookworm root file system built once with debootstrap, cached under
//! [`CACHE_DIR`], and shared read-only (as an overlay's lower layer) by every machine.
//!
//! Building takes about 40 s, so it happens once per recipe: parallel test processes wait on a
//! file lock instead of racing, and the tree is built in a scratch directory and renamed into place
//! so a killed build never leaves a half tree that later runs would trust.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use super::command::{self, program, run_program};
use super::error::Error;
use super::paths::CACHE_DIR;
use super::prerequisites::{self, Purpose};
use super::{mirror, mounts};

/// The Debian release every machine runs.
const SUITE: &str = "bookworm";

/// Packages on top of debootstrap's minimal base: what a server dm deploys to has.
const INCLUDE: &str = "openssh-server,systemd,systemd-sysv,dbus,sudo,iproute2,ca-certificates";

/// Bump when the recipe below changes, so cached trees of an older recipe are not reused.
const RECIPE: u32 = 1;

/// The user (besides root) that every machine has: sudo with a password, like a typical deploy
/// account.
pub const DEPLOY_USER: &str = "deploy";

/// The password of [`DEPLOY_USER`], which `sudo` asks for.
pub const DEPLOY_PASSWORD: &str = "deploy-password";

/// The sshd settings every machine gets. Only an ed25519 host key, so what a client learns is
/// exactly the key the harness generated; more unauthenticated connections than the default so
/// that tests opening many connections at once are not refused.
const SSHD_CONFIG: &str = "# Written by dm-testing.\n\
    HostKey /etc/ssh/ssh_host_ed25519_key\n\
    MaxStartups 100:30:200\n\
    UseDNS no\n";

/// Returns the cached base tree, building it first if this is the first run.
pub fn ensure(purpose: Purpose) -> Result<PathBuf, Error> {
    let cache = Path::new(CACHE_DIR);
    let tree = cache.join(format!("{SUITE}-r{RECIPE}"));
    if tree.is_dir() {
        return Ok(tree);
    }
    fs::create_dir_all(cache).map_err(|e| Error::io("cannot create", cache, e))?;
    let lock_path = cache.join("base.lock");
    let lock = File::create(&lock_path).map_err(|e| Error::io("cannot create", &lock_path, e))?;
    // Another process may be building right now: wait for it rather than build twice.
    lock.lock()
        .map_err(|e| Error::io("cannot lock", &lock_path, e))?;
    if tree.is_dir() {
        return Ok(tree);
    }
    prerequisites::check(true, purpose)?;
    remove_stale_builds(cache)?;
    let scratch = cache.join(format!(".build-{SUITE}-r{RECIPE}-{}", std::process::id()));
    let log = cache.join(format!("build-{SUITE}-r{RECIPE}.log"));
    let started = Instant::now();
    progress(&format!(
        "building the {SUITE} base tree in {} (about 40 s, once; log: {})",
        tree.display(),
        log.display()
    ));
    let built = debootstrap(&scratch, &log).and_then(|()| configure(&scratch));
    if let Err(e) = built {
        // Best effort: the error being returned matters more than a failed clean-up.
        let _ = mounts::remove_tree(&scratch);
        return Err(e);
    }
    fs::rename(&scratch, &tree).map_err(|e| Error::io("cannot rename build into", &tree, e))?;
    progress(&format!(
        "base tree ready in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(tree)
}

/// Writes a progress line straight to stderr. Not through `eprintln!`, which the test harness
/// captures: a 40 s pause with no explanation looks like a hang.
fn progress(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "dm-testing: {message}");
}

/// Removes scratch trees of builds that were killed. Called under the build lock, so none of them
/// is in progress.
fn remove_stale_builds(cache: &Path) -> Result<(), Error> {
    let entries = fs::read_dir(cache).map_err(|e| Error::io("cannot read", cache, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".build-") {
            mounts::remove_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Runs debootstrap into `target`, logging everything to `log` and each new phase to stderr.
fn debootstrap(target: &Path, log_path: &Path) -> Result<(), Error> {
    let mirror = mirror::debian_mirror()?;
    let mut log = File::create(log_path).map_err(|e| Error::io("cannot create", log_path, e))?;
    let (reader, writer) =
        std::io::pipe().map_err(|e| Error::io("cannot create a pipe for", log_path, e))?;
    let writer_too = writer
        .try_clone()
        .map_err(|e| Error::io("cannot create a pipe for", log_path, e))?;
    let mut cmd = program("debootstrap");
    cmd.args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
        .arg(target)
        .arg(&mirror)
        .stdout(writer)
        .stderr(writer_too);
    let _ = writeln!(log, "$ {}", command::display(&cmd));
    let mut child = cmd.spawn().map_err(|e| Error::Command {
        action: "building the base tree".into(),
        command: command::display(&cmd),
        outcome: format!("could not start: {e}"),
        stderr: String::new(),
    })?;
    // Drop our copies of the pipe's write end, or reading would never see end-of-file.
    drop(cmd);
    let mut phases = std::collections::HashSet::new();
    for line in BufReader::new(reader).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        // "I: Retrieving libc6 ..." is phase "Retrieving": one stderr line per phase, at its start.
        let phase = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if line.starts_with("I: ") && phases.insert(phase) {
            progress(&line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::io("cannot wait for debootstrap building", target, e))?;
    if status.success() {
        return Ok(());
    }
    Err(Error::BaseBuild {
        status: format!("debootstrap {status}"),
        log: log_path.to_path_buf(),
        tail: command::tail_of_file(log_path, 30),
    })
}

/// Turns the fresh debootstrap tree into the machine template: the deploy user, sshd settings,
/// no host keys (each machine gets its own), no background apt runs that would grab the dpkg lock
/// in the middle of a test.
fn configure(root: &Path) -> Result<(), Error> {
    let chroot = |action: &str, args: &[&str]| {
        run_program(
            action,
            "chroot",
            std::iter::once(root.as_os_str()).chain(args.iter().map(|a| a.as_ref())),
        )
    };
    chroot(
        "creating the deploy user in the base tree",
        &[
            "useradd",
            "--create-home",
            "--shell",
            "/bin/bash",
            "--groups",
            "sudo",
            DEPLOY_USER,
        ],
    )?;
    let mut chpasswd = program("chroot");
    chpasswd
        .arg(root)
        .arg("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    set_password(&mut chpasswd)?;
    chroot(
        "cleaning the apt cache of the base tree",
        &["apt-get", "clean"],
    )?;

    let ssh_dir = root.join("etc/ssh");
    let entries = fs::read_dir(&ssh_dir).map_err(|e| Error::io("cannot read", &ssh_dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            fs::remove_file(entry.path())
                .map_err(|e| Error::io("cannot remove", entry.path(), e))?;
        }
    }
    write(
        &root.join("etc/ssh/sshd_config.d/dm-testing.conf"),
        SSHD_CONFIG,
    )?;
    remove_if_present(&root.join("etc/hostname"))?;
    // An empty machine-id makes systemd generate a fresh one on each machine's first boot.
    write(&root.join("etc/machine-id"), "")?;
    for timer in ["apt-daily.timer", "apt-daily-upgrade.timer"] {
        let link = root.join("etc/systemd/system").join(timer);
        remove_if_present(&link)?;
        std::os::unix::fs::symlink("/dev/null", &link)
            .map_err(|e| Error::io("cannot mask", &link, e))?;
    }
    for home in [PathBuf::from("root"), Path::new("home").join(DEPLOY_USER)] {
        let dir = root.join(home).join(".ssh");
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("cannot set permissions of", &dir, e))?;
    }
    chroot(
        "giving the deploy user its .ssh directory",
        &[
            "chown",
            &format!("{DEPLOY_USER}:{DEPLOY_USER}"),
            &format!("/home/{DEPLOY_USER}/.ssh"),
        ],
    )?;
    Ok(())
}

/// Sets the deploy user's password through `chpasswd`, which reads `user:password` on stdin.
fn set_password(chpasswd: &mut std::process::Command) -> Result<(), Error> {
    let action = "setting the deploy user's password in the base tree";
    let mut child = chpasswd.spawn().map_err(|e| Error::Command {
        action: action.into(),
        command: command::display(chpasswd),
        outcome: format!("could not start: {e}"),
        stderr: String::new(),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{DEPLOY_USER}:{DEPLOY_PASSWORD}");
    }
    let output = child.wait_with_output().map_err(|e| Error::Command {
        action: action.into(),
        command: command::display(chpasswd),
        outcome: format!("could not be waited for: {e}"),
        stderr: String::new(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        action: action.into(),
        command: command::display(chpasswd),
        outcome: format!("failed ({})", output.status),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Writes `text` to `path`, creating parent directories.
pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))
}

/// Removes a file or symlink that may not exist.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot remove", path, e))
        }
        _ => Ok(()),
    }
}
