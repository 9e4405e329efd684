//! Cron entries at parity with Ansible's `cron` and pyinfra's `server.crontab`, on a real host:
//! entries in users' crontabs (`crontab -u USER`) below a marker line, names with spaces, special
//! times and removal reach the end state those tools reach, report `would change` in check mode
//! without writing, `changed` on the first run and `ok` on the second, which stays one round trip.
//! Everything is checked from outside, on the machine.

use dm::ops::Cron;
use dm::ops::OpStatus;
use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::dm_run;

/// Asserts that every operation of the run ended with `want`, and that there were `count`.
fn assert_all(report: &RunReport, count: usize, want: OpStatus) {
    let ops = &report.hosts[0].operations;
    assert_eq!(ops.len(), count, "{report:#?}");
    for op in ops {
        assert_eq!(op.status, want, "{}: {report:#?}", op.name);
    }
}

/// The crontabs and /etc/cron.d, as cron reads them, to show that check mode wrote nothing.
fn crontabs(m: &Machine) -> String {
    m.exec_ok(
        "ls -la --time-style=full-iso /var/spool/cron/crontabs /etc/cron.d; \
         find /var/spool/cron/crontabs /etc/cron.d -type f -exec sha256sum {} + | sort",
    )
}

/// Two entries in one user's crontab (a name with spaces and `%`, and `@reboot`), an old one
/// removed from it, an entry in root's crontab, and one in /etc/cron.d whose name has a space.
#[task]
async fn cron_entries(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(
        Cron::new("nightly report", "0 2 * * *", "date +%F >> /tmp/report")
            .user("dmcron")
            .in_user_crontab(),
    );
    step.add(
        Cron::new("warm cache", "@reboot", "/bin/true warm")
            .user("dmcron")
            .in_user_crontab(),
    );
    step.add(
        Cron::new("old job", "@daily", "/bin/old")
            .user("dmcron")
            .in_user_crontab()
            .absent(),
    );
    step.add(Cron::new("root at boot", "@reboot", "/bin/true boot").in_user_crontab());
    step.add(Cron::new(
        "nightly backup",
        "30 3 * * *",
        "/bin/true backup",
    ));
    step.apply().await?;
    Ok(())
}

#[test]
fn cron_entries_in_user_crontabs_with_spaced_names_settle_and_then_change_nothing() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q cron >/dev/null && \
         useradd -m dmcron && \
         printf 'MAILTO=\"\"\\n#dm: old job\\n@daily /bin/old\\n* * * * * /bin/mine\\n' | crontab -u dmcron -",
    );

    // Check mode: every entry would change, nothing is written.
    let before = crontabs(m);
    let check = dm_run(&fleet, &["--check", "-H", "app1", "cron-entries"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 5, OpStatus::WouldChange);
    assert_eq!(crontabs(m), before, "check mode wrote");

    // First run: the crontabs Ansible's cron module would leave (its marker is `#Ansible: NAME`).
    let first = dm_run(&fleet, &["-H", "app1", "cron-entries"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 5, OpStatus::Changed);
    assert_eq!(
        m.exec_ok("crontab -u dmcron -l"),
        "MAILTO=\"\"\n* * * * * /bin/mine\n#dm: nightly report\n0 2 * * * date +\\%F >> /tmp/report\n\
         #dm: warm cache\n@reboot /bin/true warm\n"
    );
    assert_eq!(
        m.exec_ok("crontab -l"),
        "#dm: root at boot\n@reboot /bin/true boot\n"
    );
    assert_eq!(
        m.exec_ok("tail -n 1 /etc/cron.d/nightly_backup"),
        "30 3 * * * root /bin/true backup\n"
    );
    // What crontab installed is the user's own, as cron wants it.
    assert_eq!(
        m.exec_ok("stat -c '%U %G %a' /var/spool/cron/crontabs/dmcron"),
        "dmcron crontab 600\n"
    );

    // Second run: nothing to do, in one round trip.
    let after = crontabs(m);
    let second = dm_run(&fleet, &["-H", "app1", "cron-entries"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 5, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(crontabs(m), after);

    // An entry edited by hand is put back; the user's own lines stay.
    m.exec_ok("crontab -u dmcron -l | sed 's/^0 2 /5 4 /' | crontab -u dmcron -");
    let repair = dm_run(&fleet, &["-H", "app1", "cron-entries"]);
    assert!(repair.success, "{repair:#?}");
    assert_eq!(
        m.exec_ok("crontab -u dmcron -l | sed -n 3,4p"),
        "#dm: nightly report\n0 2 * * * date +\\%F >> /tmp/report\n"
    );
}
