//! `~/.ssh/config` end to end: a server the inventory names and nothing more is reached through
//! the user's ssh config alone — its `HostName`, `User`, `Port` and `IdentityFile` — like
//! `ssh web` would.

use std::process::Command;

use dm_tests::*;

#[test]
fn an_ssh_config_alias_gives_the_address_user_port_and_key() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    let address = machine.address().to_string();
    // sshd answers on 2222 too; nothing else in the run says 2222.
    machine.exec_ok(
        "printf 'Port 22\\nPort 2222\\n' > /etc/ssh/sshd_config.d/dm-test-port.conf && \
         systemctl restart ssh",
    );
    // A key of its own, authorized for `deploy` only: no default key file name, not the
    // fleet's key, not root's.
    let home = fleet.dir();
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).expect("~/.ssh");
    let key = ssh_dir.join("alias_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "alias", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    machine.exec_ok(&format!(
        "echo {} >> /home/deploy/.ssh/authorized_keys",
        dm_core::shell_quote(public.trim())
    ));
    // Its host key, known under [address]:2222 only.
    let known_hosts = home.join("known_hosts_2222");
    write(
        &known_hosts,
        &format!("[{address}]:2222 {}\n", machine.host_public_key()),
    );
    write(
        &ssh_dir.join("config"),
        &format!(
            "Host web\n    HostName {address}\n    User deploy\n    Port 2222\n    IdentityFile {}\n",
            key.display()
        ),
    );
    // The inventory says nothing about how to reach `web`.
    write(
        &fleet.inventory_path(),
        &format!(
            "[defaults]\nknown_hosts = \"{}\"\n\n[servers.web]\n",
            known_hosts.display()
        ),
    );

    // HOME is the fleet's directory (Dm::new), so `~/.ssh/config` is the file written above.
    let run = Dm::new(&fleet)
        .args(["-H", "web", "run", "echo via $(id -un) $SSH_CONNECTION"])
        .run();
    run.assert_success();
    let line = run
        .host_lines("web")
        .into_iter()
        .find(|l| l.starts_with("via "))
        .unwrap_or_else(|| panic!("no output from web:\n{}", run.describe()));
    // SSH_CONNECTION is `client-ip client-port server-ip server-port`, as the server saw it.
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (words[1], words[4], words[5]),
        ("deploy", address.as_str(), "2222"),
        "{line}\n{}",
        run.describe()
    );
}

#[test]
fn the_known_hosts_files_named_in_ssh_config_are_the_ones_checked() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    let address = machine.address().to_string();
    let home = fleet.dir();
    std::fs::create_dir_all(home.join(".ssh")).expect("~/.ssh");
    // The inventory names no known_hosts file, so where dm looks is up to ssh config; HOME is
    // the fleet's directory (Dm::new), whose ~/.ssh/known_hosts does not exist.
    let inventory: String = fleet
        .inventory_toml()
        .lines()
        .filter(|line| !line.starts_with("known_hosts"))
        .map(|line| format!("{line}\n"))
        .collect();
    write(&fleet.inventory_path(), &inventory);
    let line = format!("{address} {}\n", machine.host_public_key());
    let (user_file, global_file, empty) = (
        home.join("user_hosts"),
        home.join("global_hosts"),
        home.join("empty_hosts"),
    );
    write(&user_file, &line);
    write(&global_file, &line);
    write(&empty, "");
    let config = home.join(".ssh").join("config");
    let run = || {
        Dm::new(&fleet)
            .args(["-H", "app1", "run", "echo reached"])
            .run()
    };

    // UserKnownHostsFile names the file that has the key.
    write(
        &config,
        &format!(
            "Host {address}\n    UserKnownHostsFile {}\n",
            user_file.display()
        ),
    );
    run().assert_success();

    // GlobalKnownHostsFile names the file that has it; the user's file is empty.
    write(
        &config,
        &format!(
            "Host {address}\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile {}\n",
            empty.display(),
            global_file.display()
        ),
    );
    run().assert_success();

    // Neither file named has it: the host is unknown, and the message names the user's file.
    write(
        &config,
        &format!(
            "Host {address}\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile {}\n",
            empty.display(),
            empty.display()
        ),
    );
    let refused = run();
    assert_ne!(refused.code(), 0, "{}", refused.describe());
    refused.assert_output_contains(&empty.display().to_string());
}
