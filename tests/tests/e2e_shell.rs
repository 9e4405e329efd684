//! `ssh SERVER` opens an interactive shell with a terminal on the server.

use dm_tests::*;

#[test]
fn ssh_task_opens_an_interactive_shell_with_a_terminal() {
    let fleet = fleet(&[("app1", &[])]);
    let run = Dm::new(&fleet)
        .args(["ssh", "app1"])
        .run_in_terminal(b"tty && echo HOST-$(hostname)-END; exit\n");
    let text = run.stdout();
    assert!(text.contains("HOST-app1-END"), "{text}");
    assert!(
        text.contains("/dev/pts/"),
        "no terminal on the server:\n{text}"
    );
}

#[test]
fn ssh_to_a_server_not_provisioned_yet_falls_back_to_root_and_says_so() {
    // The inventory logs in as `admin`, which only `provision` creates: right after `boot`,
    // `ssh SERVER` must still get in (as root), like provision does.
    let fleet = dm::testing::Fleet::builder()
        .machine("fresh1", &[])
        .user("admin")
        .boot()
        .expect("fleet boots");
    let run = Dm::new(&fleet)
        .args(["ssh", "fresh1"])
        .run_in_terminal(b"echo USER-$(id -un)-END; exit\n");
    let text = run.stdout();
    assert!(text.contains("USER-root-END"), "{text}");
    assert!(
        text.contains("user `admin` was refused (not provisioned yet?); logging in as root"),
        "{text}"
    );
}

#[test]
fn ssh_exits_with_the_shells_status_and_prints_no_summary() {
    // Like `ssh`: the shell's last status is the exit code, and an interactive session is not
    // a run with hosts to summarise.
    let fleet = fleet(&[("app1", &[])]);
    for (input, code) in [
        (&b"echo SHELL-RAN; exit 3\n"[..], 3),
        (b"echo SHELL-RAN; exit\n", 0),
    ] {
        let run = Dm::new(&fleet).args(["ssh", "app1"]).run_in_terminal(input);
        let text = run.stdout();
        assert!(text.contains("SHELL-RAN"), "{text}");
        assert_eq!(run.code(), code, "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("ssh: ")
                || l.trim_start().starts_with("local ")
                || l.contains("the shell ended with")),
            "a summary after the shell:\n{text}"
        );
    }
}
