//! A passphrase-protected key is asked for once per run, however many hosts use it.

use std::io::Write;
use std::process::{Command, Stdio};

use dm_tests::*;

#[test]
fn encrypted_key_passphrase_is_asked_once_for_all_hosts() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[]), ("app3", &[])]);
    let key = fleet.dir().join("locked_key");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "open sesame",
            "-C",
            "locked",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    for m in fleet.machines() {
        m.exec_ok(&format!(
            "echo '{}' >> /root/.ssh/authorized_keys",
            public.trim()
        ));
    }
    let default_key = fleet.private_key().display().to_string();
    let inventory = fleet
        .inventory_toml()
        .replace(&default_key, &key.display().to_string());
    write(&fleet.dir().join("dm.toml"), &inventory);

    // `script` gives dm a terminal to ask on, as a user's shell would.
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("{} -H app1,app2,app3 describe", fabfile_bin().display()),
            "/dev/null",
        ])
        .current_dir(fleet.dir())
        .env("HOME", fleet.dir())
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    stdin
        .write_all(b"open sesame\n")
        .expect("type the passphrase");
    let output = child.wait_with_output().expect("dm ends");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.matches("Enter passphrase for key").count(),
        1,
        "asked not exactly once:\n{text}"
    );
    assert!(text.contains("3 hosts: 3 ok"), "{text}");
    assert!(
        !text.contains("open sesame"),
        "the passphrase was echoed:\n{text}"
    );
}
