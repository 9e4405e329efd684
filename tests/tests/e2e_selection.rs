//! `-H`, `-R` and `-E` select exactly the hosts they name.

use dm_tests::*;

fn selected(run: &Run) -> Vec<String> {
    run.json()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn hosts_roles_and_environments_select_the_right_servers() {
    let fleet = fleet(&[("web1", &["web"]), ("appnode1", &[]), ("appnode2", &[])]);
    let inventory = format!(
        "default_environment = \"dev\"\n{}\n\
         [environments.dev]\nservers = [\"web1\", \"appnode1\"]\n\
         [environments.staging]\nservers = [\"appnode2\"]\nvars = {{ tier = \"staging\" }}\n",
        fleet.inventory_toml()
    );
    write(&fleet.dir().join("dm.toml"), &inventory);
    let dm = |args: &[&str]| Dm::new(&fleet).args(args).run();

    let run = dm(&["--json", "-R", "appnode", "describe"]);
    run.assert_success();
    assert_eq!(
        selected(&run),
        ["appnode1"],
        "role appnode in the default env dev"
    );

    let run = dm(&["--json", "-E", "staging", "-R", "appnode", "describe"]);
    run.assert_success();
    assert_eq!(selected(&run), ["appnode2"]);
    let lines = &run.json()["hosts"][0]["output"];
    assert!(
        lines.to_string().contains("hostname=appnode2")
            && lines.to_string().contains("tier=staging"),
        "{lines}"
    );

    let run = dm(&["-E", "staging", "-R", "appnode", "describe"]);
    run.assert_success();
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        text.contains("describe (staging): 1 host"),
        "the summary names the environment: {text}"
    );

    let run = dm(&["--json", "-H", "web1", "describe"]);
    run.assert_success();
    assert_eq!(selected(&run), ["web1"]);

    let run = dm(&["--json", "-H", "web1", "-R", "appnode", "describe"]);
    run.assert_success();
    let mut union = selected(&run);
    union.sort();
    assert_eq!(union, ["appnode1", "web1"]);

    let run = dm(&["--json", "describe"]);
    run.assert_success();
    let mut all = selected(&run);
    all.sort();
    assert_eq!(
        all,
        ["appnode1", "web1"],
        "no selection: every server of the environment"
    );

    let run = dm(&["-E", "prod", "describe"]);
    run.assert_code(3);
    run.assert_output_contains("unknown environment `prod`");
    run.assert_output_contains("dev, staging");
}
