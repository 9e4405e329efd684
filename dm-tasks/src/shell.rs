//! `ssh`: an interactive shell on one server.

use anyhow::Context as _;
use dm_core::Ctx;
use dm_core::ssh::Session;
use dm_macros::task;

use crate::provision::choose_login;

/// Open an interactive shell on a server (`ssh appnode1`); exits with the shell's status.
#[task(local)]
pub async fn ssh(
    ctx: &Ctx,
    #[arg(help = "server name from the inventory, or [user@]address[:port]")] server: String,
) -> anyhow::Result<()> {
    let hosts = ctx
        .inventory()
        .select(std::slice::from_ref(&server), &[], &[])?;
    let host = hosts
        .first()
        .with_context(|| format!("no server matches `{server}`"))?;
    // A server booted but not yet provisioned only lets root in, while the inventory names the
    // admin user provision creates: like provision, fall back to root when the inventory's user
    // is refused (never when the user was given explicitly, `user@server`).
    let host = if server.contains('@') {
        host.clone()
    } else {
        let login = choose_login(host, ctx.connect_options(), "root").await?;
        if login.bootstrap {
            eprintln!(
                "{server}: user `{}` was refused (not provisioned yet?); logging in as root",
                host.user
            );
        }
        login.host
    };
    let session = Session::connect(&host, ctx.connect_options()).await?;
    let status = session.shell().await;
    session.close().await;
    let status = status?;
    // Like `ssh`: the shell's status (a shell killed by a signal: 255) is the exit code, and an
    // interactive session gets no run summary.
    ctx.exit_as(status.code.map_or(255, |code| (code & 0xff) as u8));
    Ok(())
}
