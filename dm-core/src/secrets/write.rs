//! Atomic replacement of the store's files: write a temporary file in the same directory, flush it
//! to disk, then rename it over the original. A failure at any step leaves the original as it was.

use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// A file written in full next to its destination, not yet in place.
pub(crate) struct Staged {
    tmp: tempfile::NamedTempFile,
    dest: std::path::PathBuf,
}

/// Writes `bytes` to a temporary file beside `dest` (not yet renamed over it).
pub(crate) fn stage(dest: &Path, bytes: &[u8]) -> Result<Staged, Error> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let io = |source| Error::LocalIo {
        path: dest.to_path_buf(),
        source,
    };
    let name = dest
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| ".dm-secrets.".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&name)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(Staged {
        tmp,
        dest: dest.to_path_buf(),
    })
}

impl Staged {
    /// Renames the staged file over its destination. The file keeps mode 0600 (what the
    /// temporary file was created with) unless the destination existed: then its mode is kept.
    pub(crate) fn commit(self) -> Result<(), Error> {
        let io = |source| Error::LocalIo {
            path: self.dest.clone(),
            source,
        };
        if let Ok(meta) = std::fs::metadata(&self.dest) {
            self.tmp
                .as_file()
                .set_permissions(meta.permissions())
                .map_err(io)?;
        }
        self.tmp.persist(&self.dest).map_err(|e| Error::LocalIo {
            path: self.dest.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// Replaces `dest` with `bytes` atomically.
pub(crate) fn replace(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    stage(dest, bytes)?.commit()
}
