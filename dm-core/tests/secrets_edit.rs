//! `secrets edit` with fake editors (shell scripts): the round trip, and that no plaintext is left
//! behind and the original is kept when the editor fails or writes something invalid.

use crate::secrets_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dm_core::Error;
use dm_core::secrets::{EditOptions, EditOutcome, SecretsFile, edit};
use secrets_support::*;

/// A store with `password = "old-s3cret-value"`, a key for it, and a private temp parent.
struct Setup {
    dir: tempfile::TempDir,
    bin: tempfile::TempDir,
    file: SecretsFile,
    key: PathBuf,
    temp: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = age_key(dir.path(), "alice.key");
    let file = init(dir.path(), "production", &[&public]);
    file.set(&ids(&key), "password", "old-s3cret-value")
        .expect("set");
    let temp = dir.path().join("tmp");
    std::fs::create_dir(&temp).expect("mkdir tmp");
    Setup {
        dir,
        bin: tempfile::tempdir().expect("tempdir"),
        file,
        key,
        temp,
    }
}

impl Setup {
    /// An executable editor script with `body` (the file to edit is `$1`).
    fn editor(&self, name: &str, body: &str) -> String {
        // Outside `dir`: the scripts may mention the secret, the scan must not find them.
        let path = self.bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write editor");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    fn opts(&self, editor: String) -> EditOptions {
        EditOptions {
            editor,
            temp_parent: Some(self.temp.clone()),
            ask_again: None,
        }
    }

    fn encrypted(&self) -> Vec<u8> {
        std::fs::read(self.file.path()).expect("read")
    }

    /// Asserts that the private temp directory is gone, with everything in it.
    fn assert_no_plaintext(&self) {
        assert_eq!(
            entries(&self.temp),
            Vec::<String>::new(),
            "plaintext left behind"
        );
        let mut found = Vec::new();
        scan(self.dir.path(), &mut found);
        assert!(found.is_empty(), "a file holds the plaintext: {found:?}");
    }
}

/// Every file under `dir` whose content has the secret in clear.
fn scan(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            scan(&path, found);
        } else if std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).contains("s3cret"))
            .unwrap_or(false)
        {
            found.push(path);
        }
    }
}

#[tokio::test]
async fn edit_round_trip_saves_the_change_and_leaves_no_plaintext() {
    let s = setup();
    // The editor also records the mode of the copy and of its directory while it is open.
    let modes = s.dir.path().join("modes");
    let editor = s.editor(
        "ed.sh",
        &format!(
            "stat -c %a \"$1\" \"$(dirname \"$1\")\" > {m}\nsed -i 's/old-s3cret-value/new-s3cret-value/' \"$1\"\necho 'api = \"t0ken-s3cret\"' >> \"$1\"",
            m = modes.display()
        ),
    );
    let outcome = edit(&s.file, &ids(&s.key), &s.opts(editor))
        .await
        .expect("edit");
    assert_eq!(outcome, EditOutcome::Saved);
    let doc = s.file.read(&ids(&s.key)).expect("read");
    assert_eq!(doc.get("password"), Some("new-s3cret-value"));
    assert_eq!(doc.get("api"), Some("t0ken-s3cret"));
    assert_eq!(
        std::fs::read_to_string(&modes).expect("modes"),
        "600\n700\n",
        "the copy is 0600 in a 0700 directory"
    );
    s.assert_no_plaintext();
}

#[tokio::test]
async fn unchanged_edit_does_not_rewrite_the_file() {
    let s = setup();
    let before = s.encrypted();
    let editor = s.editor("noop.sh", "true");
    let outcome = edit(&s.file, &ids(&s.key), &s.opts(editor))
        .await
        .expect("edit");
    assert_eq!(outcome, EditOutcome::Unchanged);
    assert_eq!(s.encrypted(), before, "not re-encrypted");
    s.assert_no_plaintext();
}

#[tokio::test]
async fn failing_editor_keeps_the_original_and_leaves_no_plaintext() {
    let s = setup();
    let before = s.encrypted();
    // It changes the copy, then fails: nothing of its change may be saved.
    let editor = s.editor(
        "fail.sh",
        "echo 'x = \"y\"' >> \"$1\"\ncp \"$1\" \"$1.bak\"\nexit 1",
    );
    let err = edit(&s.file, &ids(&s.key), &s.opts(editor.clone()))
        .await
        .expect_err("editor failed");
    assert!(matches!(err, Error::SecretsEditor { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&editor) && msg.contains("exited with status 1"),
        "{msg}"
    );
    assert!(msg.contains("was not changed"), "{msg}");
    assert_eq!(s.encrypted(), before);
    s.assert_no_plaintext();
}

#[tokio::test]
async fn missing_editor_is_reported_and_nothing_changes() {
    let s = setup();
    let before = s.encrypted();
    let err = edit(
        &s.file,
        &ids(&s.key),
        &s.opts("no-such-editor-dm-test".into()),
    )
    .await
    .expect_err("no editor");
    assert!(err.to_string().contains("$EDITOR"), "{err}");
    assert_eq!(s.encrypted(), before);
    s.assert_no_plaintext();
}

#[tokio::test]
async fn invalid_toml_keeps_the_original_names_the_line_and_never_the_secret() {
    let s = setup();
    let before = s.encrypted();
    let editor = s.editor(
        "bad.sh",
        "printf 'ok = \"1\"\\nbroken = \"s3cret-unterminated\\n' >> \"$1\"",
    );
    let err = edit(&s.file, &ids(&s.key), &s.opts(editor))
        .await
        .expect_err("invalid");
    let Error::SecretsInvalid { line, .. } = &err else {
        panic!("expected SecretsInvalid, got {err:?}");
    };
    // `set` wrote the comment line and the password line; the edit appended two more.
    assert_eq!(*line, 4, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("nothing was saved"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    assert_eq!(s.encrypted(), before);
    s.assert_no_plaintext();

    let editor = s.editor("int.sh", "echo 'port = 5432' >> \"$1\"");
    let err = edit(&s.file, &ids(&s.key), &s.opts(editor))
        .await
        .expect_err("not a string");
    assert!(err.to_string().contains("`port` is an integer"), "{err}");
    assert_eq!(s.encrypted(), before);
    s.assert_no_plaintext();
}

#[tokio::test]
async fn invalid_edit_can_be_edited_again() {
    let s = setup();
    // First round: break it. Second round (the copy still holds the broken text): fix it.
    let editor = s.editor(
        "twice.sh",
        "if grep -q broken \"$1\"; then sed -i 's/^broken = .*/fixed = \"yes\"/' \"$1\"; else echo 'broken = ' >> \"$1\"; fi",
    );
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let mut opts = s.opts(editor);
    opts.ask_again = Some(Box::new(move |_err: &Error| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    }));
    let outcome = edit(&s.file, &ids(&s.key), &opts)
        .await
        .expect("second edit valid");
    assert_eq!(outcome, EditOutcome::Saved);
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    let doc = s.file.read(&ids(&s.key)).expect("read");
    assert_eq!(doc.get("fixed"), Some("yes"));
    assert_eq!(doc.get("password"), Some("old-s3cret-value"));
    s.assert_no_plaintext();
}

#[tokio::test]
async fn edit_with_a_key_that_cannot_decrypt_opens_no_editor() {
    let s = setup();
    let (other, _) = age_key(s.dir.path(), "other.key");
    let marker = s.dir.path().join("editor-ran");
    let editor = s.editor("mark.sh", &format!("touch {}", marker.display()));
    let err = edit(&s.file, &ids(&other), &s.opts(editor))
        .await
        .expect_err("wrong key");
    assert!(matches!(err, Error::SecretsWrongKey { .. }), "{err:?}");
    assert!(!marker.exists(), "the editor must not run");
    s.assert_no_plaintext();
}
