//! Hardening sshd without locking the operator out.
//!
//! Once root and password logins are refused, the administrator's key is the only way in. So the
//! new sshd configuration is kept only after a *new* SSH connection, as the administrator, from
//! this machine, logged in and ran `sudo` without a password. If it cannot, the previous drop-in
//! is put back through the connection that is still open (sshd's reload keeps running sessions),
//! sshd is reloaded again, and provision fails saying why.

use std::sync::Arc;
use std::time::Duration;

use dm_core::operation::StepReport;
use dm_core::ops::{self, Fact};
use dm_core::ssh::Session;
use dm_core::{Ctx, shell_quote};

use super::sshd::{EffectiveSettings, SSHD_DROP_IN, render_drop_in};
use super::validated_file::ValidatedFile;

/// Checks the whole configuration and reloads sshd when it runs (a socket-activated sshd reads
/// its configuration at each connection and needs no reload).
const RELOAD_SSHD: &str = concat!(
    "sshd -t && if systemctl is-active --quiet ssh; then ",
    reload_and_wait!(),
    "; fi"
);

/// Reloads sshd and returns once it listens again. `systemctl reload ssh` only sends SIGHUP:
/// sshd then closes its listening socket and re-executes itself, and a connection in between is
/// refused (a test that connected right after provision returned saw exactly that). The new
/// listener is recognised by its socket inode; waits at most 10 s.
macro_rules! reload_and_wait {
    () => {
        "listener() { ss -Hltnpe 2>/dev/null | grep '\"sshd\"' | sed -n 's/.*ino:\\([0-9]*\\).*/\\1/p' | sort | head -n 1; }; \
         before=$(listener); systemctl reload ssh; \
         i=0; while [ $i -lt 100 ]; do now=$(listener); \
         if [ -n \"$now\" ] && [ \"$now\" != \"$before\" ]; then break; fi; \
         i=$((i + 1)); sleep 0.1; done"
    };
}
use reload_and_wait;

/// How long the new login is retried while sshd restarts its listener after the reload.
const LOGIN_RETRY_FOR: Duration = Duration::from_secs(5);

/// Writes the hardened sshd drop-in (checked with `sshd -t` before it lands), checks that sshd
/// will use it, reloads sshd, and proves that `admin_user` can still log in with a new
/// connection; otherwise restores the previous drop-in and fails.
pub async fn harden_sshd(ctx: &Ctx, admin_user: &str) -> anyhow::Result<StepReport> {
    let previous = current_drop_in(ctx).await?;
    let drop_in = ValidatedFile::new(SSHD_DROP_IN, render_drop_in(), "sshd -t -f")
        .needs_package("openssh-server")
        .notify("reload-sshd");
    let drop_in_name = dm_core::operation::Operation::name(&drop_in);
    let mut step = ctx.step();
    step.add(drop_in);
    step.add(EffectiveSettings);
    step.reaction("reload-sshd", ops::Command::new(RELOAD_SSHD));
    let applied = step.apply().await;
    if ctx.check_mode() {
        return Ok(applied?);
    }
    let report = match applied {
        Ok(report) => report,
        Err(failure) => {
            let restored = restore(ctx, previous.as_deref()).await;
            let restored = match restored {
                Ok(()) => "the previous sshd configuration is in place".to_string(),
                Err(e) => format!("restoring the previous sshd configuration failed too: {e:#}"),
            };
            anyhow::bail!(
                "{failure}\n{}: sshd was not hardened; {restored}",
                ctx.name()
            );
        }
    };
    if !report.did_change(&drop_in_name) {
        return Ok(report);
    }
    if let Err(why) = login_as(ctx, admin_user).await {
        let restored = match restore(ctx, previous.as_deref()).await {
            Ok(()) => "The previous sshd configuration was restored and sshd reloaded, so the \
                       logins that worked before still work."
                .to_string(),
            Err(e) => format!(
                "Restoring the previous sshd configuration FAILED ({e:#}): keep this session \
                 open and fix {SSHD_DROP_IN} by hand."
            ),
        };
        anyhow::bail!(
            "{host}: after hardening sshd, a new SSH connection as `{admin_user}` did not work: \
             {why}. {restored} Make sure `admin.keys` holds a public key of an identity file this \
             run uses (-i, identity_file) and run provision again.",
            host = ctx.name()
        );
    }
    ctx.log(format!(
        "sshd hardened: a new connection as `{admin_user}` logged in and ran sudo"
    ));
    Ok(report)
}

/// The drop-in's current content, `None` when there is none.
async fn current_drop_in(ctx: &Ctx) -> anyhow::Result<Option<Vec<u8>>> {
    let path = shell_quote(SSHD_DROP_IN);
    let out = ctx
        .sudo(format!(
            "if [ -f {path} ]; then printf 'previous:b64=%s\\n' \"$(base64 -w 0 < {path})\"; fi"
        ))
        .quiet()
        .check_safe()
        .await?;
    Ok(Fact::parse(&out.stdout)
        .bytes("previous")
        .map(<[u8]>::to_vec))
}

/// Puts `previous` back (or removes the drop-in when there was none) and reloads sshd if the
/// whole configuration passes `sshd -t`.
async fn restore(ctx: &Ctx, previous: Option<&[u8]>) -> anyhow::Result<()> {
    let path = shell_quote(SSHD_DROP_IN);
    let put_back = match previous {
        Some(content) => format!(
            "t={tmp}$$\n\
             trap 'rm -f \"$t\"' EXIT HUP INT TERM\n\
             head -c {size} > \"$t\"\n\
             chmod 644 \"$t\"\n\
             mv -f \"$t\" {path}\n\
             trap - EXIT HUP INT TERM",
            tmp = shell_quote("/etc/ssh/sshd_config.d/.00-dm-provision.conf.dm-restore."),
            size = content.len(),
        ),
        None => format!("rm -f {path}"),
    };
    let script = format!(
        "set -e\n{put_back}\n\
         if ! sshd -t; then echo 'sshd -t rejects the restored configuration; sshd was not reloaded' >&2; exit 1; fi\n\
         if systemctl is-active --quiet ssh; then {reload}; fi",
        reload = reload_and_wait!()
    );
    ctx.sudo(script)
        .stdin(previous.unwrap_or_default().to_vec())
        .quiet()
        .await?;
    ctx.log(format!(
        "restored the previous {SSHD_DROP_IN} and reloaded sshd"
    ));
    Ok(())
}

/// Opens a new connection to `ctx`'s host as `user` with this run's keys and runs `sudo -n
/// true` there: the administrator gets in and gets root without a password.
async fn login_as(ctx: &Ctx, user: &str) -> Result<(), String> {
    let mut host = ctx.host().clone();
    host.user = user.to_string();
    let connect = ctx.connect_options();
    let started = tokio::time::Instant::now();
    let session = loop {
        match Session::connect(&host, connect).await {
            Ok(session) => break session,
            // sshd re-executes itself on reload: a connection in that instant is refused.
            Err(dm_core::Error::Connect { .. }) if started.elapsed() < LOGIN_RETRY_FOR => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let probe = ctx.for_session(Arc::new(host), session.clone());
    let result = probe.run("sudo -n true").quiet().check_safe().await;
    session.close().await;
    result.map(|_| ()).map_err(|e| {
        format!("it logged in, but `sudo -n true` failed ({e}); the administrator needs passwordless sudo")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reload_waits_for_a_new_sshd_listener_and_parses_as_shell() {
        assert!(RELOAD_SSHD.starts_with("sshd -t && if systemctl is-active --quiet ssh; then "));
        assert!(RELOAD_SSHD.contains("ino:"), "{RELOAD_SSHD}");
        let parsed = std::process::Command::new("sh")
            .args(["-n", "-c", RELOAD_SSHD])
            .status()
            .expect("sh runs");
        assert!(parsed.success(), "{RELOAD_SSHD}");
        // The listener's inode is read from ss's output (ss replaced by a sample line).
        let start = RELOAD_SSHD
            .find("listener()")
            .expect("the listener function");
        let end = RELOAD_SSHD[start..].find("; };").expect("its end") + start + 4;
        let script = format!(
            "ss() {{ echo 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=71,fd=3)) ino:4242 sk:1'; }}; {} listener",
            &RELOAD_SSHD[start..end]
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "4242",
            "{script}"
        );
    }
}
