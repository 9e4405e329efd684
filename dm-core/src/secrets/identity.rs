//! Identities: the private keys tried to decrypt a secrets file, and how to describe them when
//! none works.
//!
//! Given a key file (`DM_AGE_IDENTITY`, `--identity-file`), only that file is used. Otherwise the
//! usual places are tried in order: `~/.config/dm/age.key` (an age identity file, as written by
//! `age-keygen` or `secrets keygen`), then the SSH keys `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
//! Passphrase-protected SSH keys are tried last, and their passphrase is asked on the terminal only
//! when no other key could decrypt the file.

use std::fmt;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use age::secrecy::zeroize::Zeroizing;

use super::cipher::{self, DecryptFailure};
use crate::error::Error;

/// The private keys available to decrypt secrets.
pub struct Identities {
    keys: Vec<KeyFile>,
    /// Every file looked for, for the message when none was found.
    looked: Vec<String>,
}

struct KeyFile {
    path: PathBuf,
    kind: Kind,
    /// The matching public key(s), to tell the user what to hand to a recipient.
    public: Vec<String>,
}

enum Kind {
    /// Identities from an age identity file.
    Age(Vec<age::x25519::Identity>),
    /// An unencrypted SSH private key.
    Ssh(age::ssh::Identity),
    /// A passphrase-protected SSH private key.
    SshEncrypted(age::ssh::EncryptedKey),
    /// A file that exists but cannot be used, and why.
    Unusable(String),
}

impl Identities {
    /// The identities to use: only `explicit` if given (an error if it cannot be used), else every
    /// usable one of `~/.config/dm/age.key`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`.
    pub fn discover(explicit: Option<&Path>) -> Result<Identities, Error> {
        if let Some(path) = explicit {
            let key = load(path)?;
            if let Kind::Unusable(message) = &key.kind {
                return Err(Error::SecretsIdentity {
                    path: path.to_path_buf(),
                    message: message.clone(),
                });
            }
            return Ok(Identities {
                keys: vec![key],
                looked: vec![path.display().to_string()],
            });
        }
        let Some(home) = crate::ssh::identity::home_dir() else {
            return Ok(Identities {
                keys: Vec::new(),
                looked: vec!["$HOME (not set)".into()],
            });
        };
        let candidates = [
            home.join(".config/dm/age.key"),
            home.join(".ssh/id_ed25519"),
            home.join(".ssh/id_rsa"),
        ];
        let mut keys = Vec::new();
        for path in &candidates {
            if path.exists() {
                keys.push(load(path).unwrap_or_else(|e| KeyFile {
                    path: path.clone(),
                    kind: Kind::Unusable(e.to_string()),
                    public: Vec::new(),
                }));
            }
        }
        Ok(Identities {
            keys,
            looked: candidates.iter().map(|p| p.display().to_string()).collect(),
        })
    }

    /// Identities from key files given directly (each must be usable), for tools and tests.
    pub fn from_files(paths: &[PathBuf]) -> Result<Identities, Error> {
        let mut keys = Vec::new();
        for path in paths {
            keys.extend(Identities::discover(Some(path))?.keys);
        }
        Ok(Identities {
            keys,
            looked: paths.iter().map(|p| p.display().to_string()).collect(),
        })
    }

    /// Whether no key file was found at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key files found, each with what it is (`~/.ssh/id_ed25519 (ssh-ed25519 key)`).
    pub fn describe(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.to_string()).collect()
    }

    /// The public keys of the identities, as a recipient would add them.
    pub fn public_keys(&self) -> Vec<String> {
        self.keys.iter().flat_map(|k| k.public.clone()).collect()
    }

    /// Decrypts the age file `path` (of `environment`) read as `ciphertext`.
    ///
    /// Unencrypted keys are tried first; a passphrase-protected SSH key only if they fail, with
    /// its passphrase asked on the terminal (skipped when there is none).
    pub fn decrypt(
        &self,
        path: &Path,
        environment: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if self.keys.is_empty() {
            return Err(Error::SecretsNoIdentity {
                path: path.to_path_buf(),
                looked: self.looked.clone(),
            });
        }
        let corrupt = |message| Error::SecretsCorrupt {
            path: path.to_path_buf(),
            message,
        };
        let mut ready: Vec<&dyn age::Identity> = Vec::new();
        for key in &self.keys {
            match &key.kind {
                Kind::Age(ids) => ready.extend(ids.iter().map(|i| i as &dyn age::Identity)),
                Kind::Ssh(id) => ready.push(id),
                Kind::SshEncrypted(_) | Kind::Unusable(_) => {}
            }
        }
        let mut tried: Vec<String> = self.describe();
        if !ready.is_empty() {
            match cipher::decrypt(ciphertext, &ready) {
                Ok(plain) => return Ok(plain),
                Err(DecryptFailure::Corrupt(m)) => return Err(corrupt(m)),
                Err(DecryptFailure::NoMatchingKey) => {}
            }
        }
        for (i, key) in self.keys.iter().enumerate() {
            let Kind::SshEncrypted(encrypted) = &key.kind else {
                continue;
            };
            let prompt = format!(
                "passphrase for {} (to decrypt {}): ",
                key.path.display(),
                path.display()
            );
            let passphrase = match crate::prompt::ask_hidden(&prompt) {
                Ok(p) => SecretString::from(p),
                Err(_) => {
                    tried[i] = format!(
                        "{} (passphrase-protected; no terminal to ask the passphrase on)",
                        key.path.display()
                    );
                    continue;
                }
            };
            let unlocked = encrypted
                .decrypt(passphrase)
                .map_err(|_| Error::SecretsIdentity {
                    path: key.path.clone(),
                    message: "wrong passphrase".into(),
                })?;
            let identity = age::ssh::Identity::Unencrypted(unlocked);
            match cipher::decrypt(ciphertext, &[&identity]) {
                Ok(plain) => return Ok(plain),
                Err(DecryptFailure::Corrupt(m)) => return Err(corrupt(m)),
                Err(DecryptFailure::NoMatchingKey) => {}
            }
        }
        Err(Error::SecretsWrongKey {
            path: path.to_path_buf(),
            environment: environment.to_string(),
            tried,
            public_keys: self.public_keys(),
        })
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("keys", &self.describe())
            .finish()
    }
}

impl fmt::Display for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            Kind::Age(ids) if ids.len() == 1 => "age key".to_string(),
            Kind::Age(ids) => format!("{} age keys", ids.len()),
            Kind::Ssh(_) => format!("{} key", ssh_type(&self.public)),
            Kind::SshEncrypted(_) => {
                format!("{} key, passphrase-protected", ssh_type(&self.public))
            }
            Kind::Unusable(why) => format!("not usable: {why}"),
        };
        write!(f, "{} ({what})", self.path.display())
    }
}

fn ssh_type(public: &[String]) -> &str {
    public
        .first()
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or("SSH")
}

/// Reads one key file: an age identity file, or an OpenSSH/PEM private key.
fn load(path: &Path) -> Result<KeyFile, Error> {
    let io_err = |source| Error::LocalIo {
        path: path.to_path_buf(),
        source,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_err)?);
    let key = |kind, public| KeyFile {
        path: path.to_path_buf(),
        kind,
        public,
    };
    if text.contains("AGE-SECRET-KEY-") {
        // An age identity file: `AGE-SECRET-KEY-1...` lines, `#` comments (as age-keygen writes).
        let mut ids = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id: age::x25519::Identity = line.parse().map_err(|_| Error::SecretsIdentity {
                path: path.to_path_buf(),
                // Never the line itself: it is a private key.
                message: format!(
                    "line {} is not an age secret key (AGE-SECRET-KEY-1...)",
                    n + 1
                ),
            })?;
            ids.push(id);
        }
        let public = ids.iter().map(|i| i.to_public().to_string()).collect();
        return Ok(key(Kind::Age(ids), public));
    }
    let identity =
        match age::ssh::Identity::from_buffer(text.as_bytes(), Some(path.display().to_string())) {
            Ok(identity) => identity,
            Err(_) => {
                return Ok(key(
                    Kind::Unusable(
                        "neither an age identity file (AGE-SECRET-KEY-...) nor an SSH private key"
                            .into(),
                    ),
                    Vec::new(),
                ));
            }
        };
    let public = ssh_public_key(path, &identity);
    Ok(match identity {
        age::ssh::Identity::Unencrypted(_) => key(Kind::Ssh(identity), public),
        age::ssh::Identity::Encrypted(k) => key(Kind::SshEncrypted(k), public),
        age::ssh::Identity::Unsupported(k) => key(
            Kind::Unusable(format!(
                "unsupported SSH key ({k:?}); use an ed25519 or RSA key, or an age key"
            )),
            public,
        ),
    })
}

/// The public half of an SSH key: from the key itself, else its `.pub` file.
fn ssh_public_key(path: &Path, identity: &age::ssh::Identity) -> Vec<String> {
    if let Ok(r) = age::ssh::Recipient::try_from(identity.clone()) {
        return vec![r.to_string()];
    }
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::read_to_string(PathBuf::from(pub_path))
        .ok()
        .and_then(|t| {
            let mut words = t.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .into_iter()
        .collect()
}
