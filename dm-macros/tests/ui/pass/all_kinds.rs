//! The example from the documentation, with every parameter kind, parsed by its own arguments.

use dm::prelude::*;

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
    let _ = (ctx, shell_quote(&service), wait, force, branch, tag);
    Ok(())
}

fn main() {
    let def = dm::task::registered()
        .into_iter()
        .find(|t| t.name == "restart" && t.module_path == module_path!())
        .expect("registered");
    let matches = clap::Command::new(def.name)
        .args((def.args)())
        .try_get_matches_from(["restart", "nginx", "--tag", "a", "-f"])
        .expect("parses");
    assert_eq!(matches.get_one::<u64>("wait"), Some(&5));
    assert!(matches.get_flag("force"));
    assert_eq!(def.roles, ["appnode"]);
    assert_eq!(def.serial, Some(2));
}
