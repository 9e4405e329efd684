//! `run`: an ad-hoc command on the selected hosts.

use dm_core::Ctx;
use dm_macros::task;

/// Run an ad-hoc shell command on every selected host.
///
/// `-R appnode run 'systemctl status nginx'`; with `--sudo` it runs as root. Under --check the
/// command does not run (dm cannot know what it does): it is reported as not run.
#[task]
pub async fn run(
    ctx: &Ctx,
    #[arg(help = "the shell command line to run")] command: String,
    #[arg(help = "run it as root through sudo")] sudo: bool,
) -> anyhow::Result<()> {
    if sudo {
        ctx.sudo(command).await?;
    } else {
        ctx.run(command).await?;
    }
    Ok(())
}
