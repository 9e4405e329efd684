//! The webapp fabfile: dm's standard tasks set up the servers, and two tasks of this app's own
//! work with its data.
//!
//! ```text
//! cargo run -- -E dev provision      # bare servers: admin user, firewall, hardened ssh
//! cargo run -- -E dev launch         # each server's roles: postgres, the app, nginx
//! cargo run -- -E dev deploy         # a new release of the app on every app node
//! cargo run -- -E dev seed --greeting hi   # this fabfile: a new greeting in the database
//! cargo run -- -E dev status         # this fabfile: ask every app node directly
//! ```
//!
//! The standard tasks need no code here: they come with `dm::main!()`. What a fabfile adds are
//! tasks about its own app, written with the same building blocks (`ctx.sudo`, `dm::tasks::*`).

use dm::prelude::*;
use dm::tasks::app::AppConfig;
use dm::tasks::deploy::as_user;

/// Store a new greeting in the database (and create the app's table if it is missing).
///
/// Runs the app's `migrate.py` once, on the first app node, as the app user in the live
/// release, with the app's environment: the same code and connection the app uses.
#[task(roles = ["appnode"], once)]
pub async fn seed(
    ctx: &Ctx,
    #[arg(help = "the new greeting (default: keep the stored one, only create what is missing)")]
    greeting: Option<String>,
) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let mut command = "venv/bin/python migrate.py".to_string();
    if let Some(greeting) = &greeting {
        command.push(' ');
        command.push_str(&shell_quote(greeting));
    }
    let line = as_user(app.user(), &app.current(), &command);
    let run = ctx.envs(app.env_strings()).sudo(line).await?;
    ctx.log(format!("greeting: {}", run.stdout.trim()));
    Ok(())
}

/// Ask every app node's app server directly (not through the load balancer) what it answers.
#[task(roles = ["appnode"])]
pub async fn status(ctx: &Ctx) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let url = format!(
        "http://{}:{}/",
        dm::tasks::private_address(ctx.host()),
        app.port
    );
    let page = ctx
        // python3 is on every app node (the app runs on it); curl is only there after provision.
        .run(format!(
            "python3 -c 'import sys, urllib.request; \
             sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' {}",
            shell_quote(&url)
        ))
        .await
        .with_context(|| format!("{}: the app does not answer on {url}", ctx.name()))?;
    ctx.log(page.stdout.trim().to_string());
    Ok(())
}
