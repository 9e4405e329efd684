//! A host reachable only through another host is reached through it (ProxyJump).

use dm_tests::*;

#[test]
fn host_behind_a_bastion_is_reached_through_proxy_jump() {
    let fleet = fleet(&[("bastion", &[]), ("inner", &[])]);
    fleet
        .machine("inner")
        .allow_ssh_only_from(fleet.machine("bastion"));

    let direct = Dm::new(&fleet)
        .args(["--connect-timeout", "2", "-H", "inner", "describe"])
        .run();
    direct.assert_code(4);

    let text = fleet.inventory_toml().replace(
        "[servers.inner]\n",
        "[servers.inner]\nproxy_jump = \"bastion\"\n",
    );
    write(&fleet.dir().join("dm.toml"), &text);
    let run = Dm::new(&fleet).args(["-H", "inner", "describe"]).run();
    run.assert_success();
    assert_eq!(
        run.host_lines("inner"),
        ["hostname=inner os=debian tier=none"]
    );
}
