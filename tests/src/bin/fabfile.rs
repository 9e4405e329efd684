//! The fabfile dm's end-to-end tests drive: small tasks that make the runtime's behaviour visible
//! from outside (timestamps, markers on hosts, files moved).

use dm::prelude::*;

/// Tasks of the operations tests.
#[path = "fabfile/ops.rs"]
mod ops;

/// Print when the task started and ended on this host, sleeping in between.
#[task]
async fn stamp(ctx: &Ctx, #[arg(default = "1")] seconds: f64) -> Result<()> {
    ctx.run(format!(
        "echo start $(date +%s.%N); sleep {seconds}; echo end $(date +%s.%N)"
    ))
    .await?;
    Ok(())
}

/// Same as `stamp`, in batches of two hosts.
#[task(serial = 2)]
async fn stamp_serial(ctx: &Ctx, #[arg(default = "1")] seconds: f64) -> Result<()> {
    stamp(ctx, seconds).await
}

/// Same as `stamp`, at most two hosts at once.
#[task(parallel = 2)]
async fn stamp_parallel(ctx: &Ctx, #[arg(default = "1")] seconds: f64) -> Result<()> {
    stamp(ctx, seconds).await
}

/// Leave a marker file on the host (to prove whether a task ran at all).
#[task]
async fn mark(
    ctx: &Ctx,
    #[arg(help = "marker name")] name: String,
    count: Option<u32>,
) -> Result<()> {
    let path = format!("/tmp/dm-mark-{name}");
    ctx.run(format!(
        "echo {} > {}",
        count.unwrap_or(1),
        shell_quote(&path)
    ))
    .await?;
    Ok(())
}

/// Print who runs commands, and who sudo makes us.
#[task]
async fn whoami(ctx: &Ctx) -> Result<()> {
    let me = ctx.run("id -un").quiet().await?;
    let root = ctx.sudo("id -un").quiet().await?;
    ctx.log(format!("user={} sudo={}", me.trimmed(), root.trimmed()));
    Ok(())
}

/// Upload a local file, download it again next to it (`<local>.<host>`).
#[task]
async fn roundtrip(ctx: &Ctx, local: String, remote: String) -> Result<()> {
    ctx.put(&local, &remote).mode(0o600).await?;
    let back = format!("{local}.{}", ctx.name());
    let n = ctx.get(&remote, &back).await?;
    ctx.log(format!("got {n} bytes"));
    Ok(())
}

/// Upload a local file to the host.
#[task]
async fn upload(ctx: &Ctx, local: String, remote: String) -> Result<()> {
    ctx.put(&local, &remote).await?;
    Ok(())
}

/// Upload a local file to the host as root (through sudo), mode 0644.
#[task]
async fn upload_root(ctx: &Ctx, local: String, remote: String) -> Result<()> {
    ctx.put(&local, &remote).sudo().await?;
    Ok(())
}

/// Fail on the named host, succeed elsewhere.
#[task]
async fn fail_on(ctx: &Ctx, host: String) -> Result<()> {
    if ctx.name() == host {
        ctx.run("echo about to fail >&2; exit 3").await?;
    }
    ctx.run("echo fine").await?;
    Ok(())
}

/// Print the host's facts and one inventory variable.
#[task]
async fn describe(ctx: &Ctx) -> Result<()> {
    let facts = ctx.facts().await?;
    let tier: String = ctx.var("tier").unwrap_or_else(|_| "none".into());
    ctx.log(format!(
        "hostname={} os={} tier={tier}",
        facts.hostname, facts.os
    ));
    Ok(())
}

/// Run in a directory with an environment variable set.
#[task]
async fn scoped(ctx: &Ctx) -> Result<()> {
    let app = ctx.cd("/tmp").env("GREETING", "hello world");
    app.run("echo \"$(pwd) $GREETING\"").await?;
    Ok(())
}

/// Run a command with `DM_TEST_VALUE=value` set through `ctx.env` (as root through sudo with
/// `--sudo`): it says it started (`/var/tmp/dm-env-started`), waits for `/var/tmp/dm-env-go`,
/// then prints the value's length.
#[task]
async fn env_wait(
    ctx: &Ctx,
    #[arg(help = "the value")] value: String,
    #[arg(help = "run it through sudo")] sudo: bool,
) -> Result<()> {
    let scoped = ctx.env("DM_TEST_VALUE", &value);
    let command = "touch /var/tmp/dm-env-started; \
        while [ ! -e /var/tmp/dm-env-go ]; do sleep 0.1; done; \
        printf 'length=%s\\n' \"${#DM_TEST_VALUE}\"";
    if sudo {
        scoped.sudo(command).await?;
    } else {
        scoped.run(command).await?;
    }
    Ok(())
}

/// Run a command on the controlling machine, once.
#[task(local)]
async fn on_controller(ctx: &Ctx) -> Result<()> {
    ctx.run("echo controller-$(id -un)").await?;
    Ok(())
}

/// Run on the first selected host only.
#[task(once)]
async fn first_only(ctx: &Ctx) -> Result<()> {
    ctx.log(format!("once on {}", ctx.name()));
    Ok(())
}

/// Write the `postgres_password` secret to a file on the host (mode 0600), read once through
/// `ctx.secret` and once through the `secret` variable, then print it (which dm must mask).
#[task]
async fn secret_file(ctx: &Ctx, path: String) -> Result<()> {
    let password = ctx.secret("postgres_password")?;
    let vars: std::collections::BTreeMap<String, String> = ctx.var("secret")?;
    let from_vars = vars.get("postgres_password").cloned().unwrap_or_default();
    ctx.put_bytes(
        format!("password={password}\nfrom_vars={from_vars}\n"),
        &path,
    )
    .mode(0o600)
    .await?;
    ctx.log(format!("wrote {path} with password {password}"));
    ctx.run(format!("cat {}", shell_quote(&path))).await?;
    Ok(())
}

/// Fail in a way whose message contains the `postgres_password` secret: `command` (a failing
/// command that also prints it on stderr) or `error` (the task's own error).
#[task]
async fn secret_fail(ctx: &Ctx, how: String) -> Result<()> {
    let password = ctx.secret("postgres_password")?;
    if how == "error" {
        bail!("the database refused password {password}");
    }
    ctx.run(format!(
        "echo rejected {} >&2; exit 7",
        shell_quote(&password)
    ))
    .await?;
    Ok(())
}

/// Upload a local file through `ctx.put_bytes` with mode 0600.
#[task]
async fn put_private(ctx: &Ctx, local: String, remote: String) -> Result<()> {
    let bytes = std::fs::read(&local)?;
    ctx.put_bytes(bytes, &remote).mode(0o600).await?;
    Ok(())
}

dm::main!();

/// Print the host's name on the servers or roles given by position (`targeted appnode1 web`).
#[task]
async fn targeted(
    ctx: &Ctx,
    #[arg(hosts, help = "servers or roles")] targets: Vec<String>,
) -> Result<()> {
    let _ = targets;
    ctx.run("echo targeted $(hostname)").await?;
    Ok(())
}

/// From the controller, run `hostname` on every selected host at once; fails when any fails.
#[task(local)]
async fn fan_out(
    ctx: &Ctx,
    #[arg(hosts, help = "servers or roles")] targets: Vec<String>,
    #[arg(help = "make this host's work fail")] fail: Option<String>,
) -> Result<()> {
    let _ = targets;
    let hosts: Vec<_> = ctx.selected_hosts().iter().map(|h| (**h).clone()).collect();
    ctx.log(format!("selected {}", hosts.len()));
    let outcomes = ctx
        .on_hosts(hosts, move |ctx| {
            let fail = fail.clone();
            async move {
                ctx.run("echo fanned $(hostname)").await?;
                if fail.as_deref() == Some(ctx.name()) {
                    ctx.run("echo failing on purpose >&2; exit 3").await?;
                }
                Ok(())
            }
        })
        .await;
    dm::ctx::FanOutResult::all_ok(outcomes)
}

/// Under --check: a command, a sudo command, an upload, a download and a command on the
/// controller that would act, and a read-only probe (`check_safe`) that runs anyway; prints what
/// each returned. `dir` is a local directory for the download and the local command.
#[task]
async fn check_effects(
    ctx: &Ctx,
    #[arg(help = "local directory the download and the local command write to")] dir: String,
) -> Result<()> {
    let probe = ctx.run("cat /etc/hostname").quiet().check_safe().await?;
    ctx.log(format!(
        "probe={} skipped={}",
        probe.trimmed(),
        probe.skipped
    ));
    let made = ctx.run("touch /root/check-run && echo made").await?;
    ctx.log(format!(
        "run skipped={} success={} stdout={:?}",
        made.skipped,
        made.success(),
        made.stdout
    ));
    ctx.sudo("touch /root/check-sudo").await?;
    ctx.put_bytes(b"x".to_vec(), "/root/check-put").await?;
    let got = ctx
        .get("/etc/hostname", format!("{dir}/hostname-{}", ctx.name()))
        .await?;
    ctx.log(format!("downloaded={got}"));
    ctx.local(format!(
        "touch {}",
        shell_quote(&format!("{dir}/local-{}", ctx.name()))
    ))
    .await?;
    Ok(())
}

/// nginx with a site whose template holds the secret `api_token` (in a comment), listening on
/// `port`: a configuration file with a secret, for `--diff`.
#[task]
async fn nginx_secret_site(
    ctx: &Ctx,
    #[arg(help = "the port the site listens on")] port: u16,
) -> Result<()> {
    let mut step = ctx.step();
    dm::tasks::nginx::add_install(&mut step);
    step.add(
        dm::tasks::nginx::ValidatedConfig::new()
            .template_str(
                "/etc/nginx/sites-enabled/secret.conf",
                "secret.conf.j2",
                "server {\n    # token {{ secret.api_token }}\n    listen {{ port }};\n}\n",
            )
            .var("port", port)
            .notify(dm::tasks::nginx::RELOAD),
    );
    step.apply().await?;
    Ok(())
}

/// A step whose one operation leaves `/tmp/dm-step-started` and then takes `seconds`: a test
/// powers the host off once the marker is there, inside `step.apply()`.
#[task]
async fn slow_step(ctx: &Ctx, #[arg(default = "60")] seconds: u64) -> Result<()> {
    let mut step = ctx.step();
    step.add(dm::ops::Command::new(&format!(
        "touch /tmp/dm-step-started; sleep {seconds}"
    )));
    step.apply().await?;
    Ok(())
}

/// Print one inventory variable as JSON (`app.name` reaches into `[vars.app]`).
#[task]
async fn show_var(ctx: &Ctx, name: String) -> Result<()> {
    let value: serde_json::Value = ctx.var(&name)?;
    ctx.log(format!("{name}={value}"));
    Ok(())
}
