//! Reading the inventory again during a run, after servers were booted or destroyed (`boot`,
//! `scale`): the new state file's servers appear, the destroyed ones go, and everything the run
//! chose (environment, ssh config, secrets) stays as it was.

use std::path::PathBuf;

use super::Inventory;
use crate::error::Error;

impl Inventory {
    /// The inventory as its file and the state file next to it say now, for the same
    /// environment, with the same ssh config and secrets. An inventory without a file (no
    /// `dm.toml`) has nothing to re-read and is returned as it is.
    pub fn reload(&self) -> Result<Inventory, Error> {
        let Some(path) = self.path.clone() else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| Error::InventoryRead {
            path: path.clone(),
            source,
        })?;
        let mut fresh = Inventory::parse_with(
            &text,
            &path,
            self.environment.as_deref(),
            self.reach.ssh.clone(),
        )?;
        fresh.attach_secrets(self.secrets.clone());
        Ok(fresh)
    }

    /// The private key files of `[defaults]` (`identity_file`/`identity_files`, `~` expanded),
    /// empty when it names none: the operator's keys, e.g. for a provider to authorize on a new
    /// server.
    pub fn default_identity_files(&self) -> Vec<PathBuf> {
        self.reach
            .defaults
            .identity_files
            .clone()
            .unwrap_or_default()
    }
}
