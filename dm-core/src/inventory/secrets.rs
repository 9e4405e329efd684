//! The secrets of an inventory: where its environment's secrets file lies (`secrets/<env>.age`
//! beside `dm.toml`), and decrypting it when a run starts.
//!
//! These belong to the inventory, not to [`crate::secrets`]: the secrets module knows files,
//! keys and recipients but not the inventory, so the inventory, which holds a run's secrets,
//! stands above it instead of both importing each other.

use std::path::Path;

use super::Inventory;
use crate::error::Error;
use crate::secrets::{Identities, Secrets, SecretsFile};

impl Secrets {
    /// Decrypts the secrets of the inventory's active environment, if its `secrets/<env>.age`
    /// exists, with `identity` (a key file) or the default identities. Every value is registered
    /// for redaction before this returns. Never fails: a failure is kept and reported by
    /// [`Secrets::get`].
    pub fn load(inventory: &Inventory, identity: Option<&Path>) -> Secrets {
        let Some(environment) = inventory.environment() else {
            return Secrets::none();
        };
        let file = match SecretsFile::for_inventory(inventory, environment) {
            None => return Secrets::none(),
            Some(Ok(file)) => file,
            Some(Err(e)) => return Secrets::failed(e.to_string()),
        };
        if !file.exists() {
            return Secrets::no_file(environment, file.path());
        }
        let doc = Identities::discover(identity).and_then(|ids| file.read(&ids));
        match doc {
            Ok(doc) => Secrets::loaded(environment, file.path(), doc),
            Err(e) => {
                tracing::debug!("secrets of `{environment}` not available: {e}");
                Secrets::failed(e.to_string())
            }
        }
    }
}

impl SecretsFile {
    /// The secrets of `environment` next to the inventory file, if one was read.
    pub fn for_inventory(
        inventory: &Inventory,
        environment: &str,
    ) -> Option<Result<SecretsFile, Error>> {
        let path = inventory.path()?;
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Some(SecretsFile::new(base, environment))
    }
}
