//! Secrets for tests: an age key and an environment's secrets file made with the fabfile's own
//! `secrets` command, as a user would.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Run, fabfile_bin};

/// The fabfile's `secrets ...` command in `dir` (also its HOME), with `stdin`, decrypting with
/// `key` when given.
pub fn secrets_cli(dir: &Path, key: Option<&Path>, args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(fabfile_bin());
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env_remove("DM_ENV")
        .env_remove("DM_INVENTORY")
        .env_remove("DM_AGE_IDENTITY")
        .arg("secrets")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = key {
        cmd.env("DM_AGE_IDENTITY", key);
    }
    let mut child = cmd.spawn().expect("start the fabfile");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("fabfile ends");
    let mut all = vec!["secrets".to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    Run::from_output(all, output)
}

/// Makes an age key `dir/age.key` and an empty secrets file for `environment` in `dir/secrets/`
/// encrypted to it; returns the key's path.
pub fn init_secrets(dir: &Path, environment: &str) -> PathBuf {
    let key = dir.join("age.key");
    let keygen = secrets_cli(
        dir,
        None,
        &["keygen", "--output", key.to_str().expect("utf8")],
        "",
    );
    keygen.assert_success();
    let public = keygen.stdout().trim().to_string();
    secrets_cli(
        dir,
        None,
        &["init", environment, "--recipient", &public],
        "",
    )
    .assert_success();
    key
}

/// Sets secret `name` of `environment` to `value`.
pub fn set_secret(dir: &Path, key: &Path, environment: &str, name: &str, value: &str) {
    secrets_cli(
        dir,
        Some(key),
        &["set", environment, name],
        &format!("{value}\n"),
    )
    .assert_success();
}
