//! Environments never bleed into each other: a server booted for one environment is not a
//! server of another (unless that one lists it in its `servers`), `-E staging boot lb1` boots
//! staging's own lb1 although dev has one, and a server declared but not booted is said so (by
//! name, with the command that boots it) and counted in the summary, never skipped silently.

use std::time::Duration;

use dm::testing::LocalProject;
use dm_tests::{Dm, Run};

/// Every dm run of these tests ends within this.
const DEADLINE: Duration = Duration::from_secs(300);

const INVENTORY: &str = r#"provider = "local"
default_environment = "dev"

[servers.lb1]
roles = ["loadbalancer"]

[servers.appnode1]

[environments.dev]
[environments.staging]
[environments.qa]
servers = ["lb1"]
"#;

fn dm(project: &LocalProject, args: &[&str]) -> Run {
    Dm::in_dir(project.dir()).args(args).run_within(DEADLINE)
}

/// The machines of the project, by name.
fn machine_names(project: &LocalProject) -> Vec<String> {
    let mut names: Vec<String> = project
        .machines()
        .expect("machines")
        .into_iter()
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

#[test]
fn servers_booted_for_one_environment_are_not_another_ones() {
    dm::tasks::link();
    let project =
        LocalProject::new().unwrap_or_else(|e| panic!("cannot create a local project: {e}"));
    project.write_inventory(INVENTORY).expect("inventory");

    dm(&project, &["boot", "lb1"]).assert_success();
    assert_eq!(machine_names(&project), ["lb1"]);

    // Staging has booted nothing: dev's lb1 is not staging's, and nothing runs anywhere.
    let run = dm(&project, &["-E", "staging", "run", "hostname"]);
    run.assert_code(3);
    run.assert_output_contains("declared, not booted for environment `staging`");
    run.assert_output_contains(
        "`appnode1`, `lb1`: declared, not booted for environment `staging` \
         (run `-E staging boot appnode1 lb1`)",
    );
    let run = dm(&project, &["-E", "staging", "-H", "lb1", "run", "hostname"]);
    run.assert_code(3);
    run.assert_output_contains(
        "`lb1`: declared, not booted for environment `staging` (run `-E staging boot lb1`)",
    );

    // In dev, lb1 runs and appnode1 is named as not booted, in the summary and in --json.
    let run = dm(&project, &["run", "hostname"]);
    run.assert_success();
    assert_eq!(run.host_lines("lb1"), ["lb1"]);
    run.assert_output_contains("1 host: 1 ok, 0 failed, 0 unreachable, 1 declared, not booted");
    run.assert_output_contains("declared, not booted (run `boot appnode1`)");
    let run = dm(&project, &["--json", "run", "hostname"]);
    run.assert_success();
    assert_eq!(run.json()["not_booted"], serde_json::json!(["appnode1"]));
    let run = dm(&project, &["-H", "appnode1", "run", "true"]);
    run.assert_code(3);
    run.assert_output_contains(
        "`appnode1`: declared, not booted for environment `dev` (run `-E dev boot appnode1`)",
    );

    // Staging boots its own lb1: a second server, not dev's "already booted".
    let run = dm(&project, &["-E", "staging", "boot", "lb1"]);
    run.assert_success();
    assert!(
        !run.stdout().contains("already booted"),
        "{}",
        run.describe()
    );
    assert_eq!(machine_names(&project), ["lb1", "lb1-staging"]);
    let run = dm(&project, &["-E", "staging", "-H", "lb1", "run", "hostname"]);
    run.assert_success();
    assert_eq!(run.host_lines("lb1"), ["lb1-staging"]);
    let run = dm(&project, &["-H", "lb1", "run", "hostname"]);
    run.assert_success();
    assert_eq!(run.host_lines("lb1"), ["lb1"]);

    // qa lists lb1 in its servers: the inventory says qa uses dev's lb1 (booted first).
    let run = dm(&project, &["-E", "qa", "run", "hostname"]);
    run.assert_success();
    assert_eq!(run.host_lines("lb1"), ["lb1"]);
    let run = dm(&project, &["-E", "qa", "boot", "lb1"]);
    run.assert_success();
    run.assert_output_contains("lb1: already booted");
    assert_eq!(machine_names(&project), ["lb1", "lb1-staging"]);

    // Destroying staging's lb1 leaves dev's.
    dm(&project, &["-E", "staging", "destroy", "lb1", "--yes"]).assert_success();
    assert_eq!(machine_names(&project), ["lb1"]);
    let run = dm(&project, &["-H", "lb1", "run", "hostname"]);
    run.assert_success();
    assert_eq!(run.host_lines("lb1"), ["lb1"]);
    let run = dm(&project, &["-E", "staging", "destroy", "lb1", "--yes"]);
    run.assert_code(3);
    run.assert_output_contains("it is not a server booted by dm for environment `staging`");
    assert_eq!(machine_names(&project), ["lb1"]);
}
