//! Bad input is refused before anything runs, with a message that says where and what to do.

use dm_tests::*;

fn marker_exists(fleet: &dm::testing::Fleet, name: &str) -> bool {
    fleet
        .machine("app1")
        .exec_ok(&format!(
            "test -e /tmp/dm-mark-{name} && echo yes || echo no"
        ))
        .trim()
        == "yes"
}

#[test]
fn bad_input_is_a_clear_error_and_nothing_runs() {
    let fleet = fleet(&[("app1", &[])]);

    let run = Dm::new(&fleet)
        .args(["-H", "app1", "mark", "badtype", "--count", "many"])
        .run();
    run.assert_code(2);
    run.assert_output_contains("invalid value 'many' for '--count <COUNT>'");

    let run = Dm::new(&fleet)
        .args(["-H", "app1", "deploy-everything"])
        .run();
    run.assert_code(2);
    run.assert_output_contains("unrecognized subcommand 'deploy-everything'");

    // app1 is selected too: a run that went ahead on the hosts it knows would mark it.
    let run = Dm::new(&fleet)
        .args(["-H", "app1,apq1", "mark", "unknownhost"])
        .run();
    run.assert_code(3);
    run.assert_output_contains("unknown host `apq1`");
    run.assert_output_contains("did you mean `app1`");

    let run = Dm::new(&fleet)
        .args(["-H", "app1", "-R", "dbserver", "mark", "unknownrole"])
        .run();
    run.assert_code(3);
    run.assert_output_contains("unknown role `dbserver`");

    let broken = format!("{}\n[servers.app2]\naddress = 10\n", fleet.inventory_toml());
    write(&fleet.dir().join("dm.toml"), &broken);
    let line = broken.lines().count();
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "mark", "badtoml"])
        .run();
    run.assert_code(3);
    run.assert_output_contains(&format!("dm.toml:{line}:"));

    // The typo is another server's: app1 itself could still be reached.
    write(
        &fleet.dir().join("dm.toml"),
        &format!(
            "{}\n[servers.app9]\nadress = \"10.231.254.9\"\n",
            fleet.inventory_toml()
        ),
    );
    let run = Dm::new(&fleet).args(["-H", "app1", "mark", "typo"]).run();
    run.assert_code(3);
    run.assert_output_contains("adress");

    for name in ["badtype", "unknownhost", "unknownrole", "badtoml", "typo"] {
        assert!(
            !marker_exists(&fleet, name),
            "task ran despite bad input ({name})"
        );
    }
    // The marker check sees a marker when the task does run: the checks above can fail.
    write(&fleet.dir().join("dm.toml"), &fleet.inventory_toml());
    Dm::new(&fleet)
        .args(["-H", "app1", "mark", "control"])
        .run()
        .assert_success();
    assert!(
        marker_exists(&fleet, "control"),
        "the control marker is missing"
    );
}
