//! What a task sees: scoped directory and environment, facts, vars, local commands, `once`.

use dm_tests::*;

#[test]
fn scoped_directory_and_environment_apply_to_commands() {
    let fleet = fleet(&[("app1", &[])]);
    let run = Dm::new(&fleet).args(["-H", "app1", "scoped"]).run();
    run.assert_success();
    assert_eq!(run.host_lines("app1"), ["/tmp hello world"]);
}

#[test]
fn facts_and_vars_describe_the_host() {
    let fleet = fleet(&[("app1", &[])]);
    let text = fleet.inventory_toml().replace(
        "[servers.app1]\n",
        "[servers.app1]\nvars = { tier = \"gold\" }\n",
    );
    write(&fleet.dir().join("dm.toml"), &text);
    let run = Dm::new(&fleet).args(["-H", "app1", "describe"]).run();
    run.assert_success();
    assert_eq!(
        run.host_lines("app1"),
        ["hostname=app1 os=debian tier=gold"]
    );
}

#[test]
fn local_task_runs_once_on_the_controller_and_once_task_on_the_first_host() {
    let fleet = fleet(&[("app1", &[]), ("app2", &[])]);
    let run = Dm::new(&fleet).args(["on-controller"]).run();
    run.assert_success();
    assert_eq!(run.host_lines("local"), ["controller-root"]);

    let run = Dm::new(&fleet)
        .args(["-H", "app2,app1", "first-only"])
        .run();
    run.assert_success();
    let lines: Vec<String> = ["app1", "app2"]
        .iter()
        .flat_map(|h| run.host_lines(h))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.describe());
}
