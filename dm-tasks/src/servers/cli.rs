//! The tasks `boot NAME...` and `destroy NAME... [--yes]`.
//!
//! Their names are servers that may not exist yet (or no longer), so they are a
//! `#[arg(positional)]` list rather than `#[arg(hosts)]` values, which must name servers of the
//! inventory. The parameter is called `name` so that usage reads `<NAME>...`.

use std::io::{BufRead, IsTerminal, Write};

use dm_core::Ctx;
use dm_macros::task;

use super::boot::boot_servers_noting_new;
use super::destroy::destroy_servers;
use super::providers::{ServerStore, check_local_access};

/// Boot new servers with their provider: `boot appnode2 appnode3`.
///
/// Each server is booted by the provider the inventory gives it (`provider = "local"`, the
/// default: a machine on this host, needs root), authorized for your SSH key, and recorded in
/// servers.state.toml next to the inventory, so later runs find it: `-H appnode2`, `-R appnode`,
/// `ssh appnode2`. Its roles are the inventory's for that name, else the one in its name
/// (appnode2 -> appnode). Servers boot in parallel; a name booted already is left as it is, or
/// started again with its disk as it was if it is off (e.g. after this host rebooted).
/// With a [dns] table in the inventory, the name's A records then point at the load balancers,
/// but for those this boot created: nothing serves on them yet, so they join once launched.
/// With --check, says what it would boot and boots nothing.
#[task(local)]
async fn boot(
    ctx: &Ctx,
    #[arg(positional, help = "the servers to boot, e.g. appnode2")] name: Vec<String>,
) -> anyhow::Result<()> {
    let names = each_once(name);
    check_names(&names)?;
    check_local_access(ctx, &names)?;
    if ctx.check_mode() {
        return super::check_plan::boot(ctx, &names);
    }
    let store = ServerStore::open(ctx).await?;
    let booted = boot_servers_noting_new(ctx, &store, &names).await?;
    let created: Vec<String> = booted
        .into_iter()
        .filter(|b| b.created)
        .map(|b| b.record.name)
        .collect();
    super::dns::follow_load_balancers_but_new(ctx, &created).await?;
    Ok(())
}

/// Destroy servers booted by dm: `destroy appnode2 --yes`.
///
/// Powers the servers off at their provider, deletes them, and removes their records (and, for
/// local machines, their host keys from known_hosts). Asks for confirmation unless --yes is given.
/// Only servers in servers.state.toml can be destroyed. With --check, says what it would
/// destroy and destroys nothing (without asking).
#[task(local)]
async fn destroy(
    ctx: &Ctx,
    #[arg(positional, help = "the servers to destroy")] name: Vec<String>,
    #[arg(short = 'y', help = "destroy without asking for confirmation")] yes: bool,
) -> anyhow::Result<()> {
    let names = each_once(name);
    if ctx.check_mode() {
        return super::check_plan::destroy(ctx, &names);
    }
    if !yes {
        confirm(&names)?;
    }
    check_local_access(ctx, &names)?;
    let store = ServerStore::open(ctx).await?;
    destroy_servers(ctx, &store, &names).await
}

/// The `NAME...` values, each once, in the order given: `boot web1 web1` boots one server.
fn each_once(given: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in given {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Refuses, before anything is booted, a name that cannot be a hostname: a server's name is
/// its hostname and ends up in config files and command lines.
fn check_names(names: &[String]) -> Result<(), dm_core::Error> {
    for name in names {
        dm_core::inventory::check_server_name(name).map_err(|message| {
            dm_core::Error::InvalidArgument {
                argument: "NAME".to_string(),
                value: name.clone(),
                message,
            }
        })?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use dm_core::__private::clap::error::ErrorKind;
    use dm_core::__private::clap::{ArgMatches, Command};
    use dm_core::TaskDef;

    /// The registered task `name` of this module.
    fn def(name: &str) -> &'static TaskDef {
        dm_core::task::registered()
            .into_iter()
            .find(|t| t.name == name && t.module_path == module_path!().trim_end_matches("::tests"))
            .unwrap_or_else(|| panic!("task `{name}` is not registered"))
    }

    fn command(name: &str) -> Command {
        let def = def(name);
        Command::new(def.name).args((def.args)())
    }

    fn parse(name: &str, args: &[&str]) -> Result<ArgMatches, dm_core::__private::clap::Error> {
        command(name).try_get_matches_from(std::iter::once(name).chain(args.iter().copied()))
    }

    #[test]
    fn boot_and_destroy_run_locally_and_select_no_hosts() {
        for name in ["boot", "destroy"] {
            let def = def(name);
            assert!(def.local && !def.once, "{name}");
            assert_eq!(
                def.hosts_arg, None,
                "{name}: names need not be in the inventory"
            );
        }
        assert!(
            def("boot")
                .doc
                .starts_with("Boot new servers with their provider")
        );
        assert!(def("destroy").doc.contains("unless --yes is given"));
    }

    #[test]
    fn names_are_one_or_more_positional_values() {
        let err = parse("boot", &[]).expect_err("a name is required");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("<NAME>..."), "{err}");
        let err = parse("destroy", &["--yes"]).expect_err("a name is required");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);

        let m = parse("boot", &["appnode2", "appnode3"]).expect("parses");
        let names: Vec<&String> = m.get_many::<String>("name").expect("names").collect();
        assert_eq!(names, ["appnode2", "appnode3"]);
    }

    #[test]
    fn destroy_asks_unless_yes_is_given() {
        assert!(!parse("destroy", &["a"]).expect("parses").get_flag("yes"));
        assert!(
            parse("destroy", &["a", "--yes"])
                .expect("parses")
                .get_flag("yes")
        );
        assert!(
            parse("destroy", &["-y", "a", "b"])
                .expect("parses")
                .get_flag("yes")
        );
        let err = parse("boot", &["a", "--yes"]).expect_err("boot has no --yes");
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
        let help = command("destroy").render_help().to_string();
        assert!(help.contains("-y, --yes"), "{help}");
        assert!(
            help.contains("destroy without asking for confirmation"),
            "{help}"
        );
    }

    #[test]
    fn boot_refuses_names_that_are_not_hostnames_as_a_usage_error() {
        let names = ["appnode2", "app;id"].map(String::from);
        let err = super::check_names(&names).expect_err("app;id is no hostname");
        assert_eq!(
            err.refusal(),
            Some(dm_core::events::Refusal::Usage),
            "{err}"
        );
        assert!(err.to_string().contains("invalid NAME `app;id`"), "{err}");
        assert!(super::check_names(&names[..1]).is_ok());
    }

    #[test]
    fn each_name_is_kept_once_in_order() {
        let given = ["b", "a", "b", "a", "c"].map(String::from).to_vec();
        assert_eq!(super::each_once(given), ["b", "a", "c"]);
    }
}
