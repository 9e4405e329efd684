//! The secrets store without machines: set/show round trips, recipients added and removed, SSH
//! keys as recipients, and the errors for a wrong key and a damaged file.

use crate::secrets_support;

use dm_core::Error;
use dm_core::secrets::{Identities, Recipient, SecretDoc};
use secrets_support::*;

#[test]
fn set_then_show_round_trip_and_the_file_holds_no_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = age_key(dir.path(), "alice.key");
    let file = init(dir.path(), "production", &[&public]);
    let alice = ids(&key);
    assert!(file.read(&alice).expect("read new").is_empty());

    file.set(
        &alice,
        "postgres_password",
        "pw with \"quotes\" and\nnewline",
    )
    .expect("set");
    file.set(&alice, "api_token", "tok-123456").expect("set 2");
    file.set(&alice, "postgres_password", "changed-pw-987")
        .expect("replace");

    let doc = file.read(&alice).expect("read");
    assert_eq!(doc.get("postgres_password"), Some("changed-pw-987"));
    assert_eq!(doc.get("api_token"), Some("tok-123456"));
    assert_eq!(doc.keys(), vec!["api_token", "postgres_password"]);
    // The comment `init` wrote survives `set`.
    assert!(
        doc.text()
            .starts_with("# Secrets of environment `production`"),
        "{}",
        doc.text()
    );

    let on_disk = std::fs::read_to_string(file.path()).expect("armored text");
    assert!(
        on_disk.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{on_disk}"
    );
    assert!(!on_disk.contains("changed-pw-987") && !on_disk.contains("postgres_password"));
    assert_eq!(
        entries(&dir.path().join("secrets")),
        vec!["production.age", "production.recipients"],
        "no temporary files left"
    );
}

#[test]
fn init_refuses_to_overwrite_and_needs_a_recipient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, public) = age_key(dir.path(), "k");
    let file = init(dir.path(), "staging", &[&public]);
    let before = std::fs::read(file.path()).expect("read");
    let again = file.init(vec![Recipient::parse(&public).expect("r")]);
    assert!(
        matches!(again, Err(Error::SecretsExist { .. })),
        "{again:?}"
    );
    assert_eq!(std::fs::read(file.path()).expect("read"), before);

    let other = store(dir.path(), "dev");
    assert!(other.init(Vec::new()).is_err());
    assert!(!other.path().exists());
}

#[test]
fn added_recipient_can_decrypt_and_removed_one_no_longer_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice_key, alice_pub) = age_key(dir.path(), "alice.key");
    let (bob_key, bob_pub) = age_key(dir.path(), "bob.key");
    let file = init(dir.path(), "production", &[&alice_pub]);
    let (alice, bob) = (ids(&alice_key), ids(&bob_key));
    file.set(&alice, "db", "s3cr3t-db-pass").expect("set");

    assert!(matches!(
        file.read(&bob),
        Err(Error::SecretsWrongKey { .. })
    ));

    file.add_recipient(&alice, Recipient::parse(&bob_pub).expect("bob"))
        .expect("add bob");
    assert_eq!(
        file.read(&bob).expect("bob reads").get("db"),
        Some("s3cr3t-db-pass")
    );
    let listed: Vec<String> = file
        .recipients()
        .expect("list")
        .iter()
        .map(|r| r.key())
        .collect();
    assert_eq!(listed, vec![alice_pub.clone(), bob_pub.clone()]);

    // Adding the same key twice is refused and changes nothing.
    let before = std::fs::read(file.path()).expect("read");
    assert!(
        file.add_recipient(&alice, Recipient::parse(&bob_pub).expect("bob"))
            .is_err()
    );
    assert_eq!(std::fs::read(file.path()).expect("read"), before);

    // Bob, now a recipient, removes Alice's... no: Alice removes Bob.
    let removed = file.remove_recipient(&alice, &bob_pub).expect("remove bob");
    assert_eq!(removed.key(), bob_pub);
    assert!(matches!(
        file.read(&bob),
        Err(Error::SecretsWrongKey { .. })
    ));
    assert_eq!(
        file.read(&alice).expect("alice").get("db"),
        Some("s3cr3t-db-pass")
    );

    // The last recipient cannot be removed.
    assert!(file.remove_recipient(&alice, &alice_pub).is_err());
}

#[test]
fn wrong_key_error_names_the_file_the_keys_tried_and_how_to_be_added() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, alice_pub) = age_key(dir.path(), "alice.key");
    let (mallory_key, mallory_pub) = age_key(dir.path(), "mallory.key");
    let file = init(dir.path(), "production", &[&alice_pub]);
    let before = std::fs::read(file.path()).expect("read");

    let err = file.read(&ids(&mallory_key)).expect_err("not a recipient");
    let msg = err.to_string();
    assert!(msg.contains(&file.path().display().to_string()), "{msg}");
    assert!(
        msg.contains(&mallory_key.display().to_string()),
        "names the key tried: {msg}"
    );
    assert!(
        msg.contains(&mallory_pub),
        "gives the public key to hand over: {msg}"
    );
    assert!(msg.contains("secrets recipients production add"), "{msg}");

    // A write with the wrong key is refused before anything is written.
    assert!(file.set(&ids(&mallory_key), "x", "y").is_err());
    assert_eq!(std::fs::read(file.path()).expect("read"), before);
}

#[test]
fn damaged_file_gives_a_clear_error_and_is_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = age_key(dir.path(), "k");
    let file = init(dir.path(), "production", &[&public]);
    let alice = ids(&key);
    file.set(&alice, "a", "value-one-two").expect("set");

    // Flip one character in the body of the armored file (not in the markers).
    let mut text = std::fs::read_to_string(file.path()).expect("read");
    let body_start = text.find('\n').expect("newline") + 1;
    let at = body_start + 40;
    let flipped = if &text[at..at + 1] == "A" { "B" } else { "A" };
    text.replace_range(at..at + 1, flipped);
    std::fs::write(file.path(), &text).expect("damage");

    let err = file.read(&alice).expect_err("damaged");
    assert!(matches!(err, Error::SecretsCorrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&file.path().display().to_string()), "{msg}");
    assert!(msg.contains("damaged"), "{msg}");

    // Nothing that needs to decrypt it writes it.
    assert!(file.set(&alice, "b", "c").is_err());
    let (_, bob) = age_key(dir.path(), "bob");
    assert!(
        file.add_recipient(&alice, Recipient::parse(&bob).expect("r"))
            .is_err()
    );
    assert_eq!(std::fs::read_to_string(file.path()).expect("read"), text);
    assert_eq!(file.recipients().expect("list").iter().count(), 1);

    // Garbage and truncation are damage too.
    std::fs::write(file.path(), "hello, not age\n").expect("garbage");
    assert!(matches!(
        file.read(&alice),
        Err(Error::SecretsCorrupt { .. })
    ));
    std::fs::write(file.path(), &text[..text.len() / 2]).expect("truncate");
    assert!(matches!(
        file.read(&alice),
        Err(Error::SecretsCorrupt { .. })
    ));
}

#[test]
fn ssh_keys_are_recipients_and_identities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ed_key, ed_pub) = ssh_key(dir.path(), "id_ed25519", "ed25519");
    let (rsa_key, rsa_pub) = ssh_key(dir.path(), "id_rsa", "rsa");
    // One recipient given as its .pub file, as on the command line.
    let from_file = Recipient::from_arg(&format!("{}.pub", rsa_key.display())).expect("pub file");
    assert_eq!(from_file.line(), rsa_pub);
    let file = store(dir.path(), "production");
    file.init(vec![Recipient::parse(&ed_pub).expect("ed25519"), from_file])
        .expect("init");
    assert_eq!(
        file.recipients()
            .expect("list")
            .iter()
            .next()
            .and_then(|r| r.comment().map(str::to_string)),
        Some("id_ed25519@test".to_string())
    );

    file.set(&ids(&ed_key), "token", "ssh-encrypted-token")
        .expect("set with ed25519");
    assert_eq!(
        file.read(&ids(&rsa_key))
            .expect("rsa decrypts")
            .get("token"),
        Some("ssh-encrypted-token")
    );
    // Removing by the key's comment.
    file.remove_recipient(&ids(&ed_key), "id_rsa@test")
        .expect("remove by comment");
    assert!(matches!(
        file.read(&ids(&rsa_key)),
        Err(Error::SecretsWrongKey { .. })
    ));
    assert_eq!(
        file.read(&ids(&ed_key)).expect("ed").get("token"),
        Some("ssh-encrypted-token")
    );
}

#[test]
fn bad_recipients_and_identities_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = age_key(dir.path(), "k");
    let secret = std::fs::read_to_string(&key).expect("read");
    let secret_line = secret.lines().last().expect("line");
    let err = Recipient::parse(secret_line).expect_err("private key");
    assert!(
        err.contains("private key") && !err.contains(secret_line),
        "{err}"
    );

    let bogus = dir.path().join("bogus.key");
    std::fs::write(&bogus, "just some text\n").expect("write");
    let err = Identities::discover(Some(&bogus)).expect_err("not a key");
    assert!(
        err.to_string().contains(&bogus.display().to_string()),
        "{err}"
    );

    let none = Identities::from_files(&[]).expect("empty");
    let (_, public) = age_key(dir.path(), "k2");
    let file = init(dir.path(), "production", &[&public]);
    let err = file.read(&none).expect_err("no identity");
    assert!(matches!(err, Error::SecretsNoIdentity { .. }), "{err:?}");
    assert!(err.to_string().contains("DM_AGE_IDENTITY"), "{err}");
}

#[test]
fn values_must_be_strings_and_errors_never_quote_them() {
    let p = std::path::Path::new("secrets/production.age");
    let err = SecretDoc::parse("pin = 424242\n", p).expect_err("integer");
    assert!(
        err.to_string().contains("secrets/production.age:1:7"),
        "{err}"
    );
    assert!(!err.to_string().contains("424242"), "{err}");
    let err =
        SecretDoc::parse("a = \"x\"\npassword = \"unterminated-s3cret\n", p).expect_err("syntax");
    assert!(err.to_string().contains(":2:"), "{err}");
    assert!(!err.to_string().contains("unterminated-s3cret"), "{err}");
}
