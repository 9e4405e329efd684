//! A machine's root file system: an overlay whose lower layer is the shared base tree and whose
//! upper layer is the machine's own, so every machine starts from the same clean Debian and no two
//! machines share a written file. Before boot it gets what makes it this machine: its hostname, its
//! own host key, the fleet's client key, and a resolver.

use std::fs;
use std::path::{Path, PathBuf};

use super::base::{DEPLOY_USER, write};
use super::command::run_program;
use super::error::Error;
use super::keys::{self, PublicKey};
use super::record::{Record, Resource};

/// What to put into a machine's root file system.
pub struct RootfsSpec<'a> {
    /// The machine's name, which becomes its hostname.
    pub name: &'a str,
    /// The cached base tree (lower layer).
    pub base: &'a Path,
    /// The machine's own directory for the upper, work and merged directories.
    pub state: &'a Path,
    /// The text of `/etc/hosts`: every machine of the fleet by name.
    pub hosts: &'a str,
    /// The fleet's public key, authorized for root and the deploy user.
    pub authorized_key: &'a str,
}

/// Mounts and prepares the root file system; returns the mounted directory and the machine's new
/// host key.
pub fn prepare(spec: &RootfsSpec<'_>, record: &Record) -> Result<(PathBuf, PublicKey), Error> {
    let merged = mount(spec.name, spec.base, spec.state, record)?;
    write(&merged.join("etc/hostname"), &format!("{}\n", spec.name))?;
    write(&merged.join("etc/hosts"), spec.hosts)?;
    refresh_resolver(&merged)?;
    let authorized = format!("{}\n", spec.authorized_key);
    write(&merged.join("root/.ssh/authorized_keys"), &authorized)?;
    let deploy_keys = merged
        .join("home")
        .join(DEPLOY_USER)
        .join(".ssh/authorized_keys");
    write(&deploy_keys, &authorized)?;
    if let Some((uid, gid)) = user_ids(&merged, DEPLOY_USER) {
        std::os::unix::fs::chown(&deploy_keys, Some(uid), Some(gid))
            .map_err(|e| Error::io("cannot change the owner of", &deploy_keys, e))?;
    }
    let host_key = keys::generate(
        &merged.join("etc/ssh/ssh_host_ed25519_key"),
        &format!("root@{}", spec.name),
    )?;
    Ok((merged, host_key))
}

/// Locks `user`'s password in the machine's `/etc/shadow` (like `passwd -l`): no password logs
/// it in, over ssh or at sudo; its keys still work.
pub fn lock_password(merged: &Path, user: &str) -> Result<(), Error> {
    let shadow = merged.join("etc/shadow");
    let text = fs::read_to_string(&shadow).map_err(|e| Error::io("cannot read", &shadow, e))?;
    let locked = lock_in_shadow(&text, user);
    if locked != text {
        write(&shadow, &locked)?;
        // `write` may have created a new file: shadow is root's and the shadow group's only.
        fs::set_permissions(&shadow, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .map_err(|e| Error::io("cannot set the mode of", &shadow, e))?;
    }
    Ok(())
}

/// `text` of /etc/shadow with `user`'s password field replaced by `!` (locked, no hash kept).
fn lock_in_shadow(text: &str, user: &str) -> String {
    text.lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.first() == Some(&user) && fields.len() > 1 {
                fields[1] = "!";
            }
            format!("{}\n", fields.join(":"))
        })
        .collect()
}

/// Mounts machine `name`'s root file system: the base tree `base` under its own writable layer in
/// `state` (kept there between starts). Returns the mounted directory.
pub fn mount(name: &str, base: &Path, state: &Path, record: &Record) -> Result<PathBuf, Error> {
    let upper = state.join("upper");
    let work = state.join("work");
    let merged = state.join("root");
    for dir in [&upper, &work, &merged] {
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        base.display(),
        upper.display(),
        work.display()
    );
    record.add(Resource::Mount(merged.clone()))?;
    run_program(
        format!("mounting the root file system of machine {name}"),
        "mount",
        [
            Path::new("-t"),
            Path::new("overlay"),
            Path::new("overlay"),
            Path::new("-o"),
            Path::new(&options),
            &merged,
        ],
    )?;
    Ok(merged)
}

/// Writes the machine's `/etc/resolv.conf` from this host's resolver (see `host_resolv_conf`):
/// at its first boot, and again at every start, since the host may have moved networks.
pub fn refresh_resolver(root: &Path) -> Result<(), Error> {
    write(&root.join("etc/resolv.conf"), &host_resolv_conf())
}

/// The resolver configuration for machines: this machine's, unless it points at a local stub
/// resolver (127.0.0.53), which machines in their own namespace cannot reach; then the upstream
/// servers systemd-resolved keeps next to it.
fn host_resolv_conf() -> String {
    let local = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let uses_stub = local
        .lines()
        .any(|l| l.trim_start().starts_with("nameserver 127."));
    if uses_stub && let Ok(upstream) = fs::read_to_string("/run/systemd/resolve/resolv.conf") {
        return upstream;
    }
    local
}

/// The uid and gid of `user` in the tree at `root`.
fn user_ids(root: &Path, user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string(root.join("etc/passwd")).ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locking_a_password_replaces_only_that_users_hash() {
        let shadow = "root:*:19000:0:99999:7:::\ndeploy:$y$j9T$abc$def:19000:0:99999:7:::\n";
        assert_eq!(
            lock_in_shadow(shadow, "deploy"),
            "root:*:19000:0:99999:7:::\ndeploy:!:19000:0:99999:7:::\n"
        );
        assert_eq!(lock_in_shadow(shadow, "nobody"), shadow);
    }
}
