//! Which user provision logs in as: the inventory's, or a bootstrap user on a bare server.
//!
//! A bare server lets only root (or a cloud image's default user) in; a provisioned one refuses
//! root and lets only the administrator in. The inventory names the administrator, so on a bare
//! server its login fails: provision then logs in as the bootstrap user for that run.

use dm_core::host::Host;
use dm_core::ssh::{ConnectOptions, Session};

/// How provision reaches a host.
#[derive(Debug, Clone)]
pub struct Login {
    /// The host as provision connects to it (its user may be the bootstrap user).
    pub host: Host,
    /// Whether that is the bootstrap user rather than the inventory's.
    pub bootstrap: bool,
}

/// Logs in to `host` as its inventory user and, when that user is refused, as `bootstrap_user`;
/// returns how provision should connect. The probing connections are closed again.
///
/// Fails when the host cannot be reached, its host key is wrong, or neither user gets in.
pub async fn choose_login(
    host: &Host,
    options: &ConnectOptions,
    bootstrap_user: &str,
) -> anyhow::Result<Login> {
    let refused = match Session::connect(host, options).await {
        Ok(session) => {
            session.close().await;
            return Ok(Login {
                host: host.clone(),
                bootstrap: false,
            });
        }
        Err(refused @ dm_core::Error::Auth { .. }) if host.user != bootstrap_user => refused,
        Err(e) => return Err(e.into()),
    };
    let mut bootstrap = host.clone();
    bootstrap.user = bootstrap_user.to_string();
    match Session::connect(&bootstrap, options).await {
        Ok(session) => {
            session.close().await;
            Ok(Login {
                host: bootstrap,
                bootstrap: true,
            })
        }
        Err(e) => Err(anyhow::anyhow!(
            "{name}: cannot log in as `{user}` ({refused}), nor as `{bootstrap_user}` to \
             bootstrap it ({e}); give the user that can log in to this bare server with \
             --bootstrap-user",
            name = host.name,
            user = host.user,
        )),
    }
}
