//! Command guards at parity with Ansible's `creates`/`removes`: globs match as `glob.glob` does,
//! `removes` runs only while something matches, check mode runs nothing, and the second run
//! changes nothing in one round trip. Everything is checked from outside, on the machine.

use crate::ops_support::statuses;
use dm::ops::{Command, OpStatus};
use dm::prelude::*;
use dm::testing::{Fleet, Machine};
use dm_tests::dm_run;

/// Four guarded commands, each appending to its own log when it runs: made while no lock
/// matches; cleaning while some `.tmp` matches (a name with a space); never, since nothing
/// matches what it removes; and never, since a lock that matches already exists.
#[task]
async fn command_globs(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(
        Command::new("touch /srv/cmd/locks/app.lock; echo ran >> /srv/cmd/made.log")
            .creates("/srv/cmd/locks/*.lock"),
    );
    step.add(
        Command::new("rm -f /srv/cmd/tmp/*.tmp; echo ran >> /srv/cmd/cleaned.log")
            .removes("/srv/cmd/tmp/*.tmp"),
    );
    step.add(Command::new("echo ran >> /srv/cmd/never.log").removes("/srv/cmd/nothing-here/*.tmp"));
    step.add(Command::new("echo ran >> /srv/cmd/present.log").creates("/srv/cmd/pre/[a-z]*.lock"));
    step.apply().await?;
    Ok(())
}

/// The logs the commands write, and what is left in the guarded directories.
fn state(m: &Machine) -> String {
    m.exec_ok(
        "cd /srv/cmd && for f in made cleaned never present; do printf '%s:' $f; cat $f.log 2>/dev/null | wc -l; done; \
         for d in locks tmp pre; do echo \"$d: $(ls -A $d | tr '\\n' ' ')\"; done",
    )
}

#[test]
fn creates_and_removes_take_globs_and_converge_in_one_run() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "mkdir -p /srv/cmd/locks /srv/cmd/tmp /srv/cmd/pre && \
         touch '/srv/cmd/tmp/a b.tmp' /srv/cmd/tmp/c.tmp /srv/cmd/pre/x.lock",
    );
    let before = state(m);

    // Check mode: the two commands whose guards let them run would change; nothing runs.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "command-globs"]);
    assert!(check.success, "{check:#?}");
    use OpStatus::*;
    assert_eq!(
        statuses(&check),
        [WouldChange, WouldChange, Ok, Ok],
        "{check:#?}"
    );
    let described: Vec<_> = check.hosts[0]
        .operations
        .iter()
        .map(|o| o.description.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        described[..2],
        [
            "run (because nothing matches /srv/cmd/locks/*.lock)",
            "run (because something matches /srv/cmd/tmp/*.tmp)"
        ],
        "{check:#?}"
    );
    assert_eq!(state(m), before, "check mode ran a command");

    let first = dm_run(&fleet, &["-H", "app1", "command-globs"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(statuses(&first), [Changed, Changed, Ok, Ok], "{first:#?}");
    assert_eq!(
        state(m),
        "made:1\ncleaned:1\nnever:0\npresent:0\nlocks: app.lock \ntmp: \npre: x.lock \n"
    );

    // Second run: the lock matches, no .tmp is left: nothing runs, in one round trip.
    let second = dm_run(&fleet, &["-H", "app1", "command-globs"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(statuses(&second), [Ok, Ok, Ok, Ok], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(
        state(m),
        "made:1\ncleaned:1\nnever:0\npresent:0\nlocks: app.lock \ntmp: \npre: x.lock \n"
    );

    // A new temporary file: only the cleaning command runs again.
    m.exec_ok("touch /srv/cmd/tmp/d.tmp");
    let third = dm_run(&fleet, &["-H", "app1", "command-globs"]);
    assert_eq!(statuses(&third), [Ok, Changed, Ok, Ok], "{third:#?}");
    assert!(state(m).starts_with("made:1\ncleaned:2\n"), "{}", state(m));
}
