//! Exit codes say what kind of thing went wrong, as the README documents them: a bad argument
//! (2) and a name the inventory does not know (3) are refused before anything acts, a host lost
//! in the middle of a step is unreachable (4), and a changed host key (5) can never be mistaken
//! for a network fault.

use std::time::{Duration, Instant};

use dm_tests::*;

#[test]
fn bad_names_given_to_tasks_are_refused_with_the_documented_codes() {
    let fleet = fleet(&[("app1", &[])]);

    let run = Dm::new(&fleet).args(["ssh", "app1;id"]).run();
    run.assert_code(3);
    run.assert_output_contains("unknown host `app1;id`");
    run.assert_output_contains("refused");

    let run = Dm::new(&fleet).args(["destroy", "app1;id", "--yes"]).run();
    run.assert_code(3);
    run.assert_output_contains("unknown server `app1;id`");

    let run = Dm::new(&fleet).args(["boot", "app;id"]).run();
    run.assert_code(2);
    run.assert_output_contains("invalid NAME `app;id`");
    run.assert_output_contains("is not a hostname");

    // Two ways to name one revision: refused by the parser, before any host is contacted.
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "deploy", "--branch", "main", "--tag", "v1"])
        .run();
    run.assert_code(2);
    run.assert_output_contains("cannot be used with");
    assert!(
        !run.stderr().contains("[app1]") && !run.stdout().contains("[app1]"),
        "deploy reached the host: {}",
        run.describe()
    );
}

#[test]
fn inventory_mistakes_in_names_and_standard_vars_name_their_line_and_key() {
    let fleet = fleet(&[("app1", &[])]);
    let base = fleet.inventory_toml();

    // A server name with a newline would write a second directive into an nginx upstream.
    let injected = format!("{base}\n[servers.\"app2\\nserver 10.0.0.9:80\"]\n");
    write(&fleet.dir().join("dm.toml"), &injected);
    let run = Dm::new(&fleet).args(["-H", "app1", "mark", "name"]).run();
    run.assert_code(3);
    run.assert_output_contains(&format!("dm.toml:{}:", injected.lines().count()));
    run.assert_output_contains("is not a hostname");

    // A wrong value in a standard library table fails when the inventory loads, not inside
    // `launch`, with the line and the key path.
    let wrong = format!(
        "{base}\n[vars.app]\nname = \"shop\"\n\n[vars.app.processes.web]\n\
         command = \"app:application\"\nkind = \"wgsi\"\n"
    );
    write(&fleet.dir().join("dm.toml"), &wrong);
    let run = Dm::new(&fleet).args(["-H", "app1", "mark", "vars"]).run();
    run.assert_code(3);
    run.assert_output_contains(&format!("dm.toml:{}:", wrong.lines().count()));
    run.assert_output_contains("vars.app.processes.web.kind");
    run.assert_output_contains("unknown variant `wgsi`");

    for name in ["name", "vars"] {
        let there = fleet.machine("app1").exec_ok(&format!(
            "test -e /tmp/dm-mark-{name} && echo yes || echo no"
        ));
        assert_eq!(
            there.trim(),
            "no",
            "the task ran despite bad input ({name})"
        );
    }

    // Dotted names reach into tables.
    write(
        &fleet.dir().join("dm.toml"),
        &format!("{base}\n[vars.app]\nname = \"shop\"\n"),
    );
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "show-var", "app.name"])
        .run();
    run.assert_success();
    run.assert_output_contains("app.name=\"shop\"");
}

#[test]
fn host_powered_off_inside_a_step_is_unreachable_not_failed() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let child = Dm::new(&fleet)
        .args([
            "--keepalive",
            "1",
            "-H",
            "app1,app2",
            "slow-step",
            "--seconds",
            "60",
        ])
        .spawn();
    // Wait until app2's operation runs, i.e. dm is inside step.apply() there.
    let start = Instant::now();
    while !fleet
        .machine("app2")
        .exec("test -e /tmp/dm-step-started")
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the step never started on app2"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    fleet.machine("app2").power_off();
    // app1 goes on sleeping: end it from outside so the run finishes.
    fleet.machine("app1").exec_ok("pkill -x sleep || true");
    let output = wait_with_deadline(child, Duration::from_secs(120), &["slow-step".into()]);
    let run = Run::from_output(vec!["slow-step".into()], output);
    assert!(
        run.stderr()
            .lines()
            .any(|l| l.trim_start().starts_with("app2") && l.contains("unreachable")),
        "{}",
        run.describe()
    );
}

#[test]
fn changed_host_key_has_its_own_exit_code() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    Dm::new(&fleet)
        .args(["-H", "app1,app2", "mark", "before"])
        .run()
        .assert_success();
    fleet.machine("app1").regenerate_host_key();
    // app2 is fine and app1 may be intercepted: the code says interception, not "failed".
    let run = Dm::new(&fleet)
        .args(["-H", "app1,app2", "mark", "after"])
        .run();
    run.assert_code(5);
    run.assert_output_contains("HAS CHANGED");
    run.assert_output_contains("1 untrusted (host key changed)");
    // A task that connects on its own (`ssh`) says the same.
    let run = Dm::new(&fleet).args(["ssh", "app1"]).run();
    run.assert_code(5);
}

#[test]
fn json_report_into_a_closed_pipe_does_not_panic() {
    // `dm --json | head` where head has already gone: every write meets a broken pipe.
    let fleet = fleet(&[("app1", &[])]);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let dir = fleet.dir();
    let mut cmd = std::process::Command::new(fabfile_bin());
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .args(["--json", "-H", "app1", "mark", "pipe"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped());
    let output = wait_with_deadline(
        cmd.spawn().expect("start the fabfile"),
        Duration::from_secs(120),
        &["--json".into()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
