//! What `#[task]` registers: the `TaskDef` fields, and clap arguments that parse command lines the
//! way the documentation says.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgMatches, Command};
use dm::prelude::*;
use dm::task::TaskDef;

/// Show uptime on every selected host.
///
/// Longer description shown by `restart --help`.
///
#[task]
async fn health(_ctx: &Ctx) -> Result<()> {
    Ok(())
}

/// Restart a service, two hosts at a time.
#[task(roles = ["appnode"], serial = 2)]
async fn restart(
    ctx: &Ctx,
    #[arg(help = "systemd unit to restart")] service: String,
    #[arg(help = "seconds to wait", default = "5")] wait: u64,
    #[arg(short = 'f')] force: bool,
    branch: Option<String>,
    #[arg(help = "extra hosts")] tag: Vec<String>,
) -> Result<()> {
    // Tasks stay plain functions that other tasks can call.
    health(ctx).await?;
    let _ = (service, wait, force, branch, tag);
    Ok(())
}

/// Back up the database.
#[task(name = "db-backup", once, parallel = 3, roles = ["db", "replica"])]
async fn backup_database(
    _ctx: &dm::Ctx,
    #[arg(long = "target-dir", short = 't', help = "where dumps go")] dir: PathBuf,
    #[arg(long = "env")] environment: String,
    keep_last: Option<u32>,
    dry_run: bool,
    r#type: String,
) -> Result<()> {
    let _ = (dir, environment, keep_last, dry_run, r#type);
    Ok(())
}

/// Deploy one revision, named one way.
#[task]
async fn ship(
    _ctx: &Ctx,
    #[arg(conflicts_with = "tag")] branch: Option<String>,
    #[arg(conflicts_with = "commit")] tag: Option<String>,
    #[arg(conflicts_with = "branch")] commit: Option<String>,
) -> Result<()> {
    let _ = (branch, tag, commit);
    Ok(())
}

#[doc = "Build the release locally."]
#[doc = concat!("Built from ", "parts.")]
#[task(local)]
async fn build_release(_ctx: &Ctx) -> std::result::Result<(), std::io::Error> {
    Ok(())
}

#[task]
async fn undocumented(
    _ctx: &Ctx,
    #[arg(default = "x")] letter: char,
    #[arg(default = "-1.5")] ratio: f64,
) -> Result<()> {
    let _ = (letter, ratio);
    Ok(())
}

/// Launch servers given by name or role.
#[task(local)]
async fn launch(
    _ctx: &Ctx,
    #[arg(hosts, help = "servers or roles")] targets: Vec<String>,
    #[arg(short = 'b')] branch: Option<String>,
) -> Result<()> {
    let _ = (targets, branch);
    Ok(())
}

/// Boot servers that need not be in the inventory yet.
#[task(local)]
async fn spawn(
    _ctx: &Ctx,
    size: String,
    #[arg(positional, help = "the servers to boot")] names: Vec<String>,
    #[arg(short = 'y')] yes: bool,
) -> Result<()> {
    let _ = (size, names, yes);
    Ok(())
}

#[task]
async fn open_ports(_ctx: &Ctx, #[arg(positional)] ports: Vec<u16>) -> Result<()> {
    let _ = ports;
    Ok(())
}

/// The task of this name defined in this file (dm's standard tasks are linked in too).
fn def(name: &str) -> &'static TaskDef {
    dm::task::registered()
        .into_iter()
        .find(|t| t.name == name && t.module_path == module_path!())
        .unwrap_or_else(|| panic!("task `{name}` is not registered"))
}

fn command(name: &str) -> Command {
    let def = def(name);
    Command::new(def.name).args((def.args)())
}

fn parse(name: &str, args: &[&str]) -> std::result::Result<ArgMatches, clap::Error> {
    command(name).try_get_matches_from(std::iter::once(name).chain(args.iter().copied()))
}

fn help(name: &str) -> String {
    command(name).render_help().to_string()
}

#[test]
fn every_task_is_registered_under_its_command_name() {
    let names: Vec<&str> = dm::task::registered()
        .iter()
        .filter(|t| t.module_path == module_path!())
        .map(|t| t.name)
        .collect();
    for name in [
        "health",
        "restart",
        "db-backup",
        "build-release",
        "undocumented",
        "launch",
        "spawn",
        "open-ports",
        "ship",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(names.len(), 9, "{names:?}");
}

#[test]
fn every_generated_command_passes_clap_validation() {
    for name in [
        "health",
        "restart",
        "db-backup",
        "build-release",
        "undocumented",
        "launch",
        "spawn",
        "open-ports",
        "ship",
    ] {
        // Panics on duplicate flags, bad defaults and other mistakes clap only finds at run time.
        command(name).debug_assert();
    }
}

#[test]
fn settings_become_task_def_fields() {
    let health = def("health");
    assert_eq!(
        health.doc,
        "Show uptime on every selected host.\n\nLonger description shown by `restart --help`."
    );
    assert_eq!(health.summary(), "Show uptime on every selected host.");
    assert!(health.roles.is_empty());
    assert_eq!((health.serial, health.parallel), (None, None));
    assert!(!health.once && !health.local);
    assert!((health.args)().is_empty());

    let restart = def("restart");
    assert_eq!(restart.doc, "Restart a service, two hosts at a time.");
    assert_eq!(restart.roles, ["appnode"]);
    assert_eq!((restart.serial, restart.parallel), (Some(2), None));
    assert!(!restart.once && !restart.local);

    let backup = def("db-backup");
    assert_eq!(backup.roles, ["db", "replica"]);
    assert_eq!((backup.serial, backup.parallel), (None, Some(3)));
    assert!(backup.once && !backup.local);

    let build = def("build-release");
    assert_eq!(build.doc, "Build the release locally.\nBuilt from parts.");
    assert!(build.local && !build.once);

    assert_eq!(def("undocumented").doc, "");
}

#[test]
fn plain_type_is_a_required_positional() {
    let m = parse("restart", &["nginx"]).expect("parses");
    assert_eq!(
        m.get_one::<String>("service").map(String::as_str),
        Some("nginx")
    );

    let err = parse("restart", &[]).expect_err("service is required");
    assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    assert!(err.to_string().contains("<SERVICE>"), "{err}");
}

#[test]
fn absent_arguments_take_their_defaults() {
    let m = parse("restart", &["nginx"]).expect("parses");
    assert_eq!(m.get_one::<u64>("wait"), Some(&5));
    assert!(!m.get_flag("force"));
    assert_eq!(m.get_one::<String>("branch"), None);
    assert_eq!(m.get_many::<String>("tag").map(|v| v.count()), None);

    let m = parse("undocumented", &[]).expect("parses");
    assert_eq!(m.get_one::<char>("letter"), Some(&'x'));
    assert_eq!(m.get_one::<f64>("ratio"), Some(&-1.5));
}

#[test]
fn every_parameter_kind_parses_its_flag() {
    let m = parse(
        "restart",
        &[
            "--wait", "10", "-f", "--branch", "main", "--tag", "a", "nginx", "--tag", "b",
        ],
    )
    .expect("parses");
    assert_eq!(
        m.get_one::<String>("service").map(String::as_str),
        Some("nginx")
    );
    assert_eq!(m.get_one::<u64>("wait"), Some(&10));
    assert!(m.get_flag("force"));
    assert_eq!(
        m.get_one::<String>("branch").map(String::as_str),
        Some("main")
    );
    let tags: Vec<&String> = m.get_many::<String>("tag").expect("tags").collect();
    assert_eq!(tags, ["a", "b"]);

    let m = parse("restart", &["nginx", "--force"]).expect("long form of the switch");
    assert!(m.get_flag("force"));
}

#[test]
fn a_value_that_does_not_parse_is_a_clap_error() {
    let err = parse("restart", &["nginx", "--wait", "abc"]).expect_err("abc is no u64");
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    assert!(err.to_string().contains("abc"), "{err}");

    let err = parse("restart", &["nginx", "--wait=-1"]).expect_err("u64 is not negative");
    assert_eq!(err.kind(), ErrorKind::ValueValidation);

    let err = parse(
        "db-backup",
        &["-t", "/x", "--env", "p", "--keep-last", "many", "t"],
    )
    .expect_err("u32");
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
}

#[test]
fn unknown_flags_and_extra_positionals_are_rejected() {
    let err = parse("restart", &["nginx", "--nope"]).expect_err("unknown flag");
    assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    let err = parse("restart", &["nginx", "apache"]).expect_err("one positional only");
    assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    let err = parse("health", &["x"]).expect_err("health takes no arguments");
    assert_eq!(err.kind(), ErrorKind::UnknownArgument);
}

#[test]
fn long_short_and_raw_names() {
    let m = parse(
        "db-backup",
        &["-t", "/srv/dumps", "--env", "prod", "--dry-run", "full"],
    )
    .expect("parses");
    assert_eq!(
        m.get_one::<PathBuf>("dir"),
        Some(&PathBuf::from("/srv/dumps"))
    );
    assert_eq!(
        m.get_one::<String>("environment").map(String::as_str),
        Some("prod")
    );
    assert_eq!(m.get_one::<u32>("keep_last"), None);
    assert!(m.get_flag("dry_run"));
    assert_eq!(
        m.get_one::<String>("type").map(String::as_str),
        Some("full")
    );

    let m = parse(
        "db-backup",
        &["--target-dir", "/d", "--env", "p", "--keep-last", "3", "t"],
    )
    .expect("parses");
    assert_eq!(m.get_one::<u32>("keep_last"), Some(&3));

    // `long`/`short` make a plain type a named argument, still required without a default.
    let err = parse("db-backup", &["-t", "/d", "t"]).expect_err("--env is required");
    assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    assert!(err.to_string().contains("--env <ENVIRONMENT>"), "{err}");
}

#[test]
fn help_shows_names_values_and_help_texts() {
    let text = help("restart");
    for expected in [
        "<SERVICE>",
        "systemd unit to restart",
        "--wait <WAIT>",
        "seconds to wait",
        "[default: 5]",
        "-f, --force",
        "--branch <BRANCH>",
        "--tag <TAG>",
        "extra hosts",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }

    let text = help("db-backup");
    for expected in [
        "-t, --target-dir <DIR>",
        "where dumps go",
        "--env <ENVIRONMENT>",
        "<TYPE>",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn hosts_argument_takes_any_number_of_positional_servers_or_roles() {
    assert_eq!(def("launch").hosts_arg, Some("targets"));
    assert_eq!(def("restart").hosts_arg, None);
    let m = parse("launch", &["appnode2", "-b", "main", "dbserver"]).expect("parses");
    let targets: Vec<&String> = m.get_many::<String>("targets").expect("values").collect();
    assert_eq!(targets, ["appnode2", "dbserver"]);
    let m = parse("launch", &[]).expect("no targets is fine: -H/-R may select");
    assert!(m.get_many::<String>("targets").is_none());
    assert!(
        help("launch").contains("[SERVER|ROLE]..."),
        "{}",
        help("launch")
    );
}

#[test]
fn positional_list_takes_one_or_more_values_after_the_plain_positionals() {
    assert_eq!(def("spawn").hosts_arg, None);
    let m = parse("spawn", &["small", "web1", "-y", "web2"]).expect("parses");
    assert_eq!(
        m.get_one::<String>("size").map(String::as_str),
        Some("small")
    );
    let names: Vec<&String> = m.get_many::<String>("names").expect("values").collect();
    assert_eq!(names, ["web1", "web2"]);
    assert!(m.get_flag("yes"));

    let err = parse("spawn", &["small"]).expect_err("one name at least");
    assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    assert!(err.to_string().contains("<NAMES>..."), "{err}");
    let err = parse("spawn", &["small", "--names", "web1"]).expect_err("not a flag");
    assert_eq!(err.kind(), ErrorKind::UnknownArgument);

    let text = help("spawn");
    for expected in ["<SIZE> <NAMES>...", "the servers to boot", "-y, --yes"] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn positional_list_values_are_parsed_as_the_element_type() {
    let m = parse("open-ports", &["80", "443"]).expect("parses");
    let ports: Vec<u16> = m
        .get_many::<u16>("ports")
        .expect("values")
        .copied()
        .collect();
    assert_eq!(ports, [80, 443]);
    let err = parse("open-ports", &["80", "http"]).expect_err("http is no u16");
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    assert!(err.to_string().contains("http"), "{err}");
}

#[test]
fn conflicting_arguments_are_refused_by_the_command_line_parser() {
    for pair in [
        ["--branch", "main", "--tag", "v1"],
        ["--tag", "v1", "--commit", "abc1234"],
        ["--commit", "abc1234", "--branch", "main"],
    ] {
        let err = parse("ship", &pair).expect_err("two ways to name a revision");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{pair:?}");
    }
    let m = parse("ship", &["--tag", "v1"]).expect("one is fine");
    assert_eq!(m.get_one::<String>("tag").map(String::as_str), Some("v1"));
}
