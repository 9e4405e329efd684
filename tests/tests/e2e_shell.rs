//! `ssh SERVER` opens an interactive shell with a terminal on the server.

use std::time::Duration;

use dm_tests::*;

#[test]
fn ssh_task_opens_an_interactive_shell_with_a_terminal() {
    let fleet = fleet(&[("app1", &[])]);
    let run = Dm::new(&fleet)
        .args(["ssh", "app1"])
        .run_in_terminal(b"tty && echo HOST-$(hostname)-END; exit\n", Duration::ZERO);
    let text = run.stdout();
    assert!(text.contains("HOST-app1-END"), "{text}");
    assert!(
        text.contains("/dev/pts/"),
        "no terminal on the server:\n{text}"
    );
}
