//! A non-root login user gets root through sudo with a password that is never shown.

use dm_tests::*;

fn deploy_inventory(fleet: &dm_core::testing::Fleet) {
    let text = fleet
        .inventory_toml()
        .replace("[servers.app1]\n", "[servers.app1]\nuser = \"deploy\"\n");
    write(&fleet.dir().join("dm.toml"), &text);
}

#[test]
fn non_root_user_gets_root_through_sudo_with_the_password() {
    let fleet = fleet(&[("app1", &[])]);
    deploy_inventory(&fleet);
    let run = Dm::new(&fleet)
        .env("DM_SUDO_PASSWORD", "deploy-password")
        .args(["-v", "-H", "app1", "whoami"])
        .run();
    run.assert_success();
    assert_eq!(run.host_lines("app1"), ["user=deploy sudo=root"]);
    assert!(
        !run.stdout().contains("deploy-password") && !run.stderr().contains("deploy-password"),
        "the sudo password was printed:\n{}",
        run.describe()
    );
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
