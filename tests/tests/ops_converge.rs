//! Every kind of operation on a real host: the first run changes, the second changes nothing in
//! one round trip, a manual change of each is detected and repaired, check mode reports the
//! changes without writing anything, and reactions run only when what notifies them changed.

use crate::ops_support;

use dm::testing::Fleet;
use dm_tests::*;
use ops_support::*;

/// The twenty operations of `ops-converge`, by name prefix.
const OPS: [&str; 20] = [
    "group dmgrp",
    "user dmuser",
    "authorized key",
    "directory /srv/dm",
    "directory /srv/dm/releases/1",
    "directory /srv/dm/shared",
    "directory /etc/dm-demo",
    "file /srv/dm/hello.txt",
    "file /etc/dm-demo/app.conf",
    "file /srv/dm/blob.bin",
    "file /srv/dm/obsolete",
    "symlink /srv/dm/current",
    "line in /etc/dm-lines.conf: color = blue",
    "line in /etc/dm-lines.conf: size = 3",
    "no line in /etc/dm-lines.conf",
    "command `echo made",
    "cron dm-demo",
    "sysctl net.core.somaxconn",
    "file /etc/systemd/system/dm-demo.service",
    "service dm-demo",
];

/// Nine MiB: more than dm keeps in memory, so the blob is streamed in a command of its own.
const BLOB_SIZE: usize = 9 * 1024 * 1024;

/// Writes dm.toml (with `tier` for app1), the template and the blob next to it.
fn prepare(fleet: &Fleet, user: Option<&str>) {
    let server = match user {
        Some(u) => format!("[servers.app1]\nuser = \"{u}\"\nvars = {{ tier = \"gold\" }}\n"),
        None => "[servers.app1]\nvars = { tier = \"gold\" }\n".to_string(),
    };
    let text = fleet.inventory_toml().replace("[servers.app1]\n", &server);
    write(&fleet.dir().join("dm.toml"), &text);
    std::fs::create_dir_all(fleet.dir().join("templates")).expect("templates dir");
    write(
        &fleet.dir().join("templates/app.conf.j2"),
        "# {{ host.name }}\nport = {{ app_port }}\ntier = {{ tier }}\n{% if tier == \"gold\" %}\npriority = high\n{% endif %}\n",
    );
    let blob: Vec<u8> = (0..BLOB_SIZE).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(fleet.dir().join("blob.bin"), blob).expect("blob");
}

/// What the host must look like after a converge.
fn assert_converged(fleet: &Fleet) {
    let m = fleet.machine("app1");
    let check = |cmd: &str, want: &str| {
        let got = m.exec_ok(cmd);
        assert_eq!(got.trim(), want, "`{cmd}` on app1");
    };
    check("getent group dmgrp | cut -d: -f3", "2101");
    check(
        "getent passwd dmuser | cut -d: -f3,4,7",
        "2101:2101:/bin/bash",
    );
    check("id -Gn dmuser", "dmgrp adm");
    check(
        "cat ~dmuser/.ssh/authorized_keys; stat -c '%a %U' ~dmuser/.ssh ~dmuser/.ssh/authorized_keys",
        &format!("{}\n700 dmuser\n600 dmuser", KEY_LINE),
    );
    check("stat -c '%a %U %G' /srv/dm/releases/1", "750 dmuser dmgrp");
    check(
        "test -d /srv/dm/shared && test -d /etc/dm-demo && echo yes",
        "yes",
    );
    check(
        "cat /srv/dm/hello.txt; stat -c '%a %G' /srv/dm/hello.txt",
        "hello\n640 dmgrp",
    );
    check(
        "cat /etc/dm-demo/app.conf",
        "# app1\nport = 8080\ntier = gold\npriority = high",
    );
    check(
        "stat -c '%s %a' /srv/dm/blob.bin",
        &format!("{BLOB_SIZE} 600"),
    );
    let local = std::process::Command::new("sha256sum")
        .arg(fleet.dir().join("blob.bin"))
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .chars()
                .take(64)
                .collect::<String>()
        })
        .expect("sha256sum runs");
    check("sha256sum < /srv/dm/blob.bin | cut -c1-64", &local);
    check("test -e /srv/dm/obsolete || echo gone", "gone");
    check("readlink /srv/dm/current", "/srv/dm/releases/1");
    check("cat /etc/dm-lines.conf", "color = blue\nsize = 3");
    check("cat /srv/dm/created", "made");
    check(
        "tail -n 1 /etc/cron.d/dm-demo",
        "*/5 * * * * root date +\\%s >> /tmp/dm-cron.log",
    );
    check(
        "tail -n 1 /etc/sysctl.d/99-dm-net.core.somaxconn.conf",
        "net.core.somaxconn = 4096",
    );
    check(
        "systemctl is-enabled dm-demo; systemctl is-active dm-demo",
        "enabled\nactive",
    );
}

const KEY_LINE: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmTestKeyMaterialNotARealKey0000000000000 dm-test";

#[test]
fn every_operation_converges_is_idempotent_repairs_drift_and_checks_without_writing() {
    let fleet = fleet(&[("app1", &[])]);
    prepare(&fleet, None);
    let m = fleet.machine("app1");

    // First run: everything but the two removals changes; the reaction runs once.
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-converge"]);
    run.assert_success();
    let names: Vec<String> = ops(&json, "app1").into_iter().map(|(n, _)| n).collect();
    for (i, prefix) in OPS.iter().enumerate() {
        assert!(
            names.get(i).is_some_and(|n| n.starts_with(prefix)),
            "operation {i} should be `{prefix}..` (components in dependency order): {names:#?}"
        );
        let want = if prefix.starts_with("file /srv/dm/obsolete") || prefix.starts_with("no line") {
            "ok"
        } else {
            "changed"
        };
        assert_eq!(status(&json, "app1", prefix), want, "{prefix}: {json:#}");
    }
    assert_eq!(status(&json, "app1", "reaction record"), "changed");
    assert_eq!(count(&json, "app1", "changed"), 19);
    assert_converged(&fleet);
    assert_eq!(m.exec_ok("cat /srv/dm/reactions.log").trim(), "reacted");

    // Second run: nothing to do, one round trip, no reaction.
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-converge"]);
    run.assert_success();
    assert_eq!(count(&json, "app1", "changed"), 0, "{json:#}");
    assert_eq!(count(&json, "app1", "ok"), 20, "{json:#}");
    assert_eq!(
        round_trips(&json, "app1"),
        1,
        "a no-change run is one round trip"
    );
    assert_eq!(m.exec_ok("cat /srv/dm/reactions.log").trim(), "reacted");

    // Drift: change what every operation manages, by hand.
    m.exec_ok(
        "groupmod -g 2222 dmgrp; usermod -s /bin/sh dmuser; : > ~dmuser/.ssh/authorized_keys; \
         chmod 777 /srv/dm; chmod 700 /srv/dm/releases/1; rmdir /srv/dm/shared; rm -r /etc/dm-demo; \
         echo tampered > /srv/dm/hello.txt; truncate -s 10 /srv/dm/blob.bin; touch /srv/dm/obsolete; \
         ln -sfn /tmp /srv/dm/current; \
         printf 'color = red\\nobsolete = 1\\n' > /etc/dm-lines.conf; \
         rm /srv/dm/created; echo '# edited' >> /etc/cron.d/dm-demo; \
         sed -i 's/4096/999/' /etc/sysctl.d/99-dm-net.core.somaxconn.conf; \
         echo '# edited' >> /etc/systemd/system/dm-demo.service; systemctl daemon-reload; \
         systemctl disable --now --quiet dm-demo",
    );

    // Check mode reports every change and writes nothing: the file system is the same after.
    m.exec_ok("touch /root/.dm-check-stamp; sleep 1");
    let before = fs_fingerprint(m);
    let (run, json) = run_json(&fleet, &["--check", "--diff", "-H", "app1", "ops-converge"]);
    run.assert_success();
    for prefix in OPS {
        assert_eq!(
            status(&json, "app1", prefix),
            "would_change",
            "{prefix} should report its drift in check mode: {json:#}"
        );
    }
    assert_eq!(status(&json, "app1", "reaction record"), "would_change");
    let diff = op(&json, "app1", "file /srv/dm/hello.txt")["diff"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        diff.contains("-tampered\n+hello\n"),
        "--diff shows the file's diff: {diff}"
    );
    assert_eq!(fs_fingerprint(m), before, "check mode changed the host");
    assert_eq!(files_newer_than(m, "/root/.dm-check-stamp").trim(), "");
    assert_eq!(m.exec_ok("cat /srv/dm/hello.txt").trim(), "tampered");
    assert_eq!(m.exec_ok("cat /srv/dm/reactions.log").trim(), "reacted");

    // The real run repairs everything and runs the reaction once more.
    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-converge"]);
    run.assert_success();
    for prefix in OPS {
        assert_eq!(
            status(&json, "app1", prefix),
            "changed",
            "{prefix}: {json:#}"
        );
    }
    assert_converged(&fleet);
    assert_eq!(
        m.exec_ok("cat /srv/dm/reactions.log").trim(),
        "reacted\nreacted"
    );
    // The fingerprint sees changes (so the check above could have failed).
    assert_ne!(fs_fingerprint(m), before);

    let (run, json) = run_json(&fleet, &["-H", "app1", "ops-converge"]);
    run.assert_success();
    assert_eq!(count(&json, "app1", "changed"), 0, "{json:#}");

    // The running kernel value is compared too, and set (the machine's network parameters are
    // its own network namespace's).
    let args = ["-H", "app1", "ops-converge", "--somaxconn", "1111"];
    let (run, json) = run_json(&fleet, &[&["--check"][..], &args[..]].concat());
    run.assert_success();
    let sysctl = op(&json, "app1", "sysctl net.core.somaxconn");
    assert_eq!(sysctl["status"], "would_change");
    assert!(
        sysctl["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("4096 → 1111;")),
        "{sysctl:#}"
    );
    assert_eq!(m.exec_ok("sysctl -n net.core.somaxconn").trim(), "4096");
    let (run, json) = run_json(&fleet, &args);
    run.assert_success();
    assert_eq!(status(&json, "app1", "sysctl"), "changed");
    assert_eq!(status(&json, "app1", "service dm-demo"), "ok");
    assert_eq!(m.exec_ok("sysctl -n net.core.somaxconn").trim(), "1111");
    assert_eq!(
        m.exec_ok("tail -n 1 /etc/sysctl.d/99-dm-net.core.somaxconn.conf")
            .trim(),
        "net.core.somaxconn = 1111"
    );
}

#[test]
fn a_deploy_user_converges_through_sudo_and_a_no_change_run_costs_two_round_trips() {
    let fleet = fleet(&[("app1", &[])]);
    prepare(&fleet, Some(dm::testing::DEPLOY_USER));
    let env = [("DM_SUDO_PASSWORD", dm::testing::DEPLOY_PASSWORD)];
    let (run, _) = run_json_env(&fleet, &["-H", "app1", "ops-converge"], &env);
    run.assert_success();
    assert_converged(&fleet);

    // 20 operations, nothing to do: the sudo probe and one gathering command.
    let (run, json) = run_json_env(&fleet, &["-H", "app1", "ops-converge"], &env);
    run.assert_success();
    assert_eq!(count(&json, "app1", "ok"), 20, "{json:#}");
    assert_eq!(count(&json, "app1", "changed"), 0, "{json:#}");
    let trips = round_trips(&json, "app1");
    assert!(
        trips <= 2,
        "{trips} round trips for a 20-operation no-change run"
    );

    // The summary shows the counts and, with -v, the round trips.
    let run = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", dm::testing::DEPLOY_PASSWORD)
        .args(["-v", "-H", "app1", "ops-converge"])
        .run();
    run.assert_success();
    run.assert_output_contains("operations: 20 ok, 0 changed");
    run.assert_output_contains(&format!("{trips} round trips"));
    run.assert_output_contains("[gather facts of 21 operations]");
}
