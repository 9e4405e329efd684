//! Tasks of the operations tests (`tests/tests/ops_*.rs`): steps of operations whose effects
//! the tests check from outside.

use dm::ops::{
    Apt, AuthorizedKey, Command, Component, Cron, Directory, File, Git, Group, Line, Service,
    Symlink, Sysctl, User,
};
use dm::prelude::*;

/// The public key the converge task authorizes for `dmuser` (never used to log in).
pub const DEMO_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmTestKeyMaterialNotARealKey0000000000000 dm-test";

/// The unit file of the demo service.
const UNIT: &str = "[Unit]\nDescription=dm demo service\n\n[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n";

/// Converge the demo host: twenty operations of every kind in one step, in two components
/// (added in reverse order), with a reaction on the template. Needs `templates/app.conf.j2`
/// and `blob.bin` next to dm.toml.
#[task]
async fn ops_converge(
    ctx: &Ctx,
    #[arg(help = "value of net.core.somaxconn", default = "4096")] somaxconn: String,
) -> Result<()> {
    let accounts = Component::new("accounts")
        .with(Group::new("dmgrp").gid(2101))
        .with(
            User::new("dmuser")
                .uid(2101)
                .group("dmgrp")
                .groups_exactly(["adm"])
                .shell("/bin/bash"),
        )
        .with(AuthorizedKey::only("dmuser", [DEMO_KEY]));
    let app = Component::new("app")
        .depends_on("accounts")
        .param("app_port", 8080)
        .with(Directory::new("/srv/dm").mode(0o755))
        .with(
            Directory::new("/srv/dm/releases/1")
                .mode(0o750)
                .owner("dmuser")
                .group("dmgrp"),
        )
        .with(Directory::new("/srv/dm/shared").owner("root").recurse())
        .with(Directory::new("/etc/dm-demo"))
        .with(
            File::bytes("/srv/dm/hello.txt", "hello\n")
                .chmod("u=rw,g=r,o=")
                .group("dmgrp"),
        )
        .with(File::template("/etc/dm-demo/app.conf", "templates/app.conf.j2").notify("record"))
        .with(File::local("/srv/dm/blob.bin", "blob.bin").mode(0o600))
        .with(File::absent("/srv/dm/obsolete"))
        .with(Symlink::new("/srv/dm/current", "/srv/dm/releases/1").owner("root"))
        .with(
            Line::present("/etc/dm-lines.conf", "color = blue")
                .matching("^color =")
                .backup()
                .create(),
        )
        .with(Line::present("/etc/dm-lines.conf", "size = 3").insert_after("^color ="))
        .with(Line::absent("/etc/dm-lines.conf", "obsolete = ").literal())
        .with(Command::new("echo made > /srv/dm/created").creates("/srv/dm/creat*"))
        .with(Cron::new(
            "dm-demo",
            "*/5 * * * *",
            "date +%s >> /tmp/dm-cron.log",
        ))
        .with(Sysctl::new("net.core.somaxconn", &somaxconn))
        .with(File::bytes("/etc/systemd/system/dm-demo.service", UNIT))
        .with(
            Service::new("dm-demo")
                .enabled()
                .running()
                .unmasked()
                .daemon_reload(),
        );
    let mut step = ctx.step();
    step.component(app);
    step.component(accounts);
    step.reaction(
        "record",
        Command::new("echo reacted >> /srv/dm/reactions.log"),
    );
    let report = step.apply().await?;
    ctx.log(format!("changed={}", report.changed()));
    Ok(())
}

/// A step whose second operation fails on `host` (only): the first writes a file, the third
/// would write another.
#[task]
async fn ops_fail_on(ctx: &Ctx, host: String) -> Result<()> {
    let mut step = ctx.step();
    step.add(File::bytes("/root/ops-first", "first\n"));
    step.add(Command::new(&format!(
        "if [ \"$(hostname)\" = {} ]; then echo disk on fire >&2; exit 3; fi",
        shell_quote(&host)
    )));
    step.add(File::bytes("/root/ops-third", "third\n"));
    step.apply().await?;
    Ok(())
}

/// A step with a file, then a template using a variable nobody defines.
#[task]
async fn ops_undefined_var(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(File::bytes("/root/ops-before", "before\n"));
    step.add(
        File::template_str(
            "/root/ops-site.conf",
            "site.conf.j2",
            "server {\n  listen {{ port }};\n  server_name {{ server_nmae }};\n}\n",
        )
        .var("port", 80),
    );
    step.apply().await?;
    Ok(())
}

/// Install (or check) two small packages.
#[task]
async fn ops_apt(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::present(["tree"]));
    step.add(Apt::present(["jq"]));
    step.apply().await?;
    Ok(())
}

/// Check out the host's `/srv/origin.git` at `main` into `/srv/checkout` (git must be there).
#[task]
async fn ops_git(ctx: &Ctx, #[arg(help = "discard local changes")] force: bool) -> Result<()> {
    let mut git = Git::new("/srv/origin.git", "/srv/checkout").branch("main");
    if force {
        git = git.force();
    }
    let mut step = ctx.step();
    step.add(git);
    step.apply().await?;
    Ok(())
}

/// Check out the host's `/srv/origin.git` at its default branch into `/srv/app-checkout`, as
/// the user `app` when given `--as-app`, else as root.
#[task]
async fn ops_git_app(
    ctx: &Ctx,
    #[arg(help = "run git as the user app")] as_app: bool,
) -> Result<()> {
    let mut git = Git::new("/srv/origin.git", "/srv/app-checkout");
    if as_app {
        git = git.user("app");
    }
    let mut step = ctx.step();
    step.add(git);
    step.apply().await?;
    Ok(())
}

/// Install git, create `/srv/origin.git` with one commit on `main`, and check it out: the
/// checkout's facts are gathered again after git is installed.
#[task]
async fn ops_git_setup(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(Apt::present(["git"]).no_recommends());
    step.add(
        Command::new(
            "set -e; git init -q -b main /srv/work; cd /srv/work; echo one > README; git add README; \
             git -c user.name=dm -c user.email=dm@example.invalid commit -q -m one; \
             git clone -q --bare /srv/work /srv/origin.git",
        )
        .creates("/srv/origin.git"),
    );
    step.add(Git::new("/srv/origin.git", "/srv/checkout").branch("main"));
    step.apply().await?;
    Ok(())
}
