//! Secrets on a real machine: an environment's encrypted secret reaches the host in a file
//! (mode 0600), and no output, JSON report or error message of any run contains it.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use dm::testing::Fleet;
use dm_tests::*;

const SECRET: &str = "Pg-pass-7f3k9-x2q";

/// The fleet's inventory with an environment `production` holding app1, and an age key whose
/// secrets (`postgres_password = SECRET`) are made with the `secrets` command.
fn setup() -> (Fleet, std::path::PathBuf) {
    setup_with(SECRET)
}

/// [`setup`] with `secret` as `postgres_password`.
fn setup_with(secret: &str) -> (Fleet, std::path::PathBuf) {
    let fleet = fleet(&[("app1", &[])]);
    let dir = fleet.dir().to_path_buf();
    write(
        &dir.join("dm.toml"),
        &format!(
            "{}\n[environments.production]\nservers = [\"app1\"]\n",
            fleet.inventory_toml()
        ),
    );
    let key = dir.join("keys/age.key");
    let keygen = secrets_cli(
        &dir,
        None,
        &["keygen", "--output", key.to_str().expect("utf8")],
        "",
    );
    keygen.assert_success();
    let public = keygen.stdout().trim().to_string();
    assert!(public.starts_with("age1"), "{}", keygen.describe());
    let mode = std::fs::metadata(&key).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "private key mode");

    secrets_cli(
        &dir,
        None,
        &["init", "production", "--recipient", &public],
        "",
    )
    .assert_success();
    secrets_cli(
        &dir,
        Some(&key),
        &["set", "production", "postgres_password"],
        &format!("{secret}\n"),
    )
    .assert_success();
    let shown = secrets_cli(
        &dir,
        Some(&key),
        &["show", "production", "postgres_password"],
        "",
    );
    shown.assert_success();
    assert_eq!(shown.stdout(), format!("{secret}\n"));
    let listed = secrets_cli(&dir, None, &["recipients", "production"], "");
    listed.assert_success();
    assert!(listed.stdout().contains(&public), "{}", listed.describe());
    let on_disk = std::fs::read_to_string(dir.join("secrets/production.age")).expect("age file");
    assert!(!on_disk.contains(secret));
    (fleet, key)
}

/// Panics if the secret appears anywhere in what the run printed.
fn assert_not_leaked(run: &Run) {
    assert!(
        !run.stdout().contains(SECRET) && !run.stderr().contains(SECRET),
        "dm {:?} printed the secret:\n{}",
        run.args,
        run.describe()
    );
}

#[test]
fn secret_reaches_the_host_and_never_the_output() {
    let (fleet, key) = setup();
    let machine = fleet.machine("app1");
    let key = key.to_str().expect("utf8");

    let run = Dm::new(&fleet)
        .env("DM_AGE_IDENTITY", key)
        .args([
            "-v",
            "-E",
            "production",
            "-H",
            "app1",
            "secret-file",
            "/root/db.conf",
        ])
        .run();
    run.assert_success();
    assert_not_leaked(&run);
    // The task printed the secret twice (its log line and `cat`): both masked.
    run.assert_output_contains("with password ********");
    run.assert_output_contains("password=********");
    assert_eq!(
        machine.exec_ok("cat /root/db.conf"),
        format!("password={SECRET}\nfrom_vars={SECRET}\n"),
        "the host has the value, from ctx.secret and from the `secret` variable"
    );
    assert_eq!(machine.exec_ok("stat -c %a /root/db.conf").trim(), "600");

    machine.exec_ok("rm /root/db.conf");
    let run = Dm::new(&fleet)
        .env("DM_AGE_IDENTITY", key)
        .args([
            "--json",
            "-E",
            "production",
            "-H",
            "app1",
            "secret-file",
            "/root/db.conf",
        ])
        .run();
    run.assert_success();
    assert_not_leaked(&run);
    let report = run.json();
    let lines: Vec<String> = report["hosts"][0]["output"]
        .as_array()
        .expect("output lines")
        .iter()
        .filter_map(|l| l["line"].as_str().map(str::to_string))
        .collect();
    assert!(lines.iter().any(|l| l == "password=********"), "{lines:?}");
    assert!(machine.exec_ok("cat /root/db.conf").contains(SECRET));

    // Failures whose messages contain the secret: a command that fails and prints it, and the
    // task's own error. In live output, the summary, and the JSON report.
    for how in ["command", "error"] {
        for output in ["-v", "--json"] {
            let run = Dm::new(&fleet)
                .env("DM_AGE_IDENTITY", key)
                .args([output, "-E", "production", "-H", "app1", "secret-fail", how])
                .run();
            run.assert_code(1);
            assert_not_leaked(&run);
            run.assert_output_contains("********");
        }
    }
}

/// A secret with quotes is on command lines only shell-quoted (`'it'\''s'`), and escaped in the
/// JSON report: masked in those forms too, in `-v` output, errors and `--json`.
#[test]
fn a_secret_with_quotes_is_masked_in_its_quoted_forms() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let unique = format!("q{}x{nanos}", std::process::id());
    let secret = format!("it's \"{unique}\" o'clock");
    let (fleet, key) = setup_with(&secret);
    let key = key.to_str().expect("utf8");
    for output in ["-v", "--json"] {
        let run = Dm::new(&fleet)
            .env("DM_AGE_IDENTITY", key)
            .args([
                output,
                "-E",
                "production",
                "-H",
                "app1",
                "secret-fail",
                "command",
            ])
            .run();
        run.assert_code(1);
        run.assert_output_contains("********");
        assert!(
            !run.stdout().contains(&unique) && !run.stderr().contains(&unique),
            "dm {output} printed the secret in some form:\n{}",
            run.describe()
        );
    }
}

#[test]
fn tasks_without_secrets_run_when_the_secrets_cannot_be_decrypted() {
    let (fleet, _key) = setup();
    // No DM_AGE_IDENTITY and no key in $HOME (the fleet directory).
    let run = Dm::new(&fleet)
        .args(["-E", "production", "-H", "app1", "mark", "nosecrets"])
        .run();
    run.assert_success();
    assert_eq!(
        fleet
            .machine("app1")
            .exec_ok("cat /tmp/dm-mark-nosecrets")
            .trim(),
        "1"
    );

    let run = Dm::new(&fleet)
        .args([
            "-E",
            "production",
            "-H",
            "app1",
            "secret-file",
            "/root/db.conf",
        ])
        .run();
    run.assert_code(1);
    run.assert_output_contains("secret `postgres_password`");
    run.assert_output_contains("cannot decrypt");
    run.assert_output_contains("DM_AGE_IDENTITY");
    let absent = fleet
        .machine("app1")
        .exec_ok("test -e /root/db.conf && echo yes || echo no");
    assert_eq!(absent.trim(), "no");

    // Without an environment there are no secrets, and the message says how to pick one.
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "secret-file", "/root/db.conf"])
        .run();
    run.assert_code(1);
    run.assert_output_contains("no environment is active");
}

#[test]
fn secrets_command_refuses_unknown_environments_and_wrong_keys() {
    let (fleet, _key) = setup();
    let dir = fleet.dir();
    let run = secrets_cli(dir, None, &["show", "prod"], "");
    run.assert_code(3);
    run.assert_output_contains("unknown environment `prod`");

    let stranger = dir.join("stranger.key");
    secrets_cli(
        dir,
        None,
        &["keygen", "-o", stranger.to_str().expect("utf8")],
        "",
    )
    .assert_success();
    let run = secrets_cli(dir, Some(&stranger), &["show", "production"], "");
    run.assert_code(3);
    run.assert_output_contains("none of the keys tried is one of its recipients");
    run.assert_output_contains("secrets recipients production add");
    assert_not_leaked(&run);
}

/// While a file uploaded with mode 0600 is on its way (a slow link), its temporary file on the
/// host is never readable by anyone but its owner.
#[test]
fn uploaded_private_file_is_never_wider_than_0600_while_it_fills() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    let local = fleet.dir().join("private.bin");
    std::fs::write(&local, vec![b's'; 3 * 1024 * 1024]).expect("write local file");
    // About 3 s for 3 MiB: long enough to watch the temporary file grow.
    machine.limit_bandwidth(8_000);
    let mut child = Dm::new(&fleet)
        .args([
            "-H",
            "app1",
            "put-private",
            local.to_str().expect("utf8"),
            "/root/private.bin",
        ])
        .spawn();

    // Watch /root of the machine from outside (its root directory is visible here).
    let root = machine.root_dir().join("root");
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !root.join("private.bin").exists() {
        assert!(Instant::now() < deadline, "the upload never finished");
        if let Ok(Some(status)) = child.try_wait()
            && !status.success()
        {
            let out = child.wait_with_output().expect("dm output");
            panic!("dm failed: {}", Run::from_output(vec![], out).describe());
        }
        for entry in std::fs::read_dir(&root).expect("read /root").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains("dm-tmp")
                && let Ok(meta) = entry.metadata()
            {
                samples.push((meta.permissions().mode() & 0o777, meta.len()));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let run = Run::from_output(
        vec!["put-private".into()],
        child.wait_with_output().expect("dm ends"),
    );
    run.assert_success();
    let filling: Vec<_> = samples.iter().filter(|(_, len)| *len > 0).collect();
    assert!(
        filling.len() >= 3,
        "the temporary file was hardly seen filling: {samples:?}"
    );
    let wide: Vec<_> = samples
        .iter()
        .filter(|(mode, _)| mode & 0o077 != 0)
        .collect();
    assert!(
        wide.is_empty(),
        "temporary file readable by others: {wide:?}"
    );
    assert_eq!(
        machine.exec_ok("stat -c %a /root/private.bin").trim(),
        "600"
    );
}
