//! README's first command, `scripts/demo`, keeps working: boot local machines and drive the
//! quickstart fabfile against them.

use std::process::Command;

#[test]
fn demo_boots_machines_and_runs_the_quickstart_tasks() {
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "quickstart"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(built.success());
    let bin_dir = dm_tests::fabfile_bin()
        .parent()
        .expect("target dir")
        .to_path_buf();
    let out = Command::new(bin_dir.join("demo"))
        .arg(bin_dir.join("quickstart"))
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("health: 3 hosts: 3 ok"), "{stderr}");
    assert!(stderr.contains("restart: 2 hosts: 2 ok"), "{stderr}");
    assert!(stdout.contains("[appnode2] debian 12"), "{stdout}");
}
