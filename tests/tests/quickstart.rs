//! The quickstart example builds, and its `--list` shows the user's and the standard tasks.

use std::process::Command;

fn quickstart(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "quickstart", "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs")
}

#[test]
fn quickstart_list_shows_user_and_standard_tasks() {
    let out = quickstart(&["--list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "health",
        "Show uptime and free disk on every selected host.",
        "restart",
        "[roles: appnode; serial 2]",
        "Standard tasks (dm-tasks):",
        "facts",
        "ssh",
    ] {
        assert!(stdout.contains(line), "--list lacks {line:?}:\n{stdout}");
    }
}

#[test]
fn task_help_shows_its_arguments() {
    let out = quickstart(&["restart", "--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("<SERVICE>"), "{stdout}");
    assert!(stdout.contains("the systemd unit to restart"), "{stdout}");
    // Where a task runs is chosen by global flags before its name: its help says so.
    assert!(
        stdout.contains("-H appnode1 restart") && stdout.contains("-R appnode -E production"),
        "the task's help does not say where -H/-R/-E go:\n{stdout}"
    );
}

#[test]
fn shell_completions_include_the_tasks() {
    let out = quickstart(&["--completions", "bash"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("health") && stdout.contains("restart"),
        "{stdout}"
    );
}
