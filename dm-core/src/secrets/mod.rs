//! Secrets: encrypted values (database passwords, API tokens, TLS keys) kept in the repository next
//! to `dm.toml`, one file per environment, readable only by its recipients.
//!
//! ```text
//! dm.toml
//! secrets/production.age         # age-encrypted (ASCII armored) TOML: postgres_password = "..."
//! secrets/production.recipients  # the public keys it is encrypted to, one per line
//! ```
//!
//! Recipients are age X25519 keys (`age1...`) and SSH public keys (`ssh-ed25519 ...`,
//! `ssh-rsa ...`); changing them re-encrypts the file ([`SecretsFile::add_recipient`]). Which
//! private key decrypts is found by [`Identities::discover`]: `DM_AGE_IDENTITY` or
//! `--identity-file`, else `~/.config/dm/age.key`, `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
//!
//! In a run with an active environment, the environment's secrets are decrypted once
//! ([`Secrets::load`]), every value is registered for [redaction](crate::redact) before anything
//! can print it, and tasks read them with `ctx.secret("key")` or as the variable `secret.key`.
//! The `secrets` subcommand ([`crate::cli::secrets`]) creates, edits and shows them.

mod cipher;
mod document;
mod edit;
mod identity;
mod recipients;
mod store;
mod values;
mod write;

pub use document::SecretDoc;
pub use edit::{AskAgain, EditOptions, EditOutcome, edit};
pub use identity::Identities;
pub use recipients::{Recipient, Recipients};
pub use store::SecretsFile;
pub use values::Secrets;
