//! Shared helpers of the `secrets_*` tests: real key files (age keys written like `age-keygen`,
//! SSH keys made by `ssh-keygen`) in temporary directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use dm_core::secrets::{Identities, Recipient, SecretsFile};

/// A new age key written to `dir/name`; returns its path and public key.
pub fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = age::x25519::Identity::generate();
    let public = key.to_public().to_string();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# created for a test\n# public key: {public}\n{}\n",
            key.to_string().expose_secret()
        ),
    )
    .expect("write age key");
    (path, public)
}

/// A new SSH key (`ed25519` or `rsa`) without passphrase at `dir/name`, made by `ssh-keygen`;
/// returns the private key's path and the public key line.
pub fn ssh_key(dir: &Path, name: &str, kind: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-N",
        "",
        "-C",
        &format!("{name}@test"),
        "-f",
    ])
    .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd
        .output()
        .expect("ssh-keygen runs (package openssh-client)");
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .expect("read .pub");
    (path, public.trim().to_string())
}

/// The identities of one key file.
pub fn ids(path: &Path) -> Identities {
    Identities::discover(Some(path)).expect("usable identity")
}

/// The secrets files of `env` under `dir`.
pub fn store(dir: &Path, env: &str) -> SecretsFile {
    SecretsFile::new(dir, env).expect("valid environment name")
}

/// A store of `env` under `dir`, created with `recipients` (public keys).
pub fn init(dir: &Path, env: &str, recipients: &[&str]) -> SecretsFile {
    let file = store(dir, env);
    let list = recipients
        .iter()
        .map(|r| Recipient::parse(r).expect("recipient"))
        .collect();
    file.init(list).expect("init");
    file
}

/// The names of the entries of `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
