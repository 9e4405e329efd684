//! `ssh`: an interactive shell on one server.

use anyhow::Context as _;
use dm_core::Ctx;
use dm_core::ssh::Session;
use dm_macros::task;

/// Open an interactive shell on a server (`ssh appnode1`).
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
    let session = Session::connect(host, &ctx.shared().connect).await?;
    let status = session.shell().await;
    session.close().await;
    let status = status?;
    anyhow::ensure!(status.success(), "{server}: the shell ended with {status}");
    Ok(())
}
