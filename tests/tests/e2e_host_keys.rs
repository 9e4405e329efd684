//! Host keys: unknown keys are refused unless accept-new is asked for; changed keys always are.

use dm_tests::*;

#[test]
fn unknown_host_key_is_refused_in_strict_mode_and_recorded_with_accept_new() {
    let fleet = fleet(&[("app1", &[])]);
    let known_hosts = fleet.dir().join("empty_known_hosts");
    write(&known_hosts, "");
    let kh = known_hosts.to_str().expect("utf8");
    let address = fleet.machine("app1").address().to_string();

    let run = Dm::new(&fleet)
        .args(["--known-hosts", kh, "-H", "app1", "mark", "strict"])
        .run();
    run.assert_code(4);
    run.assert_output_contains(&format!("app1: host key of {address} is not known"));
    run.assert_output_contains("--accept-new-host-keys");
    run.assert_output_contains("unreachable");
    let marker = fleet
        .machine("app1")
        .exec_ok("test -e /tmp/dm-mark-strict && echo yes || echo no");
    assert_eq!(marker.trim(), "no", "the task ran despite the unknown key");

    Dm::new(&fleet)
        .args([
            "--known-hosts",
            kh,
            "--accept-new-host-keys",
            "-H",
            "app1",
            "mark",
            "learn",
        ])
        .run()
        .assert_success();
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert!(recorded.contains(&address), "key not recorded: {recorded}");

    Dm::new(&fleet)
        .args(["--known-hosts", kh, "-H", "app1", "mark", "again"])
        .run()
        .assert_success();
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let fleet = fleet(&[("app1", &[])]);
    Dm::new(&fleet)
        .args(["-H", "app1", "mark", "before"])
        .run()
        .assert_success();
    fleet.machine("app1").regenerate_host_key();
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let run = Dm::new(&fleet)
            .args(extra.iter().copied())
            .args(["-H", "app1", "mark", "after"])
            .run();
        run.assert_code(4);
        run.assert_output_contains("HOST KEY OF");
        run.assert_output_contains("HAS CHANGED");
        run.assert_output_contains("ssh-keygen -R");
    }
}
