//! `logs SERVICE` on real machines: the journal of a service on every selected server, each line
//! prefixed by its host; `--follow` streams new lines until Ctrl-C and then ends cleanly, leaving
//! no journalctl behind on the servers.

use std::time::{Duration, Instant};

use dm::testing::Fleet;
use dm_tests::*;

/// A journal line of the transient unit `dm-logs-demo` on `machine`, tagged with `marker` (the
/// unit is gone afterwards; its journal stays).
fn log_line(fleet: &Fleet, machine: &str, marker: &str) {
    fleet.machine(machine).exec_ok(&format!(
        "systemd-run --quiet --wait --collect --unit=dm-logs-demo sh -c 'echo {marker} on $(hostname)'"
    ));
}

#[test]
fn logs_fetch_and_follow_a_service_on_every_host_with_prefixes() {
    let fleet = fleet(&[("web1", &["appnode"]), ("web2", &["appnode"])]);
    log_line(&fleet, "web1", "first");
    log_line(&fleet, "web2", "first");

    // Fetch: the last lines of the unit's journal on both hosts, prefixed by host.
    let run = Dm::new(&fleet)
        .args(["logs", "dm-logs-demo", "--lines", "20"])
        .run();
    run.assert_success();
    let out = run.stdout();
    for host in ["web1", "web2"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("[{host}] "))
                    && l.contains(&format!("first on {host}"))),
            "{}",
            run.describe()
        );
    }

    // A unit that does not exist is named, per host.
    let missing = Dm::new(&fleet).args(["logs", "no-such-unit"]).run();
    assert_ne!(missing.code(), 0);
    let said = format!("{}{}", missing.stdout(), missing.stderr());
    assert!(
        said.contains("no systemd unit or supervisor program no-such-unit on web1"),
        "{}",
        missing.describe()
    );
    // The error names what was asked for, not dm's internal script.
    assert!(!said.contains("journalctl"), "{}", missing.describe());
    assert!(
        said.contains("logs of no-such-unit"),
        "{}",
        missing.describe()
    );

    // Follow: new lines arrive while it runs; Ctrl-C (typed on its terminal) ends it
    // successfully. Each step waits for what it needs: journalctl following on both hosts
    // before the lines are logged, both lines shown before Ctrl-C.
    let mut terminal = Dm::new(&fleet)
        .args(["logs", "dm-logs-demo", "--follow", "--lines", "0"])
        .start_in_terminal();
    let deadline = Instant::now() + Duration::from_secs(60);
    for host in ["web1", "web2"] {
        while !fleet
            .machine(host)
            .exec("pgrep -x journalctl >/dev/null")
            .is_ok_and(|o| o.status.success())
        {
            assert!(!terminal.has_ended(), "logs --follow ended early");
            assert!(Instant::now() < deadline, "journalctl never ran on {host}");
            // Polling the machine's process table: it offers no readiness signal.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    log_line(&fleet, "web1", "second");
    log_line(&fleet, "web2", "second");
    terminal.wait_for_each(&["second on web1", "second on web2"]);
    terminal.type_text(b"\x03");
    let run = terminal.finish();
    let out = run.stdout();
    for host in ["web1", "web2"] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("[{host}] "))
                    && l.contains(&format!("second on {host}"))),
            "{}",
            run.describe()
        );
        assert!(
            !out.contains(&format!("first on {host}")),
            "--lines 0: {}",
            run.describe()
        );
    }
    // journalctl ends with the connection: nothing keeps following on the servers.
    let deadline = Instant::now() + Duration::from_secs(10);
    for host in ["web1", "web2"] {
        loop {
            let left = fleet
                .machine(host)
                .exec_ok("for p in /proc/[0-9]*/comm; do cat $p 2>/dev/null; done | grep -c '^journalctl$' || true");
            if left.trim() == "0" {
                break;
            }
            assert!(Instant::now() < deadline, "journalctl still runs on {host}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Ctrl-C is how following ends: every host reports ok (the run says it was interrupted).
    assert!(out.contains("2 ok, 0 failed"), "{}", run.describe());
}

#[test]
fn logs_of_a_supervisor_program_are_its_log_file() {
    let fleet = fleet(&[("web1", &["appnode"])]);
    let machine = fleet.machine("web1");
    machine.exec_ok(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q supervisor >/dev/null && \
         printf '[program:demo-talk]\\ncommand=sh -c \"while true; do echo talk from $(hostname); sleep 1; done\"\\nstdout_logfile=/var/log/supervisor/demo-talk.log\\nredirect_stderr=true\\n' \
           > /etc/supervisor/conf.d/demo-talk.conf && \
         systemctl start supervisor && \
         for i in $(seq 100); do supervisorctl update >/dev/null 2>&1 && break; sleep 0.2; done",
    );
    // Waits on the log itself, not on time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !machine
        .exec_ok("grep -c 'talk from' /var/log/supervisor/demo-talk.log 2>/dev/null || true")
        .trim()
        .parse::<u32>()
        .is_ok_and(|n| n > 0)
    {
        assert!(Instant::now() < deadline, "demo-talk never wrote its log");
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = Dm::new(&fleet)
        .args(["logs", "demo-talk", "--lines", "3"])
        .run();
    run.assert_success();
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with("[web1] ") && l.contains("talk from web1")),
        "{}",
        run.describe()
    );
}
