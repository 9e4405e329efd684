//! Procedural macros for dm: [`macro@task`] turns an `async fn` into a task the command line can
//! run. Use it through the `dm` crate (`use dm::prelude::*;`): the expansion names `::dm::...`.

mod attr;
mod doc;
mod errors;
mod expand;
mod param;
mod signature;

use proc_macro::TokenStream;

/// Registers an `async fn` as a task: a subcommand of the fabfile's command line, run on every
/// selected host.
///
/// ```no_run
/// use dm::prelude::*;
///
/// /// Restart a service, two hosts at a time.
/// ///
/// /// Longer description shown by `restart --help`.
/// #[task(roles = ["appnode"], serial = 2)]
/// async fn restart(
///     ctx: &Ctx,
///     #[arg(help = "systemd unit to restart")] service: String,
///     #[arg(help = "seconds to wait", default = "5")] wait: u64,
///     #[arg(short = 'f')] force: bool,
///     branch: Option<String>,
///     #[arg(help = "extra hosts")] tag: Vec<String>,
/// ) -> Result<()> {
///     let _ = (wait, force, branch, tag);
///     ctx.run(format!("systemctl restart {}", shell_quote(&service))).await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// The function stays an ordinary Rust function that other tasks can call. It must be `async`,
/// not generic, take the context `&Ctx` first and return `Result<()>` (any `Result<(), E>` whose
/// `E: Into<anyhow::Error>` works too).
///
/// # The task
///
/// - Its name is the function name with `_` turned into `-` (`db_backup` → `db-backup`).
/// - Its doc comment is the text of `--help`; the first line is the summary in `--list`.
/// - `#[task(...)]` settings, all optional and combinable:
///   - `name = "..."`: another subcommand name.
///   - `roles = ["app", "db"]`: the roles it runs on when no hosts or roles are selected.
///   - `serial = N`: run the hosts in batches of `N`, one batch after another.
///   - `parallel = N`: run at most `N` hosts at once.
///   - `once`: run on the first selected host only.
///   - `local`: run once on this machine instead of on hosts (cannot be combined with `once`).
///
/// # Arguments
///
/// Each parameter after the context is a command-line argument named after it; its long flag is
/// the name with `_` turned into `-`. Values are parsed with clap's `value_parser!`, so any type it
/// supports works (`String`, numbers, `PathBuf`, `FromStr` types, `ValueEnum`s), and a value that
/// does not parse is reported before the task runs on any host.
///
/// | Parameter type | Command line |
/// |---|---|
/// | `T` | required positional `<NAME>`, in parameter order |
/// | `T` with `default`, `short` or `long` | `--name <NAME>`, optional with a `default`, otherwise required |
/// | `Option<T>` | optional `--name <NAME>` |
/// | `bool` | switch `--name` |
/// | `Vec<T>` | repeatable `--name <NAME>`, empty when absent |
/// | `Vec<T>` with `positional` | positional `<NAME>...`, one value or more required |
///
/// `#[arg(...)]` on a parameter takes, in any combination:
/// `help = "..."` (its line in `--help`), `short = 'x'` (also `-x`), `long = "..."` (another long
/// flag) and `default = "..."` (for plain `T` only; numbers and `char`s are checked at compile
/// time).
///
/// `#[arg(positional)]` on one `Vec<T>` parameter makes it the list of positional values
/// `<NAME>...` (one value or more) instead of a repeatable flag, e.g. the names of servers to
/// create, which need not exist yet. A task has one such list at most (`positional` or `hosts`),
/// after every plain positional argument, and it takes no `short`, `long` or `default`.
///
/// `#[arg(hosts)]` on one `Vec<String>` parameter makes it the positional `[SERVER|ROLE]...`
/// that picks the hosts: each value that names a role of the inventory selects that role's
/// servers, any other a server (or an ad-hoc address), added to `-H` and `-R`. So `provision
/// appnode2` reads like `-H appnode2 provision`. A `local` task sees the selection in
/// `ctx.selected_hosts()` and can work on them itself with `ctx.on_hosts(...)`.
///
/// # Expansion
///
/// Next to the function, a `const _: () = { ... };` block submits a `dm::task::TaskDef` to the
/// `inventory` registry; its `args` builds the `clap::Arg`s above and its `run` reads them back
/// from the `ArgMatches` and awaits the function. Mistakes in the signature or the settings are
/// compile errors pointing at the offending token, all reported in one build.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
