//! Root does not follow links planted by other accounts: an account that owns a directory dm writes
//! into (the app's `/srv/app`, a user's home, a release tree) plants symbolic links where dm writes,
//! reads, removes, makes links (`ops::Symlink`, also with `.force()`) or changes owners, and then, checked from outside, root wrote, chowned and read nothing
//! it must not, and dm's run says why it refused.
//!
//! Every exploit is attempted as the unprivileged account itself (`runuser -u ACCOUNT`).

use dm::ops;
use dm::prelude::*;
use dm::testing::{Fleet, Machine};
use dm_tests::{dm_run, report_text};

use crate::std_deploy;

/// Runs `script` with `sh` as `account` on the machine: the unprivileged account's own doing.
fn as_account(m: &Machine, account: &str, script: &str) -> String {
    m.exec_ok(&format!(
        "runuser -u {account} -- sh -c {}",
        dm::shell_quote(script)
    ))
}

/// What root did in /etc at the accounts' bidding: /etc's owner or mode changed, or files the
/// planted links point at exist. Empty when nothing.
fn etc_violations(m: &Machine) -> Vec<String> {
    let mut found = Vec::new();
    let etc = m.exec_ok("stat -c '%U %G %a' /etc");
    if etc.trim() != "root root 755" {
        found.push(format!("/etc is now {}", etc.trim()));
    }
    let made = m.exec_ok(
        "for f in /etc/ld.so.preload /etc/authorized_keys /etc/dm-planted; do \
         if [ -e \"$f\" ] || [ -L \"$f\" ]; then stat -c '%n (%U %a)' \"$f\"; fi; done",
    );
    found.extend(made.lines().map(|l| format!("root made {l}")));
    found
}

/// Fails the test with every violation found (so that one run shows all that went wrong).
#[track_caller]
fn assert_none(violations: &[String]) {
    assert!(
        violations.is_empty(),
        "root followed links planted by another account:\n{}",
        violations.join("\n")
    );
}

/// How many temporary names after the current process id the account plants links for: the
/// upload's shell gets one of the next few dozen ids; a few thousand leave no doubt.
const PLANTED_PIDS: u32 = 4000;

/// An upload, a file and a line edit in `/srv/app`, the app user's directory (root's `/srv` above
/// it), each with an owner.
#[task]
async fn links_write_app_dir(ctx: &Ctx) -> Result<()> {
    ctx.put_bytes("from put\n", "/srv/app/put.conf")
        .owner("app")
        .mode(0o640)
        .await?;
    let mut step = ctx.step();
    step.add(
        ops::File::bytes("/srv/app/file.conf", "from file\n")
            .owner("app")
            .mode(0o600),
    );
    step.add(ops::Line::present("/srv/app/lines.conf", "color = blue"));
    step.add(ops::File::bytes("/srv/app/new/deeper/made.conf", "made\n"));
    step.apply().await?;
    Ok(())
}

/// A file in a directory of the app user's home, which the app user has made a link to `/etc`.
#[task]
async fn links_write_through_home(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::File::bytes("/home/app/conf/ld.so.preload", "/home/app/evil.so\n").mode(0o644));
    step.apply().await?;
    Ok(())
}

/// A directory below the app user's `~/conf` link to `/etc`.
#[task]
async fn links_mkdir_through_home(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::Directory::new("/home/app/conf/dm-planted").owner("app"));
    step.apply().await?;
    Ok(())
}

#[test]
fn uploads_into_another_accounts_directory_follow_no_planted_link() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "useradd -m -s /bin/sh app && install -d -o app -g app -m 755 /srv/app \
         && printf 'color = red\\n' > /srv/app/lines.conf && chown app:app /srv/app/lines.conf",
    );
    // The app user plants links for every temporary name dm used to pick (`.<name>.dm-tmp.<pid>`,
    // for the next process ids), all pointing at the file that makes every program load a
    // library of the app user's choosing.
    as_account(
        m,
        "app",
        &format!(
            "perl -e 'my $p = $ARGV[0]; for my $n (qw(put.conf file.conf lines.conf)) {{ \
             for my $i ($p .. $p + {PLANTED_PIDS}) {{ symlink(\"/etc/ld.so.preload\", \"/srv/app/.$n.dm-tmp.$i\") or die $! }} }}' \
             \"$(cat /proc/sys/kernel/ns_last_pid)\""
        ),
    );
    let planted = || {
        m.exec_ok("find /srv/app -maxdepth 1 -type l -name '.*.dm-tmp.*' | wc -l")
            .trim()
            .to_string()
    };
    let links_before = planted();
    assert_eq!(links_before, (3 * (PLANTED_PIDS + 1)).to_string());

    let mut violations = Vec::new();
    let run = dm_run(&fleet, &["-H", "app1", "links-write-app-dir"]);
    assert!(run.success, "{}", report_text(&run));
    violations.extend(etc_violations(m));
    if planted() != links_before {
        violations.push("a planted link was written through or replaced".to_string());
    }
    let written = m.exec_ok(
        "cd /srv/app && for f in put.conf file.conf lines.conf new/deeper/made.conf; do \
         [ -f \"$f\" ] && [ ! -L \"$f\" ] && stat -c '%n %U %a' \"$f\" && cat \"$f\"; done; \
         stat -c '%n %U %a' new new/deeper",
    );
    let wanted = "put.conf app 640\nfrom put\n\
                  file.conf app 600\nfrom file\n\
                  lines.conf app 644\ncolor = red\ncolor = blue\n\
                  new/deeper/made.conf app 644\nmade\n\
                  new app 755\nnew/deeper app 755\n";
    if written != wanted {
        violations.push(format!(
            "/srv/app holds\n{written}instead of\n{wanted}(missing directories are the app user's)"
        ));
    }
    let leftovers = m.exec_ok("find /srv/app -name '*.dm-*' ! -type l | wc -l");
    if leftovers.trim() != "0" {
        violations.push(format!("{} temporary files left behind", leftovers.trim()));
    }

    // A link on the way that the app user made (`~/conf` -> /etc): refused, nothing written.
    as_account(m, "app", "ln -s /etc /home/app/conf");
    let refused = dm_run(&fleet, &["-H", "app1", "links-write-through-home"]);
    let said = report_text(&refused);
    if refused.success
        || !said.contains("app1")
        || !said.contains("refusing to write /home/app/conf/ld.so.preload as root")
        || !said.contains("/home/app, on the way to it, belongs to app")
    {
        violations.push(format!(
            "writing through ~app/conf -> /etc was not refused with the reason: success {}, said:\n{said}",
            refused.success
        ));
    }
    let refused = dm_run(&fleet, &["-H", "app1", "links-mkdir-through-home"]);
    let said = report_text(&refused);
    if refused.success
        || !said.contains("app1")
        || !said.contains("refusing to write /home/app/conf/dm-planted as root")
    {
        violations.push(format!(
            "making a directory through ~app/conf -> /etc was not refused with the reason: success {}, said:\n{said}",
            refused.success
        ));
    }
    violations.extend(etc_violations(m));
    assert_none(&violations);
}

/// The key every authorizing task adds.
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmTestKeyMaterialNotARealKey0000000000000 dm-test";

/// A key for `mallory`.
#[task]
async fn links_authorize_mallory(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::AuthorizedKey::new("mallory", KEY));
    step.apply().await?;
    Ok(())
}

/// A key for `trudy`.
#[task]
async fn links_authorize_trudy(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::AuthorizedKey::new("trudy", KEY));
    step.apply().await?;
    Ok(())
}

#[test]
fn authorized_keys_refuse_links_in_the_users_home() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok("useradd -m -s /bin/sh mallory && useradd -m -s /bin/sh trudy");
    // mallory wants /etc: `~/.ssh` is a link to it, so that root chowns and chmods /etc and
    // writes authorized_keys there.
    as_account(m, "mallory", "ln -s /etc ~/.ssh");
    // trudy wants /etc/shadow: authorized_keys is a link to it, so that root reads it and
    // writes it back, with the key added, into a file trudy owns.
    as_account(
        m,
        "trudy",
        "mkdir -m 700 ~/.ssh && ln -s /etc/shadow ~/.ssh/authorized_keys",
    );

    let mut violations = Vec::new();
    for (user, link, target) in [
        ("mallory", "/home/mallory/.ssh", "/etc"),
        ("trudy", "/home/trudy/.ssh/authorized_keys", "/etc/shadow"),
    ] {
        let run = dm_run(&fleet, &["-H", "app1", &format!("links-authorize-{user}")]);
        let said = report_text(&run);
        if run.success
            || !said.contains("app1")
            || !said.contains(&format!("{link} is a symlink to {target}"))
        {
            violations.push(format!(
                "{user}'s link {link} -> {target} was not refused with the reason: success {}, said:\n{said}",
                run.success
            ));
        }
        let now = m.exec_ok(&format!("readlink {link} || echo not a link"));
        if now.trim() != target {
            violations.push(format!("{link} is now: {}", now.trim()));
        }
    }
    violations.extend(etc_violations(m));
    let shadow = m.exec_ok("stat -c '%U %G %a' /etc/shadow");
    if shadow.trim() != "root shadow 640" {
        violations.push(format!("/etc/shadow is now {}", shadow.trim()));
    }
    // Nothing of /etc/shadow landed anywhere trudy (or mallory) can read.
    let copies = m.exec_ok("grep -rls '^root:' /home/trudy /home/mallory/ 2>/dev/null || true");
    if !copies.trim().is_empty() {
        violations.push(format!("/etc/shadow's lines are now in {}", copies.trim()));
    }
    assert_none(&violations);
}

/// The app user of the deploy test, and its directory.
const APP_USER: &str = "shop";
const APP: &str = "/srv/shop";

#[test]
fn deploys_and_rollbacks_follow_no_link_in_the_release_tree() {
    dm::tasks::link();
    let (_tmp, repo) = std_deploy::temp_repo();
    // The repository carries a link where dm marks a release good, pointing into /etc.
    std::os::unix::fs::symlink("/etc/dm-planted", repo.join(".dm-release-ok"))
        .expect("symlink in the repository");
    std_deploy::commit_version(&repo, "v1", "gunicorn");
    let fleet = Fleet::builder()
        .machine("app1", &["appnode"])
        .boot()
        .expect("boot");
    let m = fleet.machine("app1");
    std_deploy::write_inventory(&fleet, &fleet.inventory_toml(), &repo, 3);
    let mut violations = Vec::new();

    let first = dm_run(&fleet, &["-H", "app1", "deploy-recipe"]);
    assert!(first.success, "{}", report_text(&first));
    assert_eq!(std_deploy::answer(m), "version v1");
    let v1 = std_deploy::live_release(m);
    violations.extend(etc_violations(m));
    let marker = m.exec_ok(&format!(
        "m={APP}/releases/{v1}/.dm-release-ok; if [ -f $m ] && [ ! -L $m ]; then echo file; else echo not a file; fi"
    ));
    if marker.trim() != "file" {
        violations.push(format!(
            "the good marker of release {v1} is {}",
            marker.trim()
        ));
    }
    // The program's environment (the app's secrets) is for root (supervisord) only.
    let conf = "/etc/supervisor/conf.d/shop-web.conf";
    let mode = m.exec_ok(&format!("stat -c '%U %G %a' {conf}"));
    if mode.trim() != "root root 600" {
        violations.push(format!("{conf} is {}", mode.trim()));
    }
    let read = m
        .exec(&format!("runuser -u {APP_USER} -- cat {conf}"))
        .expect("ssh runs");
    if read.status.success() {
        violations.push(format!("{APP_USER} can read {conf}"));
    }

    std_deploy::commit_version(&repo, "v2", "gunicorn");
    let second = dm_run(&fleet, &["-H", "app1", "deploy"]);
    assert!(second.success, "{}", report_text(&second));
    assert_eq!(std_deploy::answer(m), "version v2");

    // The app user points v1's REVISION at /etc/shadow: a rollback to v1 reads it and writes
    // what it read into revisions.log, which the app user reads.
    as_account(
        m,
        APP_USER,
        &format!("cd {APP}/releases/{v1} && rm -f REVISION && ln -s /etc/shadow REVISION"),
    );
    let back = dm_run(&fleet, &["-H", "app1", "rollback"]);
    assert!(back.success, "{}", report_text(&back));
    assert_eq!(std_deploy::answer(m), "version v1");
    let log = m.exec_ok(&format!("cat {APP}/revisions.log"));
    if log.contains("root:") || report_text(&back).contains("root:") {
        violations.push(format!(
            "/etc/shadow went into revisions.log or the output:\n{log}{}",
            report_text(&back)
        ));
    }
    if !log.contains(&format!("to release {v1} commit unknown")) {
        violations.push(format!(
            "the rollback did not log an unknown commit:\n{log}"
        ));
    }

    // The app user makes revisions.log a link to /etc/ld.so.preload: a deploy appends to it.
    as_account(
        m,
        APP_USER,
        &format!("cd {APP} && rm -f revisions.log && ln -s /etc/ld.so.preload revisions.log"),
    );
    let third = dm_run(&fleet, &["-H", "app1", "deploy"]);
    let said = report_text(&third);
    if third.success
        || !said.contains("app1")
        || !said.contains(&format!("{APP}/revisions.log is a symbolic link"))
    {
        violations.push(format!(
            "appending through revisions.log -> /etc/ld.so.preload was not refused with the reason: success {}, said:\n{said}",
            third.success
        ));
    }
    violations.extend(etc_violations(m));
    assert_none(&violations);
}

/// Removes a file and a directory that the app user made in `/srv/app/conf`, and its old releases.
#[task]
async fn links_remove_own(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::File::absent("/srv/app/conf/gone.conf"));
    step.add(ops::Directory::new("/srv/app/conf/gone.d").absent());
    step.apply().await?;
    let app = dm::tasks::app::AppConfig::from_ctx(ctx)?;
    dm::tasks::deploy::cleanup(ctx, &app).await?;
    Ok(())
}

/// Removes a file of `/srv/app/conf`, which the app user has made a link to `/etc`.
#[task]
async fn links_remove_file(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::File::absent("/srv/app/conf/dm-victim.conf"));
    step.apply().await?;
    Ok(())
}

/// Removes a directory of `/srv/app/conf`, which the app user has made a link to `/etc`.
#[task]
async fn links_remove_dir(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::Directory::new("/srv/app/conf/dm-victim.d").absent());
    step.apply().await?;
    Ok(())
}

/// Removes the app's old releases (what every deploy does last), with `releases/` a link the app
/// user planted to another app's releases.
#[task]
async fn links_cleanup_releases(ctx: &Ctx) -> Result<()> {
    let app = dm::tasks::app::AppConfig::from_ctx(ctx)?;
    dm::tasks::deploy::cleanup(ctx, &app).await?;
    Ok(())
}

/// Seven release directories named like dm's, oldest first.
const OLD_RELEASES: &str = "20200101000000 20200101000001 20200101000002 20200101000003 \
                            20200101000004 20200101000005 20200101000006";

#[test]
fn removals_follow_no_link_planted_on_the_way() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    // The app user's directory; what root keeps in /etc; another app's releases (user bank).
    m.exec_ok(&format!(
        "useradd -m -s /bin/sh app && useradd -m -s /bin/sh bank \
         && install -d -o app -g app -m 755 /srv/app \
         && echo keep > /etc/dm-victim.conf && mkdir /etc/dm-victim.d && echo keep > /etc/dm-victim.d/data \
         && install -d -o bank -g bank /srv/bank /srv/bank/releases \
         && for r in {OLD_RELEASES}; do install -d -o bank -g bank /srv/bank/releases/$r; \
            echo live > /srv/bank/releases/$r/data; done"
    ));
    as_account(
        m,
        "app",
        &format!(
            "mkdir -p /srv/app/conf/gone.d /srv/app/releases && echo x > /srv/app/conf/gone.conf \
             && echo x > /srv/app/conf/gone.d/x \
             && for r in {OLD_RELEASES}; do mkdir /srv/app/releases/$r && echo x > /srv/app/releases/$r/x; done"
        ),
    );
    let mut violations = Vec::new();

    // Removing what is the app user's own, in its own directories, works (as the app user).
    let own = dm_run(&fleet, &["-H", "app1", "links-remove-own"]);
    assert!(own.success, "{}", report_text(&own));
    let left = m.exec_ok(
        "ls /srv/app/conf; ls /srv/app/releases | tr '\\n' ' '; echo; \
         stat -c '%U' /srv/app/releases/20200101000002",
    );
    let wanted =
        "20200101000002 20200101000003 20200101000004 20200101000005 20200101000006 \napp\n";
    if left != wanted {
        violations.push(format!(
            "removing the app's own files left\n{left}instead of\n{wanted}"
        ));
    }

    // The app user swaps the directories above what dm removes for links: `conf` to /etc,
    // `releases` to bank's releases.
    as_account(
        m,
        "app",
        "cd /srv/app && mv conf conf.real && ln -s /etc conf \
         && mv releases releases.real && ln -s /srv/bank/releases releases",
    );
    for (task, path) in [
        ("links-remove-file", "/srv/app/conf/dm-victim.conf"),
        ("links-remove-dir", "/srv/app/conf/dm-victim.d"),
        ("links-cleanup-releases", "/srv/app/releases/20200101000000"),
    ] {
        let run = dm_run(&fleet, &["-H", "app1", task]);
        let said = report_text(&run);
        if run.success
            || !said.contains("app1")
            || !said.contains(&format!("refusing to remove {path}"))
            || !said.contains("/srv/app")
            || !said.contains("on the way to it")
            || said.contains("dm_who")
        {
            violations.push(format!(
                "{task}: removing {path} through a planted link was not refused with the reason: \
                 success {}, said:\n{said}",
                run.success
            ));
        }
    }
    // Checked from outside: root's and bank's files are all there.
    let victims = m.exec_ok(
        "cat /etc/dm-victim.conf /etc/dm-victim.d/data; ls /srv/bank/releases | wc -l; \
         cat /srv/bank/releases/*/data | sort -u",
    );
    if victims != "keep\nkeep\n7\nlive\n" {
        violations.push(format!(
            "root removed through a planted link: /etc/dm-victim.conf, /etc/dm-victim.d/data, \
             bank's 7 releases are now:\n{victims}"
        ));
    }
    violations.extend(etc_violations(m));
    assert_none(&violations);
}

/// Puts links, with `.force()`, where the app user made a file and an empty directory in its
/// `/srv/app/conf`.
#[task]
async fn links_symlink_own(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::Symlink::new("/srv/app/conf/app.conf", "/srv/app/conf/v2.conf").force());
    step.add(ops::Symlink::new("/srv/app/conf/plugins", "/srv/app/conf/v2.conf").force());
    step.apply().await?;
    Ok(())
}

/// Replaces, with `.force()`, a file of `/srv/app/conf` (which the app user has made a link to
/// `/etc`) with a link to the app user's file.
#[task]
async fn links_symlink_force_through(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::Symlink::new("/srv/app/conf/dm-victim.conf", "/srv/app/evil.conf").force());
    step.apply().await?;
    Ok(())
}

/// Makes a link in `/srv/app/conf` (a link to `/etc` by then) to the app user's file.
#[task]
async fn links_symlink_through(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(ops::Symlink::new(
        "/srv/app/conf/dm-planted",
        "/srv/app/evil.conf",
    ));
    step.apply().await?;
    Ok(())
}

#[test]
fn symlinks_forced_or_not_follow_no_link_planted_on_the_way() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "useradd -m -s /bin/sh app && install -d -o app -g app -m 755 /srv/app \
         && echo keep > /etc/dm-victim.conf",
    );
    as_account(
        m,
        "app",
        "mkdir -p /srv/app/conf/plugins && echo v1 > /srv/app/conf/app.conf \
         && echo v2 > /srv/app/conf/v2.conf && echo evil > /srv/app/evil.conf",
    );
    let mut violations = Vec::new();

    // In the app user's own directory, `.force()` replaces its file and empty directory, as the
    // app user.
    let own = dm_run(&fleet, &["-H", "app1", "links-symlink-own"]);
    assert!(own.success, "{}", report_text(&own));
    let made = m.exec_ok(
        "cd /srv/app/conf && for l in app.conf plugins; do \
         echo \"$l -> $(readlink $l) $(stat -c %U $l)\"; done; ls -A | tr '\\n' ' '",
    );
    let wanted = "app.conf -> /srv/app/conf/v2.conf app\n\
                  plugins -> /srv/app/conf/v2.conf app\n\
                  app.conf plugins v2.conf ";
    if made != wanted {
        violations.push(format!(
            "the links in the app's own directory are\n{made}\ninstead of\n{wanted}\n(made by \
             the app user, no temporary left)"
        ));
    }

    // The app user swaps `conf` for a link to /etc: root must neither replace /etc's file nor
    // make a link there.
    as_account(
        m,
        "app",
        "cd /srv/app && mv conf conf.real && ln -s /etc conf",
    );
    for (task, path) in [
        (
            "links-symlink-force-through",
            "/srv/app/conf/dm-victim.conf",
        ),
        ("links-symlink-through", "/srv/app/conf/dm-planted"),
    ] {
        let run = dm_run(&fleet, &["-H", "app1", task]);
        let said = report_text(&run);
        if run.success
            || !said.contains("app1")
            || !said.contains(&format!("refusing to make the link {path} as root"))
            || !said.contains("/srv/app, on the way to it, belongs to app")
        {
            violations.push(format!(
                "{task}: linking {path} through conf -> /etc was not refused with the reason: \
                 success {}, said:\n{said}",
                run.success
            ));
        }
    }
    // Checked from outside: root's file is untouched and no link was made in /etc.
    let victim = m.exec_ok(
        "if [ -L /etc/dm-victim.conf ]; then echo \"a link to $(readlink /etc/dm-victim.conf)\"; \
         else cat /etc/dm-victim.conf; fi",
    );
    if victim != "keep\n" {
        violations.push(format!("/etc/dm-victim.conf is now {victim}"));
    }
    violations.extend(etc_violations(m));
    assert_none(&violations);
}
