//! Cloud `boot` through the task layer: `boot`, `servers`, a task on the booted server and
//! `destroy`, run from the command line against dm-providers' fake Hetzner and DigitalOcean APIs
//! (on 127.0.0.1, reached through the provider table's documented `api_url`). The fake's new
//! server has a real local test machine's address, so "up" means what it means with a real
//! cloud: the provider says running, SSH answers there, and dm's next run reaches it by name.

use std::process::Command;

use crate::fake::{Api, Fake};
use dm_tests::*;

/// The provider table, the token variable, the API's path prefix and its create path, per API.
fn cloud(api: Api) -> (&'static str, &'static str, &'static str, &'static str) {
    match api {
        Api::Hetzner => (
            "name = \"hetzner\", size = \"cx22\", image = \"debian-12\", region = \"fsn1\"",
            "HCLOUD_TOKEN",
            "/v1/",
            "/v1/servers",
        ),
        Api::DigitalOcean => (
            "name = \"digitalocean\", size = \"s-1vcpu-1gb\", image = \"debian-12-x64\", \
             region = \"fra1\"",
            "DIGITALOCEAN_TOKEN",
            "/v2/",
            "/v2/droplets",
        ),
    }
}

#[test]
fn boot_through_a_cloud_api_records_the_server_and_the_next_run_reaches_it() {
    let fleet = fleet(&[("standin", &[])]);
    let machine = fleet.machine("standin");
    let public = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(fleet.private_key())
        .output()
        .expect("ssh-keygen -y");
    let public = String::from_utf8_lossy(&public.stdout).into_owned();
    let key_body = public
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no public key from ssh-keygen: {public:?}"))
        .to_string();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    for api in [Api::Hetzner, Api::DigitalOcean] {
        let (table, token_var, prefix, create_path) = cloud(api);
        let token = format!("task-layer-{token_var}-3f81c0d2");
        let fake = runtime.block_on(Fake::start(api, &token));
        fake.world().public_ip = machine.address().to_string();
        let project = fleet.dir().join(token_var.to_lowercase());
        std::fs::create_dir_all(&project).expect("project dir");
        write(
            &project.join("dm.toml"),
            &format!(
                "provider = {{ {table}, api_url = \"{}\" }}\n\n[defaults]\nuser = \"root\"\n\
                 identity_file = \"{}\"\nknown_hosts = \"{}\"\n",
                fake.base_url(),
                fleet.private_key().display(),
                fleet.known_hosts().display()
            ),
        );
        let dm = |args: &[&str]| -> Run {
            let run = Dm::in_dir(&project).env(token_var, &token).args(args).run();
            run.assert_success();
            assert!(
                !run.stdout().contains(&token) && !run.stderr().contains(&token),
                "{token_var} was printed:\n{}",
                run.describe()
            );
            run
        };

        let booted = dm(&["boot", "web1"]);
        booted.assert_output_contains(&format!("web1: up at {}", machine.address()));
        // Said out loud: the token goes to another endpoint than the provider's own.
        booted.assert_output_contains(&format!("using the API at {}", fake.base_url()));
        assert_eq!(fake.count("POST", create_path), 1, "{}", booted.describe());
        let created = serde_json::to_string(&fake.bodies("POST", create_path)).expect("json");
        assert!(
            created.contains(&key_body),
            "the create request does not carry the operator's key: {created}"
        );
        let state =
            std::fs::read_to_string(project.join("servers.state.toml")).expect("the state file");
        assert!(
            state.contains("web1") && state.contains(&machine.address().to_string()),
            "{state}"
        );

        // The next run finds it by name, through the state file, and reaches it over SSH.
        let reached = dm(&["-H", "web1", "run", "cat /etc/hostname"]);
        assert_eq!(
            reached.host_lines("web1"),
            ["standin"],
            "{}",
            reached.describe()
        );
        dm(&["servers"]).assert_output_contains("web1");

        dm(&["destroy", "web1", "--yes"]);
        assert!(
            fake.world().servers.is_empty(),
            "the fake still has a server"
        );
        let state = std::fs::read_to_string(project.join("servers.state.toml")).unwrap_or_default();
        assert!(!state.contains("web1"), "{state}");
        // Every request went to the fake with the token; none was refused.
        let refused: Vec<(String, String, u16)> = fake
            .world()
            .log
            .iter()
            .filter(|(_, path, status)| !path.starts_with(prefix) || *status == 401)
            .cloned()
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
    }
}
