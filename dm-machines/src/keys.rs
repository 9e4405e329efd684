//! SSH keys: the fleet's client key and each machine's host key, made with `ssh-keygen` so they
//! are exactly what OpenSSH and every client that reads OpenSSH files expect.

use std::path::{Path, PathBuf};

use super::command::{program, run, run_program};
use super::error::Error;

/// A generated ed25519 key pair's public half.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// `ssh-ed25519 BASE64`, without a comment: the form known_hosts and authorized_keys take.
    pub line: String,
    /// The `SHA256:...` fingerprint, as `ssh` prints it. Only test machines show it.
    pub fingerprint: String,
}

/// Generates an ed25519 key without a passphrase at `path` (and `path.pub`), replacing any key
/// there.
pub fn generate(path: &Path, comment: &str) -> Result<PublicKey, Error> {
    for old in [path.to_path_buf(), public_path(path)] {
        match std::fs::remove_file(&old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("cannot remove", old, e));
            }
            _ => {}
        }
    }
    let action = format!("generating an ssh key at {}", path.display());
    let mut keygen = program("ssh-keygen");
    keygen
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    run(&action, &mut keygen)?;
    read_public(path)
}

/// Reads the public half of the key at `path`.
fn read_public(path: &Path) -> Result<PublicKey, Error> {
    let public = public_path(path);
    let text =
        std::fs::read_to_string(&public).map_err(|e| Error::io("cannot read", &public, e))?;
    let line = text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let action = format!("fingerprinting {}", public.display());
    let output = run_program(
        &action,
        "ssh-keygen",
        [Path::new("-l"), Path::new("-f"), &public],
    )?;
    // "256 SHA256:abc... comment (ED25519)"
    let listing = String::from_utf8_lossy(&output.stdout);
    let fingerprint = listing
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok(PublicKey { line, fingerprint })
}

/// Where ssh-keygen puts the public half of the key at `path`: the same name plus `.pub`.
fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}
