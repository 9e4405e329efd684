//! A non-root login user gets root through sudo with a password that is never shown.

use dm_tests::*;

fn deploy_inventory(fleet: &dm::testing::Fleet) {
    let text = fleet
        .inventory_toml()
        .replace("[servers.app1]\n", "[servers.app1]\nuser = \"deploy\"\n");
    write(&fleet.dir().join("dm.toml"), &text);
}

#[test]
fn non_root_user_gets_root_through_sudo_with_the_password() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    // A password of this run alone, so finding it anywhere is this run's leak (the harness's
    // own `deploy` password is in its source and could be found for other reasons).
    let password = unique_password("deploy");
    let machine = fleet.machine("app1");
    machine.exec_ok(&format!(
        "printf 'deploy:%s\\n' {} | chpasswd",
        dm_core::shell_quote(&password)
    ));
    let run = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", &password)
        .args(["-v", "-H", "app1", "whoami"])
        .run();
    run.assert_success();
    assert_eq!(run.host_lines("app1"), ["user=deploy sudo=root"]);
    assert!(
        !run.stdout().contains(&password) && !run.stderr().contains(&password),
        "the sudo password was printed:\n{}",
        run.describe()
    );
    assert_not_on_machine(machine, &password);
}

#[test]
fn sudo_without_a_password_fails_with_a_clear_message() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    let run = Dm::new(&fleet).args(["-H", "app1", "whoami"]).run();
    run.assert_code(1);
    run.assert_output_contains("app1: sudo needs a password for `deploy`");
    run.assert_output_contains("--ask-sudo-pass");
}

#[test]
fn a_wrong_sudo_password_fails_on_that_host() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    let run = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", "wrong")
        .args(["-H", "app1", "whoami"])
        .run();
    run.assert_code(1);
    run.assert_output_contains("incorrect password");
    assert!(!run.stderr().contains("wrong\n"), "{}", run.describe());
}

/// The lockout policy of many hardened servers: three failed passwords in a row lock the
/// account (`pam_faillock deny=3`, placed as its manual page says).
const FAILLOCK_COMMON_AUTH: &str = "auth requisite pam_faillock.so preauth deny=3
auth [success=2 default=ignore] pam_unix.so nullok
auth [default=die] pam_faillock.so authfail deny=3
auth requisite pam_deny.so
auth required pam_permit.so
auth sufficient pam_faillock.so authsucc
";

#[test]
fn a_wrong_sudo_password_costs_one_try_not_three() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    let machine = fleet.machine("app1");
    machine.exec_ok(&format!(
        "printf '%s' {} > /etc/pam.d/common-auth && faillock --user deploy --reset",
        dm_core::shell_quote(FAILLOCK_COMMON_AUTH)
    ));
    // The failures pam_faillock recorded for deploy, seen from outside.
    let failures = || {
        machine
            .exec_ok("faillock --user deploy | grep -c ' V$' || true")
            .trim()
            .to_string()
    };
    let run = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", "wrong")
        .args(["-H", "app1", "whoami"])
        .run();
    run.assert_code(1);
    run.assert_output_contains("app1: sudo refused the password for `deploy`");
    assert_eq!(
        failures(),
        "1",
        "a wrong password was tried more than once:\n{}",
        machine.exec_ok("faillock --user deploy")
    );
    // One wrong run costs one try: the account is not locked, the right password works (and
    // clears the count).
    let right = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", "deploy-password")
        .args(["-H", "app1", "whoami"])
        .run();
    right.assert_success();
    assert_eq!(right.host_lines("app1"), ["user=deploy sudo=root"]);
    assert_eq!(failures(), "0");
    // Nothing of the helper's private directory is left behind.
    assert_eq!(
        machine
            .exec_ok("find /tmp -maxdepth 1 -user deploy -name 'tmp.*' | wc -l")
            .trim(),
        "0"
    );
}

/// A password no other test, file or log uses, so finding it anywhere is a leak of this run's.
fn unique_password(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{what}-{}-{nanos:09}-pw", std::process::id())
}

/// Creates `admin` on the machine, whose sudo asks for no password (what `provision` creates),
/// and who logs in with the fleet's key.
fn add_nopasswd_admin(machine: &dm::testing::Machine) {
    machine.exec_ok(
        "useradd -m -s /bin/bash admin && \
         echo 'admin ALL=(ALL:ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin && \
         chmod 0440 /etc/sudoers.d/admin && \
         install -d -m 700 -o admin -g admin /home/admin/.ssh && \
         install -m 600 -o admin -g admin /root/.ssh/authorized_keys /home/admin/.ssh/",
    );
}

/// Panics naming where `secret` was found on `machine`: in a file of the places dm writes or
/// logs to, or in the journal (sudo logs every command line there).
fn assert_not_on_machine(machine: &dm::testing::Machine, secret: &str) {
    let files = machine.exec_ok(&format!(
        "grep -rlsF -- {} /etc /home /root /srv /tmp /var /run || true",
        dm_core::shell_quote(secret)
    ));
    assert_eq!(
        files.trim(),
        "",
        "files on {} hold the password",
        machine.name()
    );
    let journal = machine.exec_ok(&format!(
        "journalctl --no-pager -o cat | grep -cF -- {} || true",
        dm_core::shell_quote(secret)
    ));
    assert_eq!(
        journal.trim(),
        "0",
        "the journal of {} holds the password",
        machine.name()
    );
}

#[test]
fn a_known_password_reaches_only_a_sudo_that_asks_for_it() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let password = unique_password("sudo");
    // app1's admin needs no password; app2's deploy needs this run's unique one.
    add_nopasswd_admin(fleet.machine("app1"));
    fleet.machine("app2").exec_ok(&format!(
        "printf 'deploy:%s\\n' {} | chpasswd",
        dm_core::shell_quote(&password)
    ));
    let text = fleet
        .inventory_toml()
        .replace("[servers.app1]\n", "[servers.app1]\nuser = \"admin\"\n")
        .replace("[servers.app2]\n", "[servers.app2]\nuser = \"deploy\"\n");
    write(&fleet.dir().join("dm.toml"), &text);
    let content = "first line\nsecond line\n";
    let local = fleet.dir().join("upload.txt");
    write(&local, content);

    let upload = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", &password)
        .args(["-v", "-H", "app1,app2", "upload-root"])
        .args([local.to_str().expect("utf8"), "/srv/uploaded.txt"])
        .run();
    upload.assert_success();
    // A step's script reads its input through sudo as well.
    let step = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", &password)
        .args(["-v", "-H", "app1,app2", "ops-fail-on", "nohost"])
        .run();
    step.assert_success();

    for name in ["app1", "app2"] {
        let machine = fleet.machine(name);
        assert_eq!(
            machine.read_file("/srv/uploaded.txt"),
            content,
            "the file uploaded through sudo on {name}"
        );
        assert_eq!(machine.read_file("/root/ops-first"), "first\n", "{name}");
        assert_eq!(machine.read_file("/root/ops-third"), "third\n", "{name}");
        assert_not_on_machine(machine, &password);
    }
    for run in [&upload, &step] {
        assert!(
            !run.stdout().contains(&password) && !run.stderr().contains(&password),
            "the sudo password was printed:\n{}",
            run.describe()
        );
    }
}

/// Every process's command line on `machine`, as the unprivileged `nobody` reads them (what
/// `ps` shows any local user).
fn command_lines_seen_by_nobody(machine: &dm::testing::Machine) -> String {
    machine.exec_ok(
        "runuser -u nobody -- sh -c 'for f in /proc/[0-9]*/cmdline; do tr \"\\0\" \" \" < \"$f\"; echo; done 2>/dev/null'",
    )
}

/// Waits (with a deadline) until `path` exists on `machine`, or `child` ended.
fn wait_for_file(machine: &dm::testing::Machine, path: &str, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !machine
        .root_dir()
        .join(path.trim_start_matches('/'))
        .exists()
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dm ended ({status}) before {path} appeared");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits for `child` to end, killing it (and failing) after a deadline.
fn finish(mut child: std::process::Child) -> Run {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("dm did not finish within its deadline");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("dm's output");
    Run::from_output(vec![], output)
}

#[test]
fn env_values_reach_no_command_line_and_no_log() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    let machine = fleet.machine("app1");
    let value = unique_password("env-value");
    for sudo in [false, true] {
        machine.exec_ok("rm -f /var/tmp/dm-env-started /var/tmp/dm-env-go");
        let mut dm = Dm::new(&fleet)
            .env("DM_SUDO_PASSWORD", dm::testing::DEPLOY_PASSWORD)
            .args(["-H", "app1", "env-wait", &value]);
        if sudo {
            dm = dm.args(["--sudo"]);
        }
        let mut child = dm.spawn();
        wait_for_file(machine, "/var/tmp/dm-env-started", &mut child);
        let seen = command_lines_seen_by_nobody(machine);
        machine.exec_ok("touch /var/tmp/dm-env-go");
        let run = finish(child);
        run.assert_success();
        assert!(
            !seen.contains(&value),
            "sudo={sudo}: another user sees the value in a command line:\n{seen}"
        );
        run.assert_output_contains(&format!("length={}", value.len()));
    }
    assert_not_on_machine(machine, &value);
}

/// Every process's command line on this machine, the controller (what `ps` shows its users).
fn controller_command_lines() -> String {
    let mut lines = String::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            lines.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
            lines.push('\n');
        }
    }
    lines
}

#[test]
fn ask_sudo_pass_asks_once_on_the_terminal_and_the_password_goes_nowhere_else() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let password = unique_password("asked");
    let text = fleet
        .inventory_toml()
        .replace("[servers.app1]\n", "[servers.app1]\nuser = \"deploy\"\n")
        .replace("[servers.app2]\n", "[servers.app2]\nuser = \"deploy\"\n");
    write(&fleet.dir().join("dm.toml"), &text);
    for machine in fleet.machines() {
        machine.exec_ok(&format!(
            "printf 'deploy:%s\\n' {} | chpasswd",
            dm_core::shell_quote(&password)
        ));
    }

    let mut terminal = Dm::new(&fleet)
        .args([
            "--ask-sudo-pass",
            "-H",
            "app1,app2",
            "env-wait",
            "x",
            "--sudo",
        ])
        .start_in_terminal();
    terminal
        .wait_for("sudo password (for all hosts): ")
        .type_text(format!("{password}\n").as_bytes());
    // While the commands run through sudo on both hosts: nobody's process list there, nor any
    // process's command line here, holds the password.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for machine in fleet.machines() {
        let started = machine.root_dir().join("var/tmp/dm-env-started");
        while !started.exists() {
            assert!(
                !terminal.has_ended(),
                "dm ended before {} ran",
                machine.name()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{} never ran",
                machine.name()
            );
            // Polling a file on the machine: it offers no readiness signal to block on.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let seen = command_lines_seen_by_nobody(machine);
        assert!(
            !seen.contains(&password),
            "{}: a command line holds the password:\n{seen}",
            machine.name()
        );
    }
    assert!(
        !controller_command_lines().contains(&password),
        "a command line on the controller holds the password"
    );
    for machine in fleet.machines() {
        machine.exec_ok("touch /var/tmp/dm-env-go");
    }
    let run = terminal.finish();
    let shown = run.stdout();
    assert_eq!(
        shown.matches("sudo password").count(),
        1,
        "not asked exactly once:\n{shown}"
    );
    assert!(shown.contains("2 hosts: 2 ok"), "{shown}");
    assert!(
        !shown.contains(&password),
        "the terminal showed the password:\n{shown}"
    );
    for machine in fleet.machines() {
        // Made through sudo, so by root: the typed password was the one sudo took.
        assert_eq!(
            machine.exec_ok("stat -c %U /var/tmp/dm-env-started").trim(),
            "root",
            "{}",
            machine.name()
        );
        assert_not_on_machine(machine, &password);
    }
}
