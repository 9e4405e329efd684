//! `launch` on real machines for the combined role `dbappbalancer` (everything on one server:
//! PostgreSQL, redis, the app and nginx, from the webapp example's settings), and the clear error
//! for a role launch does not know.

use std::path::{Path, PathBuf};
use std::process::Command;

use dm::testing::Fleet;
use dm_tests::*;

/// The example fabfile's directory.
pub(crate) fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webapp")
}

/// The `[vars.*]` tables of the example's dm.toml (everything from `[vars.app]` to the servers).
pub(crate) fn example_vars() -> String {
    let text = std::fs::read_to_string(example_dir().join("dm.toml")).expect("example dm.toml");
    let start = text.find("[vars.app]").expect("[vars.app] in the example");
    let end = text.find("[servers.").expect("[servers.*] in the example");
    text[start..end].to_string()
}

/// A git repository of the example's app in `repo`.
pub(crate) fn make_app_repo(repo: &Path) {
    std::fs::create_dir_all(repo).expect("repo dir");
    for entry in std::fs::read_dir(example_dir().join("app")).expect("examples/webapp/app") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), repo.join(entry.file_name())).expect("copy app file");
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=dm test",
            "-c",
            "user.email=test@dm.invalid",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    ] {
        let status = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    }
}

#[test]
fn dbappbalancer_runs_the_whole_stack_on_one_server() {
    let fleet = boot(
        Fleet::builder()
            .machine("all1", &["dbappbalancer"])
            .environment("dev"),
    );
    let repo = fleet.dir().join("app-repo");
    make_app_repo(&repo);
    let vars = example_vars().replace("\"build/app\"", &format!("\"{}\"", repo.display()));
    write(
        &fleet.inventory_path(),
        &format!("{}\n{vars}", fleet.inventory_toml()),
    );
    let secrets = fleet.dir().join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    for file in ["dev.age", "dev.recipients"] {
        std::fs::copy(example_dir().join("secrets").join(file), secrets.join(file))
            .expect("copy the example's secrets");
    }
    let key = example_dir().join("secrets/dev.key");
    let launch = || {
        Dm::new(&fleet)
            .env("DM_AGE_IDENTITY", key.to_str().expect("utf8"))
            .args(["--json", "launch"])
            .run()
    };

    let run = launch();
    run.assert_success();
    let all1 = fleet.machine("all1");
    for unit in ["postgresql@15-main", "redis-server", "nginx", "supervisor"] {
        assert!(all1.is_active(unit), "{unit} runs on all1");
    }
    let page = all1.http_get(80, "/").expect("the load balancer answers");
    assert_eq!(
        (page.status, page.body.trim()),
        (200, "served by all1: hello from postgres")
    );

    let run = launch();
    run.assert_success();
    assert_eq!(
        run.json()["operations"]["changed"],
        0,
        "a second launch changes nothing:\n{}",
        run.describe()
    );
}

#[test]
fn an_unknown_role_is_a_clear_error() {
    let fleet = boot(Fleet::builder().machine("web1", &["webserver"]));
    let run = Dm::new(&fleet).args(["launch", "web1"]).run();
    run.assert_code(1);
    run.assert_output_contains("web1: launch does not know role `webserver`");
    run.assert_output_contains(
        "known roles: dbserver, cachenode, appnode, loadbalancer, appbalancer, dbappbalancer",
    );
}
