//! Host keys: unknown keys are refused unless accept-new is asked for; changed keys always are.

use dm_tests::*;

#[test]
fn unknown_host_key_is_refused_in_strict_mode_and_recorded_with_accept_new() {
    let fleet = fleet(&[("app1", &[])]);
    let known_hosts = fleet.dir().join("empty_known_hosts");
    write(&known_hosts, "");
    let kh = known_hosts.to_str().expect("utf8");
    let address = fleet.machine("app1").address().to_string();

    let run = Dm::new(&fleet)
        .args(["--known-hosts", kh, "-H", "app1", "mark", "strict"])
        .run();
    run.assert_code(4);
    run.assert_output_contains(&format!("app1: host key of {address} is not known"));
    run.assert_output_contains("--accept-new-host-keys");
    run.assert_output_contains("unreachable");
    let marker = fleet
        .machine("app1")
        .exec_ok("test -e /tmp/dm-mark-strict && echo yes || echo no");
    assert_eq!(marker.trim(), "no", "the task ran despite the unknown key");

    Dm::new(&fleet)
        .args([
            "--known-hosts",
            kh,
            "--accept-new-host-keys",
            "-H",
            "app1",
            "mark",
            "learn",
        ])
        .run()
        .assert_success();
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert!(recorded.contains(&address), "key not recorded: {recorded}");

    Dm::new(&fleet)
        .args(["--known-hosts", kh, "-H", "app1", "mark", "again"])
        .run()
        .assert_success();
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new() {
    let fleet = fleet(&[("app1", &[])]);
    Dm::new(&fleet)
        .args(["-H", "app1", "mark", "before"])
        .run()
        .assert_success();
    fleet.machine("app1").regenerate_host_key();
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let run = Dm::new(&fleet)
            .args(extra.iter().copied())
            .args(["-H", "app1", "mark", "after"])
            .run();
        run.assert_code(5);
        run.assert_output_contains("untrusted");
        run.assert_output_contains("HOST KEY OF");
        run.assert_output_contains("HAS CHANGED");
        run.assert_output_contains("ssh-keygen -R");
    }
}

#[test]
fn host_known_with_one_algorithm_is_not_learned_again_with_another() {
    // A man in the middle offering only RSA for a host known by its ed25519 key: the host is
    // known, so this is a changed key, even with --accept-new-host-keys.
    let fleet = fleet(&[("app1", &[])]);
    fleet.machine("app1").exec_ok(
        "ssh-keygen -A >/dev/null && \
         printf 'HostKey /etc/ssh/ssh_host_rsa_key\\nHostKeyAlgorithms rsa-sha2-512,rsa-sha2-256\\n' \
           > /etc/ssh/sshd_config.d/rsa-only.conf && \
         systemctl restart ssh",
    );
    let before = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    let run = Dm::new(&fleet)
        .args(["--accept-new-host-keys", "-H", "app1", "mark", "rsa"])
        .run();
    run.assert_code(5);
    run.assert_output_contains("HAS CHANGED");
    let after = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    assert_eq!(before, after, "a key of another algorithm was learned");
}

#[test]
fn accepting_a_new_host_key_says_so() {
    let fleet = fleet(&[("app1", &[])]);
    let known_hosts = fleet.dir().join("fresh_known_hosts");
    write(&known_hosts, "");
    let run = Dm::new(&fleet)
        .args([
            "--known-hosts",
            known_hosts.to_str().expect("utf8"),
            "--accept-new-host-keys",
            "-H",
            "app1",
            "mark",
            "said",
        ])
        .run();
    run.assert_success();
    run.assert_output_contains("app1: recorded its host key SHA256:");
    run.assert_output_contains("(--accept-new-host-keys)");
}

#[test]
fn known_hosts_patterns_and_revoked_keys_are_honoured() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    let key = machine.host_public_key();
    let key = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let kh = fleet.dir().join("patterns_known_hosts");
    let kh_arg = kh.to_str().expect("utf8").to_string();

    // A wildcard line covers the machine (strict checking: nothing is learned).
    let octets = machine.address().octets();
    write(
        &kh,
        &format!(
            "# managed elsewhere\n10.231.{}.*,!10.231.{}.1 {key}\n",
            octets[2], octets[2]
        ),
    );
    Dm::new(&fleet)
        .args(["--known-hosts", &kh_arg, "-H", "app1", "mark", "pattern"])
        .run()
        .assert_success();

    // The same key revoked: refused whatever else says it is known, with its own exit code.
    write(
        &kh,
        &format!(
            "10.231.{}.* {key}\n@revoked * {key}\n@cert-authority *.example.com {key}\n",
            octets[2]
        ),
    );
    let run = Dm::new(&fleet)
        .args(["--known-hosts", &kh_arg, "-H", "app1", "mark", "revoked"])
        .run();
    run.assert_code(5);
    run.assert_output_contains("is REVOKED in");
    run.assert_output_contains(":2");
    let there = machine.exec_ok("test -e /tmp/dm-mark-revoked && echo yes || echo no");
    assert_eq!(there.trim(), "no", "the task ran with a revoked key");
}

/// Signs `machine`'s ed25519 host key with the CA key `ca` (a file in `dir`) for `principal`,
/// installs the certificate as the machine's `HostCertificate` and restarts sshd (Debian's unit
/// is `Type=notify`: the restart returns once sshd listens again).
fn install_host_certificate(
    machine: &dm::testing::Machine,
    dir: &std::path::Path,
    ca: &std::path::Path,
    principal: &str,
) {
    let public = dir.join("host_key.pub");
    write(&public, &format!("{}\n", machine.host_public_key()));
    let signed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", "dm-test-host", "-h", "-n", principal, "-V", "-1h:+1h"])
        .arg(&public)
        .output()
        .expect("run ssh-keygen -s");
    assert!(
        signed.status.success(),
        "ssh-keygen -s failed: {}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let cert = std::fs::read_to_string(dir.join("host_key-cert.pub")).expect("certificate");
    machine.exec_ok(&format!(
        "printf '%s\\n' '{}' > /etc/ssh/ssh_host_ed25519_key-cert.pub && \
         echo 'HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub' \
           > /etc/ssh/sshd_config.d/host-cert.conf && \
         systemctl restart ssh",
        cert.trim()
    ));
}

#[test]
fn a_host_certificate_from_a_trusted_authority_is_enough_and_a_wrong_one_is_refused() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    let dir = fleet.dir().join("host-ca");
    std::fs::create_dir_all(&dir).expect("ca dir");
    let ca = dir.join("ca");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dm test CA", "-f"])
        .arg(&ca)
        .output()
        .expect("run ssh-keygen");
    assert!(made.status.success(), "ssh-keygen: {made:?}");
    let ca_public = std::fs::read_to_string(dir.join("ca.pub")).expect("ca.pub");
    let address = machine.address().to_string();
    let octets = machine.address().octets();

    // Only the authority is listed: the host's own key is not in dm's known_hosts.
    let kh = fleet.dir().join("ca_known_hosts");
    let kh_arg = kh.to_str().expect("utf8").to_string();
    let authority = format!(
        "@cert-authority 10.231.{}.* {}\n",
        octets[2],
        ca_public.trim()
    );
    write(&kh, &authority);

    install_host_certificate(machine, &dir, &ca, &address);
    Dm::new(&fleet)
        .args(["--known-hosts", &kh_arg, "-H", "app1", "mark", "certified"])
        .run()
        .assert_success();
    let there = machine.exec_ok("test -e /tmp/dm-mark-certified && echo yes || echo no");
    assert_eq!(there.trim(), "yes", "the task did not run");
    let after = std::fs::read_to_string(&kh).expect("known_hosts");
    assert_eq!(
        after, authority,
        "known_hosts changed: the host key was recorded"
    );

    // A certificate from the same authority, but for another host: refused, as untrusted.
    install_host_certificate(machine, &dir, &ca, "other.example.com");
    let run = Dm::new(&fleet)
        .args([
            "--known-hosts",
            &kh_arg,
            "-H",
            "app1",
            "mark",
            "wrong-principal",
        ])
        .run();
    run.assert_code(5);
    run.assert_output_contains("untrusted");
    run.assert_output_contains(&format!("app1: the host certificate {address} presented"));
    run.assert_output_contains(&format!(
        "{address} is not among its principals (other.example.com)"
    ));
    let there = machine.exec_ok("test -e /tmp/dm-mark-wrong-principal && echo yes || echo no");
    assert_eq!(
        there.trim(),
        "no",
        "the task ran with a certificate for another host"
    );
}
