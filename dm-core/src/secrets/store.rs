//! One environment's secrets store: `secrets/<env>.age` (encrypted TOML) and
//! `secrets/<env>.recipients` (who can decrypt it), in the directory of `dm.toml`.
//!
//! Every change decrypts with the caller's identities, re-encrypts to the recipients listed, and
//! replaces the files atomically: on any error the original files are left as they were.

use std::path::{Path, PathBuf};

use super::document::SecretDoc;
use super::identity::Identities;
use super::recipients::{Recipient, Recipients};
use super::{cipher, write};
use crate::error::Error;

/// The secrets files of one environment.
#[derive(Debug, Clone)]
pub struct SecretsFile {
    environment: String,
    path: PathBuf,
    recipients_path: PathBuf,
}

impl SecretsFile {
    /// The secrets of `environment` under `base` (the directory holding `dm.toml`):
    /// `base/secrets/<environment>.age`.
    pub fn new(base: &Path, environment: &str) -> Result<SecretsFile, Error> {
        let safe = !environment.is_empty()
            && !environment.starts_with('.')
            && environment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !safe {
            return Err(Error::SecretsRefused {
                message: format!(
                    "environment name `{environment}` cannot name a secrets file: use letters, digits, `_`, `-` and `.`"
                ),
            });
        }
        let dir = base.join("secrets");
        Ok(SecretsFile {
            environment: environment.to_string(),
            path: dir.join(format!("{environment}.age")),
            recipients_path: dir.join(format!("{environment}.recipients")),
        })
    }

    /// The environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The encrypted file, `secrets/<env>.age`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recipients file, `secrets/<env>.recipients`.
    pub fn recipients_path(&self) -> &Path {
        &self.recipients_path
    }

    /// Whether the encrypted file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// The recipients the file is (to be) encrypted to.
    pub fn recipients(&self) -> Result<Recipients, Error> {
        if !self.recipients_path.exists() {
            return Err(Error::SecretsMissing {
                environment: self.environment.clone(),
                path: self.recipients_path.clone(),
            });
        }
        Recipients::load(&self.recipients_path)
    }

    /// Reads and decrypts the secrets.
    pub fn read(&self, identities: &Identities) -> Result<SecretDoc, Error> {
        let ciphertext = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::SecretsMissing {
                    environment: self.environment.clone(),
                    path: self.path.clone(),
                });
            }
            Err(source) => {
                return Err(Error::LocalIo {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let plain = identities.decrypt(&self.path, &self.environment, &ciphertext)?;
        SecretDoc::from_bytes(&plain, &self.path)
    }

    /// Reads the secrets, or an empty document if the encrypted file does not exist yet (but its
    /// recipients file does).
    pub fn read_or_empty(&self, identities: &Identities) -> Result<SecretDoc, Error> {
        if self.exists() {
            self.read(identities)
        } else {
            self.recipients()?;
            Ok(SecretDoc::empty(&self.environment))
        }
    }

    /// Encrypts `doc` to the recipients in the recipients file and replaces the encrypted file.
    pub fn write(&self, doc: &SecretDoc) -> Result<(), Error> {
        let recipients = self.recipients()?;
        let sealed = self.seal(doc, &recipients)?;
        write::replace(&self.path, &sealed)
    }

    fn seal(&self, doc: &SecretDoc, recipients: &Recipients) -> Result<Vec<u8>, Error> {
        cipher::encrypt(doc.text().as_bytes(), &recipients.as_age()).map_err(|message| {
            Error::SecretsRecipient {
                place: recipients.path().display().to_string(),
                message,
            }
        })
    }

    /// Creates the store: the recipients file listing `recipients` and an empty encrypted file.
    /// Refused if either file exists.
    pub fn init(&self, recipients: Vec<Recipient>) -> Result<(), Error> {
        for path in [&self.path, &self.recipients_path] {
            if path.exists() {
                return Err(Error::SecretsExist { path: path.clone() });
            }
        }
        if recipients.is_empty() {
            return Err(Error::SecretsRefused {
                message: "give at least one --recipient (an age1... key, an SSH public key, or a .pub file)".into(),
            });
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| Error::LocalIo {
            path: dir.to_path_buf(),
            source,
        })?;
        let list = Recipients::new(&self.recipients_path, recipients);
        let sealed = self.seal(&SecretDoc::empty(&self.environment), &list)?;
        let staged = write::stage(&self.path, &sealed)?;
        write::replace(&self.recipients_path, list.to_text().as_bytes())?;
        staged.commit()
    }

    /// Sets `key` to `value` (a top-level key), keeping everything else as written.
    pub fn set(&self, identities: &Identities, key: &str, value: &str) -> Result<(), Error> {
        let doc = self.read_or_empty(identities)?;
        let updated = doc.with_value(key, value, &self.path)?;
        self.write(&updated)
    }

    /// Adds a recipient and re-encrypts the secrets so that it can decrypt them.
    pub fn add_recipient(
        &self,
        identities: &Identities,
        recipient: Recipient,
    ) -> Result<(), Error> {
        let mut list = self.recipients()?;
        list.add(recipient)?;
        self.reencrypt(identities, &list)
    }

    /// Removes the recipient `spec` names (its key or its comment) and re-encrypts the secrets so
    /// that it cannot decrypt the new file. (It may have kept the old one: rotate the secrets it
    /// knew.)
    pub fn remove_recipient(
        &self,
        identities: &Identities,
        spec: &str,
    ) -> Result<Recipient, Error> {
        let mut list = self.recipients()?;
        let removed = list.remove(spec)?;
        self.reencrypt(identities, &list)?;
        Ok(removed)
    }

    /// Re-encrypts the secrets to `list` and writes both files; both are staged before either
    /// is replaced.
    fn reencrypt(&self, identities: &Identities, list: &Recipients) -> Result<(), Error> {
        let staged = if self.exists() {
            let doc = self.read(identities)?;
            Some(write::stage(&self.path, &self.seal(&doc, list)?)?)
        } else {
            None
        };
        write::replace(&self.recipients_path, list.to_text().as_bytes())?;
        match staged {
            Some(s) => s.commit(),
            None => Ok(()),
        }
    }
}
