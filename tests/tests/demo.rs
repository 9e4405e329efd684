//! README's first command, `scripts/demo`, keeps working: a first deployment of the webapp
//! example on local machines (boot, provision, launch) that the load balancer then serves from
//! both app nodes; after this host reboots, running it again brings the same machines back with
//! their data; and `--destroy` removes every machine.
//!
//! It runs on a copy of the example in a test project's directory (so a user's own demo machines
//! are never touched, two checkouts' test runs never share it, and a killed run's machines are
//! swept), with its own HOME for the operator key and known_hosts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dm::testing::LocalProject;
use dm_machines::local::LocalMachines;
use dm_tests::simulate_host_reboot;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the repository")
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Runs `scripts/demo` with `args`, with HOME in `home` and cargo's own directories unchanged.
fn demo(home: &Path, args: &[&str]) -> Output {
    let user_home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .unwrap_or_else(|| Path::new(&user_home).join(".cargo").into_os_string());
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .unwrap_or_else(|| Path::new(&user_home).join(".rustup").into_os_string());
    Command::new(repo_root().join("scripts/demo"))
        .args(args)
        .env("HOME", home)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .output()
        .expect("scripts/demo runs")
}

#[test]
fn demo_deploys_the_webapp_on_local_machines_and_destroys_them() {
    // The example is copied into a test project's directory (unique to this test run, removed
    // with its machines when the test ends or its process dies).
    let scratch = LocalProject::new().expect("a local project");
    let (project, home) = (scratch.dir().to_path_buf(), scratch.dir().join("home"));
    let example = repo_root().join("examples/webapp");
    for part in ["dm.toml", "secrets", "app"] {
        let from = example.join(part);
        if from.is_dir() {
            copy_dir(&from, &project.join(part));
        } else {
            std::fs::create_dir_all(&project).expect("mkdir");
            std::fs::copy(&from, project.join(part)).expect("copy dm.toml");
        }
    }
    std::fs::create_dir_all(&home).expect("home");
    let project_arg = project.to_str().expect("utf-8 path");

    let out = demo(&home, &["--project", project_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // After this host reboots, the demo brings the same machines back, data included.
    let after_reboot = out.status.success().then(|| {
        let machines = LocalMachines::new(&project).expect("the project's machines");
        for machine in machines.list().expect("listed") {
            simulate_host_reboot(&machine.id);
        }
        demo(&home, &["--project", project_arg])
    });
    // Always destroy, also when the deployment failed, before asserting anything.
    let destroyed = demo(&home, &["--project", project_arg, "--destroy"]);
    let left = std::fs::read_to_string(project.join("servers.state.toml")).unwrap_or_default();

    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for part in [
        "served by appnode1: hello from postgres",
        "served by appnode2: hello from postgres",
        "Boot, provision and launch of 4 servers took",
    ] {
        assert!(
            stdout.contains(part),
            "missing `{part}`:\n{stdout}\n{stderr}"
        );
    }
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("launch (dev): 4 hosts: 4 ok"), "{all}");

    let again = after_reboot.expect("ran after the first deployment succeeded");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr),
    );
    println!("after the reboot:\n{stdout}");
    assert!(again.status.success(), "{stdout}\n{stderr}");
    for part in [
        "lb1: is off, starting it",
        "db1: is off, starting it",
        "served by appnode1: hello from postgres",
        "served by appnode2: hello from postgres",
    ] {
        assert!(
            format!("{stdout}{stderr}").contains(part),
            "missing `{part}` after the reboot:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        destroyed.status.success(),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    assert!(!left.contains("[servers."), "destroy left records: {left}");
}
