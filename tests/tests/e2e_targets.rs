//! A task's `#[arg(hosts)]` values select its hosts like `-H`/`-R`, and a task can fan out to the
//! selected hosts itself with `ctx.on_hosts`.

use dm_tests::*;

fn hosts_of(run: &Run) -> Vec<String> {
    let mut hosts: Vec<String> = run.json()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host"].as_str().unwrap_or_default().to_string())
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn positional_servers_and_roles_select_the_hosts() {
    let fleet = fleet(&[("web1", &["web"]), ("appnode1", &[]), ("appnode2", &[])]);
    let dm = |args: &[&str]| Dm::new(&fleet).args(args).run();

    let run = dm(&["--json", "targeted", "appnode2"]);
    run.assert_success();
    assert_eq!(hosts_of(&run), ["appnode2"]);

    let run = dm(&["--json", "targeted", "appnode"]);
    run.assert_success();
    assert_eq!(
        hosts_of(&run),
        ["appnode1", "appnode2"],
        "a role name selects its servers"
    );

    let run = dm(&["--json", "-H", "web1", "targeted", "appnode1"]);
    run.assert_success();
    assert_eq!(hosts_of(&run), ["appnode1", "web1"], "adds up with -H");

    let run = dm(&["targeted", "appnod3"]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(run.stderr().contains("appnod3"), "{}", run.stderr());
}

#[test]
fn a_local_task_fans_out_to_the_selected_hosts_and_reports_each_failure() {
    let fleet = fleet(&[("appnode1", &[]), ("appnode2", &[]), ("db1", &["db"])]);
    let dm = |args: &[&str]| Dm::new(&fleet).args(args).run();

    let run = dm(&["fan-out", "appnode"]);
    run.assert_success();
    let out = run.stdout();
    assert!(out.contains("selected 2"), "{out}");
    for host in ["appnode1", "appnode2"] {
        assert!(out.contains(&format!("fanned {host}")), "{out}");
    }
    assert!(!out.contains("fanned db1"), "{out}");
    // The step on this machine is not a host: 2 servers are 2 hosts.
    run.assert_output_contains("fan-out: 2 hosts: 2 ok, 0 failed, 0 unreachable in");

    let run = dm(&["fan-out", "appnode", "db1", "--fail", "appnode2"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let all = format!("{}{}", run.stdout(), run.stderr());
    for host in ["appnode1", "appnode2", "db1"] {
        assert!(
            all.contains(&format!("fanned {host}")),
            "every host's work ran: {all}"
        );
    }
    assert!(
        all.contains("1 host(s) failed") && all.contains("appnode2"),
        "{all}"
    );
    assert!(all.contains("failing on purpose"), "{all}");
    assert!(
        all.contains("fan-out: 3 hosts: 2 ok, 1 failed, 0 unreachable, local step failed"),
        "{all}"
    );

    // The summary and the JSON report list every host the task fanned out to.
    let run = dm(&["--json", "fan-out", "appnode", "db1", "--fail", "appnode2"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert_eq!(hosts_of(&run), ["appnode1", "appnode2", "db1", "local"]);
    let status = |host: &str| {
        run.json()["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|h| h["host"] == host)
            .map(|h| h["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status("appnode1"), "ok");
    assert_eq!(status("appnode2"), "failed");
    assert_eq!(status("local"), "failed");
}
