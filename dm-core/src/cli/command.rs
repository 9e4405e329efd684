//! The clap command: dm's global flags, and one subcommand per registered task.

use clap::builder::RangedU64ValueParser;
use clap::{Arg, ArgAction, Command, value_parser};

use crate::task::TaskDef;

/// Builds the full command line: global flags first, then the task and its own arguments
/// (`dm -R appnode restart web`).
pub fn build(name: &str, tasks: &[&'static TaskDef]) -> Command {
    let mut cmd = Command::new(name.to_string())
        .about("Runs deployment tasks on servers over SSH (dm)")
        .subcommand_value_name("TASK")
        .subcommand_help_heading("Tasks")
        .after_help(
            "Global flags go before the task: `-R appnode restart web`. `--list` shows every task.",
        )
        .args(global_args());
    for task in tasks {
        // A task with the built-in's name is refused by `cli::run` with a message; skipping it
        // here keeps clap from panicking on the duplicate name first.
        if task.name == super::secrets::NAME {
            continue;
        }
        let mut sub = Command::new(task.name)
            .about(task.summary())
            .after_help(format!(
                "Where it runs: global flags before the task name, e.g. `{name} -H appnode1 {task}`, \
                 `{name} -R appnode -E production {task}`, `{name} --check --diff {task}`; \
                 `{name} --help` lists them all.",
                task = task.name
            ))
            .args((task.args)());
        if task.doc.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
            sub = sub.long_about(task.doc);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd.subcommand(super::secrets::command())
}

fn global_args() -> Vec<Arg> {
    let selection = "Selecting hosts";
    let connection = "Connecting";
    let running = "Running";
    let output = "Output";
    vec![
        Arg::new("hosts")
            .short('H')
            .long("hosts")
            .value_name("HOSTS")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .help("Servers by name, or ad-hoc [user@]address[:port]; comma-separated or repeated")
            .help_heading(selection),
        Arg::new("roles")
            .short('R')
            .long("roles")
            .value_name("ROLES")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .help("All servers of these roles")
            .help_heading(selection),
        Arg::new("env")
            .short('E')
            .long("env")
            .value_name("ENV")
            .env("DM_ENV")
            .help("Environment of the inventory (dev, staging, production, ...)")
            .help_heading(selection),
        Arg::new("inventory")
            .short('f')
            .long("inventory")
            .value_name("FILE")
            .env("DM_INVENTORY")
            .value_parser(value_parser!(std::path::PathBuf))
            .help("Inventory file [default: ./dm.toml]")
            .help_heading(selection),
        Arg::new("identity")
            .short('i')
            .long("identity")
            .value_name("KEYFILE")
            .action(ArgAction::Append)
            .value_parser(value_parser!(std::path::PathBuf))
            .help("Private key to try first (repeatable)")
            .help_heading(connection),
        Arg::new("ssh_config")
            .long("ssh-config")
            .value_name("FILE")
            .value_parser(value_parser!(std::path::PathBuf))
            .help("ssh client config to honour [default: ~/.ssh/config]")
            .help_heading(connection),
        Arg::new("known_hosts")
            .long("known-hosts")
            .value_name("FILE")
            .value_parser(value_parser!(std::path::PathBuf))
            .help("known_hosts file to check host keys against [default: the inventory's, else ~/.ssh/known_hosts]")
            .help_heading(connection),
        Arg::new("accept_new_host_keys")
            .long("accept-new-host-keys")
            .action(ArgAction::SetTrue)
            .help("Record host keys of hosts never seen before (a changed key is still refused)")
            .help_heading(connection),
        Arg::new("connect_timeout")
            .long("connect-timeout")
            .value_name("SECS")
            .default_value("10")
            .value_parser(RangedU64ValueParser::<u64>::new().range(1..))
            .help("Give up connecting after this long")
            .help_heading(connection),
        Arg::new("keepalive")
            .long("keepalive")
            .value_name("SECS")
            .default_value("5")
            .value_parser(RangedU64ValueParser::<u64>::new().range(1..))
            .help("Probe idle connections this often; a host silent for 3 probes is unreachable")
            .help_heading(connection),
        Arg::new("ask_sudo_pass")
            .long("ask-sudo-pass")
            .action(ArgAction::SetTrue)
            .help("Ask for the sudo password before running (else asked when first needed, or DM_SUDO_PASSWORD)")
            .help_heading(connection),
        Arg::new("parallel")
            .short('p')
            .long("parallel")
            .value_name("N")
            .default_value("64")
            .value_parser(RangedU64ValueParser::<usize>::new().range(1..))
            .help("At most N hosts at once")
            .help_heading(running),
        Arg::new("serial")
            .long("serial")
            .value_name("N")
            .value_parser(RangedU64ValueParser::<usize>::new().range(1..))
            .help("Run hosts in batches of N, one batch after another (overrides the task's)")
            .help_heading(running),
        Arg::new("fail_fast")
            .short('x')
            .long("fail-fast")
            .action(ArgAction::SetTrue)
            .help("Start no new host after one fails (default: keep going)")
            .help_heading(running),
        Arg::new("check")
            .long("check")
            .action(ArgAction::SetTrue)
            .help("Operations only plan and report what they would change; nothing is written")
            .help_heading(running),
        Arg::new("diff")
            .long("diff")
            .action(ArgAction::SetTrue)
            .help("Show unified diffs of the file contents operations change (with or without --check)")
            .help_heading(output),
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .action(ArgAction::Count)
            .help("Show commands as they run and round trips per host; -vv for debug logs")
            .help_heading(output),
        Arg::new("quiet")
            .short('q')
            .long("quiet")
            .action(ArgAction::SetTrue)
            .conflicts_with("verbose")
            .help("Hide command output; show only the summary")
            .help_heading(output),
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("Print a JSON report (with every host's output) instead of live output")
            .help_heading(output),
        Arg::new("list")
            .short('l')
            .long("list")
            .action(ArgAction::SetTrue)
            .help("List every task with its summary")
            .help_heading(output),
        Arg::new("completions")
            .long("completions")
            .value_name("SHELL")
            .value_parser(value_parser!(clap_complete::Shell))
            .help("Print shell completions (bash, zsh, fish, elvish, powershell)")
            .help_heading(output),
    ]
}

/// A hint for a global flag written after the task name (`deploy -H app1`), which clap reports
/// as an unexpected argument of the task without saying where it belongs.
pub fn misplaced_global_flag(program: &str, error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(given)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = given.split('=').next().unwrap_or(given);
    let global = global_args().into_iter().find(|arg| {
        arg.get_long().is_some_and(|l| flag == format!("--{l}"))
            || arg.get_short().is_some_and(|s| flag == format!("-{s}"))
    })?;
    let spelled = global
        .get_long()
        .map(|l| format!("--{l}"))
        .unwrap_or_else(|| flag.to_string());
    Some(format!(
        "tip: `{flag}` ({spelled}) is a global flag: put it before the task name, e.g. \
         `{program} {flag} ... TASK ...`"
    ))
}

#[cfg(test)]
mod misplaced_flag_tests {
    use super::*;

    fn error_for(args: &[&str]) -> clap::Error {
        let cmd = Command::new("dm")
            .args(global_args())
            .subcommand(Command::new("deploy").arg(Arg::new("branch").long("branch")));
        match cmd.try_get_matches_from(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_global_flag_after_the_task_gets_a_tip() {
        let hint = misplaced_global_flag("dm", &error_for(&["dm", "deploy", "-H", "app1"]));
        let hint = hint.expect("a tip for -H");
        assert!(hint.contains("`-H` (--hosts) is a global flag"), "{hint}");
        assert!(hint.contains("before the task name"), "{hint}");
        assert!(misplaced_global_flag("dm", &error_for(&["dm", "deploy", "--check"])).is_some());
    }

    #[test]
    fn other_unknown_arguments_get_no_tip() {
        assert_eq!(
            misplaced_global_flag("dm", &error_for(&["dm", "deploy", "--brnch", "x"])),
            None
        );
    }
}
