//! `secrets edit` when dm is told to stop (SIGTERM) while the editor is open: the editor is
//! stopped, the plaintext copy removed, the original kept. Alone in its test binary, because it
//! signals its own process.

use crate::secrets_support;

use std::time::{Duration, Instant};

use dm_core::Error;
use dm_core::secrets::{EditOptions, edit};
use secrets_support::*;

#[tokio::test]
async fn sigterm_while_editing_removes_the_plaintext_and_keeps_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = age_key(dir.path(), "k");
    let file = init(dir.path(), "production", &[&public]);
    file.set(&ids(&key), "password", "s3cret-under-edit")
        .expect("set");
    let before = std::fs::read(file.path()).expect("read");
    let temp = dir.path().join("tmp");
    std::fs::create_dir(&temp).expect("mkdir");
    let started = dir.path().join("started");
    let editor = dir.path().join("slow.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 60\n",
            started.display()
        ),
    )
    .expect("write editor");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let opts = EditOptions {
        editor: editor.display().to_string(),
        temp_parent: Some(temp.clone()),
        ask_again: None,
    };

    let ids = ids(&key);
    let editing = edit(&file, &ids, &opts);
    let stopper = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !started.exists() {
            assert!(Instant::now() < deadline, "the editor never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            entries(&temp).len(),
            1,
            "the copy's directory exists while editing"
        );
        let me = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &me])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    let (result, ()) = tokio::join!(editing, stopper);
    let err = result.expect_err("stopped");
    assert!(matches!(err, Error::SecretsEditor { .. }), "{err:?}");
    assert!(err.to_string().contains("SIGTERM"), "{err}");
    assert_eq!(
        entries(&temp),
        Vec::<String>::new(),
        "plaintext left behind"
    );
    assert_eq!(std::fs::read(file.path()).expect("read"), before);

    // The editor was stopped, not left running.
    let pid = std::fs::read_to_string(&started).expect("pid");
    let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
    assert!(!alive, "editor still running");
}
