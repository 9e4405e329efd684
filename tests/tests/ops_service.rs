//! Service at parity with Ansible's `systemd_service` and pyinfra's `systemd.service`, on a real
//! host: an unknown unit asked to be stopped fails (check mode too), `daemon_reload` reloads a
//! running unit whose file changed, mask and unmask, and a user's own unit through their
//! systemd manager with lingering. First run changes, second run is one round trip of nothing;
//! everything is checked from outside.

use crate::ops_support::statuses;
use dm::ops::OpStatus;
use dm::ops::Service;
use dm::prelude::*;
use dm::testing::{Fleet, Machine};
use dm_tests::dm_run;

/// A unit that runs until stopped, with `Environment=` to tell its loaded version.
fn unit(env: &str) -> String {
    format!(
        "[Unit]\nDescription=dm test\n[Service]\nEnvironment={env}\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=default.target\n"
    )
}

/// Writes `content` to `path` on the machine.
fn write(m: &Machine, path: &str, content: &str) {
    m.exec_ok(&format!(
        "mkdir -p \"$(dirname {path})\" && printf '%s' '{content}' > {path}"
    ));
}

/// What the tests look at: the reloaded unit's environment and whether systemd wants a reload,
/// the masked unit's state, the user's lingering and their unit's state.
fn state(m: &Machine) -> String {
    m.exec_ok(
        "systemctl show -p Environment -p NeedDaemonReload dm-reload; \
         systemctl is-enabled dm-masked; systemctl is-active dm-masked; \
         ls /var/lib/systemd/linger; \
         systemctl --user -M dmu@ is-enabled dm-user 2>/dev/null; \
         systemctl --user -M dmu@ is-active dm-user 2>/dev/null; true",
    )
}

/// The unit to stop has a typo.
#[task]
async fn service_unknown(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Service::new("dm-no-such-unit").stopped());
    step.apply().await?;
    Ok(())
}

/// A running unit whose file changed, a unit to mask, a user's unit.
#[task]
async fn service_states(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Service::new("dm-reload").running().daemon_reload());
    step.add(Service::new("dm-masked").stopped().masked());
    step.add(Service::new("dm-user").user("dmu").enabled().running());
    step.apply().await?;
    Ok(())
}

/// The masked unit back.
#[task]
async fn service_unmask(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Service::new("dm-masked").unmasked().enabled().running());
    step.apply().await?;
    Ok(())
}

#[test]
fn an_unknown_unit_to_stop_fails_even_in_check_mode() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    for args in [
        &["--check", "-H", "app1", "service-unknown"][..],
        &["-H", "app1", "service-unknown"][..],
    ] {
        let run = dm_run(&fleet, args);
        assert!(!run.success, "{args:?}: {run:#?}");
        assert_eq!(statuses(&run), [OpStatus::Failed], "{run:#?}");
        let error = run.hosts[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("there is no unit dm-no-such-unit"),
            "{error}"
        );
    }
}

#[test]
fn daemon_reload_mask_unmask_and_user_units_converge_and_then_change_nothing() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    write(m, "/etc/systemd/system/dm-reload.service", &unit("V=1"));
    // Where packages put their units: systemd masks a unit by putting a link in /etc.
    write(m, "/usr/lib/systemd/system/dm-masked.service", &unit("V=1"));
    // A user's manager needs pam_systemd, which the minimal base image lacks.
    m.exec_ok(
        "systemctl daemon-reload && systemctl enable --quiet --now dm-reload dm-masked && \
         useradd -m dmu && apt-get -q update >/dev/null && \
         DEBIAN_FRONTEND=noninteractive apt-get install -q -y libpam-systemd >/dev/null",
    );
    write(
        m,
        "/home/dmu/.config/systemd/user/dm-user.service",
        &unit("V=1"),
    );
    m.exec_ok("chown -R dmu: /home/dmu/.config");
    // The unit file changes on disk; systemd still runs the old one and says it needs a reload.
    write(m, "/etc/systemd/system/dm-reload.service", &unit("V=2"));
    let before = state(m);
    assert!(
        before.contains("Environment=V=1\nNeedDaemonReload=yes\n"),
        "{before}"
    );

    // Check mode: all three would change, nothing does.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "service-states"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(statuses(&check), [OpStatus::WouldChange; 3], "{check:#?}");
    assert_eq!(state(m), before, "check mode changed the host");

    // First run: reloaded while running, masked and stopped, the user's unit enabled and
    // started by their own manager, which lingers.
    let first = dm_run(&fleet, &["-H", "app1", "service-states"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(statuses(&first), [OpStatus::Changed; 3], "{first:#?}");
    assert_eq!(
        state(m),
        "Environment=V=2\nNeedDaemonReload=no\nmasked\ninactive\ndmu\nenabled\nactive\n"
    );

    // Second run: nothing to do, in one round trip.
    let second = dm_run(&fleet, &["-H", "app1", "service-states"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(statuses(&second), [OpStatus::Ok; 3], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // Unmasked, enabled and started again; then nothing to do.
    let unmask = dm_run(&fleet, &["-H", "app1", "service-unmask"]);
    assert!(unmask.success, "{unmask:#?}");
    assert_eq!(statuses(&unmask), [OpStatus::Changed], "{unmask:#?}");
    assert_eq!(
        m.exec_ok("systemctl is-enabled dm-masked; systemctl is-active dm-masked"),
        "enabled\nactive\n"
    );
    let again = dm_run(&fleet, &["-H", "app1", "service-unmask"]);
    assert_eq!(statuses(&again), [OpStatus::Ok], "{again:#?}");
}
