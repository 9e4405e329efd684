//! Mount points and directory removal. Removing a machine's directories must never follow a mount
//! into something else (a killed debootstrap leaves `/proc` mounted inside its target), so trees
//! are unmounted first and removed with `rm --one-file-system`.

use std::path::{Path, PathBuf};

use super::command::run_program;
use super::error::Error;

/// Every mount point at or below `dir`, deepest first, from `/proc/self/mounts`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(|field| PathBuf::from(unescape_mount_field(field)))
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_field(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Whether `path` is a mount point.
pub fn is_mounted(path: &Path) -> bool {
    mounts_under(path).iter().any(|p| p == path)
}

/// Unmounts `path`, falling back to a lazy unmount when something still holds it busy (the
/// machine is dead by then, so nothing writes to it any more).
pub fn unmount(path: &Path) -> Result<(), Error> {
    if !is_mounted(path) {
        return Ok(());
    }
    let action = format!("unmounting {}", path.display());
    match run_program(&action, "umount", [path]) {
        Ok(_) => Ok(()),
        Err(_) => run_program(&action, "umount", [Path::new("-l"), path]).map(|_| ()),
    }
}

/// Unmounts everything at or below `dir`, then removes `dir` without crossing into another file
/// system. A missing `dir` is fine.
pub fn remove_tree(dir: &Path) -> Result<(), Error> {
    for point in mounts_under(dir) {
        unmount(&point)?;
    }
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    run_program(
        format!("removing {}", dir.display()),
        "rm",
        [
            Path::new("-rf"),
            Path::new("--one-file-system"),
            Path::new("--"),
            dir,
        ],
    )
    .map(|_| ())
}
