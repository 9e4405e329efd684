//! Sysctl at parity with Ansible's `sysctl` and pyinfra's `server.sysctl`, on a real host: only
//! the key's own line of its file is edited, an equivalent line with the live value equal is no
//! change, a value the kernel rejects is never persisted, and `absent` removes the key's lines.
//! The machines' network kernel parameters are their own network namespace's (writable there,
//! invisible elsewhere), so the tests use `net.ipv4.*` keys. Everything is checked from outside.

use crate::ops_support::named_statuses;
use dm::ops::OpStatus;
use dm::ops::Sysctl;
use dm::prelude::*;
use dm::testing::{Fleet, Machine};
use dm_tests::dm_run;

/// The sysctl files and the three live values the tests touch, to show that check mode changed
/// nothing.
fn state(m: &Machine) -> String {
    m.exec_ok(
        "cd /etc/sysctl.d && for f in *; do echo \"== $f\"; cat \"$f\"; done; \
         sysctl -n net.ipv4.ip_forward net.ipv4.tcp_fin_timeout net.ipv4.ip_local_port_range",
    )
}

/// A key edited in a shared file, a key already persisted with other spacing, and a key
/// removed from a file that keeps its other key.
#[task]
async fn sysctl_keys(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Sysctl::new("net.ipv4.ip_forward", "1").file("/etc/sysctl.d/60-dm-router.conf"));
    step.add(Sysctl::new("net.ipv4.tcp_fin_timeout", "30"));
    step.add(Sysctl::absent("net.ipv4.tcp_syncookies").file("/etc/sysctl.d/61-dm-old.conf"));
    step.apply().await?;
    Ok(())
}

/// A port range the kernel refuses (the low end above the high end).
#[task]
async fn sysctl_rejected(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Sysctl::new("net.ipv4.ip_local_port_range", "60000 1024"));
    step.apply().await?;
    Ok(())
}

#[test]
fn sysctl_edits_only_its_key_validates_before_persisting_and_removes_a_key() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    // The machine's own network parameters are writable inside it.
    m.exec_ok("sysctl -q -w net.ipv4.tcp_fin_timeout=30 net.ipv4.ip_forward=0");
    m.exec_ok(
        "cd /etc/sysctl.d && \
         printf '# routing\\nnet.ipv4.ip_forward=0\\nnet.ipv4.conf.all.rp_filter = 1\\n' > 60-dm-router.conf && \
         printf 'net.ipv4.tcp_fin_timeout=30\\n' > 99-dm-net.ipv4.tcp_fin_timeout.conf && \
         printf 'net.ipv4.tcp_syncookies = 1\\nnet.ipv4.tcp_timestamps = 1\\n-net/ipv4/tcp_syncookies=1\\n' > 61-dm-old.conf",
    );
    assert_eq!(m.exec_ok("sysctl -n net.ipv4.ip_forward"), "0\n");

    // Check mode: the forward and the removal would change, nothing is written or set.
    let before = state(m);
    let check = dm_run(&fleet, &["--check", "-H", "app1", "sysctl-keys"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(
        named_statuses(&check),
        [
            (
                "sysctl net.ipv4.ip_forward = 1".into(),
                OpStatus::WouldChange
            ),
            ("sysctl net.ipv4.tcp_fin_timeout = 30".into(), OpStatus::Ok),
            (
                "sysctl net.ipv4.tcp_syncookies absent from /etc/sysctl.d/61-dm-old.conf".into(),
                OpStatus::WouldChange
            ),
        ],
        "{check:#?}"
    );
    assert_eq!(state(m), before, "check mode changed the host");

    // First run: only the key's line is replaced, the equivalent line is left alone, the
    // removed key's lines go and the other key stays.
    let first = dm_run(&fleet, &["-H", "app1", "sysctl-keys"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(
        named_statuses(&first)
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>(),
        [OpStatus::Changed, OpStatus::Ok, OpStatus::Changed],
        "{first:#?}"
    );
    assert_eq!(
        m.exec_ok(
            "cd /etc/sysctl.d && cat 60-dm-router.conf 99-dm-net.ipv4.tcp_fin_timeout.conf 61-dm-old.conf"
        ),
        "# routing\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\n\
         net.ipv4.tcp_fin_timeout=30\n\
         net.ipv4.tcp_timestamps = 1\n"
    );
    assert_eq!(m.exec_ok("sysctl -n net.ipv4.ip_forward"), "1\n");

    // Second run: nothing to do, in one round trip.
    let second = dm_run(&fleet, &["-H", "app1", "sysctl-keys"]);
    assert!(second.success, "{second:#?}");
    assert!(
        named_statuses(&second)
            .iter()
            .all(|(_, s)| *s == OpStatus::Ok),
        "{second:#?}"
    );
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");

    // A value the kernel rejects fails with the kernel's reason and is not persisted.
    let range = m.exec_ok("sysctl -n net.ipv4.ip_local_port_range");
    let rejected = dm_run(&fleet, &["-H", "app1", "sysctl-rejected"]);
    assert!(!rejected.success, "{rejected:#?}");
    let error = rejected.hosts[0].error.clone().unwrap_or_default();
    assert!(error.contains("Invalid argument"), "{error}");
    assert_eq!(
        m.exec_ok(
            "ls /etc/sysctl.d/99-dm-net.ipv4.ip_local_port_range.conf 2>/dev/null || echo none"
        ),
        "none\n",
        "a rejected value was persisted"
    );
    assert_eq!(m.exec_ok("sysctl -n net.ipv4.ip_local_port_range"), range);
}
