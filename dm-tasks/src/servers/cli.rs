//! The command lines `boot NAME...` and `destroy NAME... [--yes]`.
//!
//! Their names are servers that may not exist yet (or no longer), so they cannot be
//! `#[arg(hosts)]` values, which must name servers of the inventory; and `#[task]` has no
//! positional list otherwise. These two tasks are therefore registered by hand, exactly as
//! `#[task(local)]` registers a task.

use std::io::{BufRead, IsTerminal, Write};

use dm_core::__private::clap::{Arg, ArgAction, ArgMatches};
use dm_core::task::TaskFuture;
use dm_core::{Ctx, TaskDef};

use super::boot::boot_servers;
use super::destroy::destroy_servers;
use super::providers::{ServerStore, check_local_access};

/// `--help` of `boot`.
const BOOT_DOC: &str = "Boot new servers with their provider: `boot appnode2 appnode3`.

Each server is booted by the provider the inventory gives it (`provider = \"local\"`, the
default: a machine on this host, needs root), authorized for your SSH key, and recorded in
servers.state.toml next to the inventory, so later runs find it: `-H appnode2`, `-R appnode`,
`ssh appnode2`. Its roles are the inventory's for that name, else the one in its name
(appnode2 -> appnode). Servers boot in parallel; a name booted already is left as it is.
With a [dns] table in the inventory, the name's A records then point at the load balancers.";

/// `--help` of `destroy`.
const DESTROY_DOC: &str = "Destroy servers booted by dm: `destroy appnode2 --yes`.

Powers the servers off at their provider, deletes them, and removes their records (and, for
local machines, their host keys from known_hosts). Asks for confirmation unless --yes is given.
Only servers in servers.state.toml can be destroyed.";

/// The positional `NAME...` and, for destroy, `--yes`.
fn names_arg(help: &'static str) -> Arg {
    Arg::new("names")
        .value_name("NAME")
        .num_args(1..)
        .required(true)
        .action(ArgAction::Append)
        .help(help)
}

fn boot_args() -> Vec<Arg> {
    vec![names_arg("the servers to boot, e.g. appnode2")]
}

fn destroy_args() -> Vec<Arg> {
    vec![
        names_arg("the servers to destroy"),
        Arg::new("yes")
            .long("yes")
            .short('y')
            .action(ArgAction::SetTrue)
            .help("destroy without asking for confirmation"),
    ]
}

/// The `NAME...` values, each once, in the order given.
fn names(matches: &ArgMatches) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in matches.get_many::<String>("names").into_iter().flatten() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn run_boot<'a>(ctx: &'a Ctx, matches: &'a ArgMatches) -> TaskFuture<'a> {
    Box::pin(async move {
        let names = names(matches);
        check_local_access(ctx, &names)?;
        let store = ServerStore::open(ctx).await?;
        boot_servers(ctx, &store, &names).await?;
        super::dns::follow_load_balancers(ctx).await?;
        Ok(())
    })
}

fn run_destroy<'a>(ctx: &'a Ctx, matches: &'a ArgMatches) -> TaskFuture<'a> {
    Box::pin(async move {
        let names = names(matches);
        if !matches.get_flag("yes") {
            confirm(&names)?;
        }
        check_local_access(ctx, &names)?;
        let store = ServerStore::open(ctx).await?;
        destroy_servers(ctx, &store, &names).await
    })
}

/// Asks on the terminal whether to destroy `names`; fails unless the answer is yes. Without a
/// terminal to ask on, fails and says to pass `--yes`.
fn confirm(names: &[String]) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "destroying {} needs confirmation, and there is no terminal to ask on: pass --yes",
            names.join(", ")
        );
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "Destroy {} and everything on {}? Type yes to confirm: ",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        return Ok(());
    }
    anyhow::bail!("not confirmed: nothing was destroyed")
}

inventory::submit! {
    TaskDef {
        name: "boot",
        doc: BOOT_DOC,
        roles: &[],
        serial: None,
        parallel: None,
        once: false,
        local: true,
        hosts_arg: None,
        args: boot_args,
        run: run_boot,
        module_path: module_path!(),
    }
}

inventory::submit! {
    TaskDef {
        name: "destroy",
        doc: DESTROY_DOC,
        roles: &[],
        serial: None,
        parallel: None,
        once: false,
        local: true,
        hosts_arg: None,
        args: destroy_args,
        run: run_destroy,
        module_path: module_path!(),
    }
}
