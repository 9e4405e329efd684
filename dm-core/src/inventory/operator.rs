//! Facts about the operator (the user running dm, on their own machine) the inventory needs: who
//! they are (the default login user, as with `ssh`) and where their home is (to expand `~` in
//! paths).
//!
//! "local" means something else in dm: `Ctx::local` and `#[task(local)]` run on the operator's
//! machine, and the `local` provider boots servers as machines on it; this module is about the
//! operator's account only.

use std::path::{Path, PathBuf};

use crate::ssh::identity::home_dir;

/// The operator's user name, which `ssh` also uses as the login user when nothing else says
/// otherwise.
///
/// `$USER`, then `$LOGNAME`, then the passwd entry of our uid (containers and cron jobs often run
/// without either variable); `root` only if all of those fail.
pub(crate) fn user_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.is_empty()
        {
            return name;
        }
    }
    passwd_name(rustix::process::getuid().as_raw()).unwrap_or_else(|| "root".to_string())
}

fn passwd_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid).then(|| name.to_string())
    })
}

/// Expands a leading `~` or `~/` against the home directory, and makes a relative path relative to
/// `base` (the inventory's directory), so that a dm.toml means the same files whatever the
/// current directory is. Without a home directory, `~` is kept: loading the key will then fail
/// naming the path.
pub(crate) fn expand_path(path: &str, base: Option<&Path>) -> PathBuf {
    let expanded = match (path.strip_prefix('~'), home_dir()) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(path),
    };
    match base {
        Some(base) if expanded.is_relative() && !path.starts_with('~') => base.join(expanded),
        _ => expanded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_to_home() {
        let Some(home) = home_dir() else {
            return;
        };
        assert_eq!(
            expand_path("~/.ssh/id_ed25519", None),
            home.join(".ssh/id_ed25519")
        );
        assert_eq!(expand_path("~", None), home);
    }

    #[test]
    fn relative_paths_are_relative_to_the_inventory_directory() {
        assert_eq!(
            expand_path("keys/deploy", Some(Path::new("/srv/project"))),
            PathBuf::from("/srv/project/keys/deploy")
        );
        assert_eq!(
            expand_path("/etc/key", Some(Path::new("/srv/project"))),
            PathBuf::from("/etc/key")
        );
    }

    #[test]
    fn tilde_of_another_user_is_kept() {
        assert_eq!(expand_path("~bob/key", None), PathBuf::from("~bob/key"));
    }

    #[test]
    fn user_name_is_never_empty() {
        assert!(!user_name().is_empty());
    }
}
