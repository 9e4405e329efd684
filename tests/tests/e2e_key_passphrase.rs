//! A passphrase-protected key is asked for once per run, however many hosts use it.

use std::process::Command;

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

    // A terminal to ask on, as a user's shell would give; the passphrase is typed once the
    // prompt is shown.
    let mut terminal = Dm::new(&fleet)
        .args(["-H", "app1,app2,app3", "describe"])
        .start_in_terminal();
    terminal
        .wait_for("Enter passphrase for key")
        .type_text(b"open sesame\n");
    let run = terminal.finish();
    let text = run.stdout();
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
