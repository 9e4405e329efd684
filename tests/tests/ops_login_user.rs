//! A step run as the login user (`Step::as_login_user`, Ansible's `become: false`): an account
//! with no sudo rights at all deploys into its own home with files, directories, lines, links,
//! commands and a git checkout; check mode writes nothing, the first run changes everything,
//! the second nothing in one round trip. Checked from outside, on the machine.

use crate::ops_support::statuses;
use dm::ops::{Command, Directory, File, Git, Line, OpStatus, Symlink};
use dm::prelude::*;
use dm::testing::{Fleet, Machine};
use dm_tests::{dm_run, write};

/// The operations of both tasks below, on `solo`'s home.
fn home_step(step: &mut dm::ops::Step<'_>) {
    step.add(Directory::new("/home/solo/app/releases").mode(0o750));
    step.add(File::bytes("/home/solo/app/config.toml", "port = 8080\n").mode(0o640));
    step.add(
        Line::present("/home/solo/.profile", "export APP_ENV=prod").matching("^export APP_ENV="),
    );
    step.add(Symlink::new(
        "/home/solo/app/current",
        "/home/solo/app/releases",
    ));
    step.add(
        Command::new("date +%s > /home/solo/app/built")
            .creates("/home/solo/app/bui*")
            .cwd("/home/solo"),
    );
    step.add(
        Git::new("file:///home/solo/origin.git", "/home/solo/app/src")
            .branch("main")
            .depth(1),
    );
}

/// `solo`'s home set up as the login user itself.
#[task]
async fn login_user_home(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step().as_login_user();
    home_step(&mut step);
    step.apply().await?;
    Ok(())
}

/// The same operations as root: through sudo, which `solo` may not use.
#[task]
async fn login_user_home_as_root(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    home_step(&mut step);
    step.apply().await?;
    Ok(())
}

/// What `solo`'s home holds: every path below it with its mode and owner, and the contents
/// that were written.
fn home(m: &Machine) -> String {
    m.exec_ok(
        "cd /home/solo && find . -path ./origin.git -prune -o -path ./app/src/.git -prune -o \
         -printf '%p %m %u:%g\\n' | sort; cat app/config.toml; grep APP_ENV .profile || true",
    )
}

#[test]
fn a_login_user_without_sudo_converges_its_own_home() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    // solo logs in with the fleet's key and has no sudo rights at all; git is there (installed
    // by root beforehand, as a shared host's administrator would), its origin is solo's own.
    m.exec_ok(
        "useradd -m -s /bin/bash solo && install -d -m 700 -o solo -g solo /home/solo/.ssh && \
         install -m 600 -o solo -g solo /root/.ssh/authorized_keys /home/solo/.ssh/authorized_keys && \
         apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git >/dev/null && \
         runuser -u solo -- sh -c 'set -e; cd; git init -q -b main work; cd work; echo one > README; \
           git add README; git -c user.name=s -c user.email=s@example.invalid commit -q -m one; \
           git clone -q --bare . ../origin.git'",
    );
    assert!(
        m.exec_ok("sudo -l -U solo || true")
            .contains("not allowed to run sudo"),
        "solo must have no sudo rights"
    );
    let inventory = fleet
        .inventory_toml()
        .replace("[servers.app1]\n", "[servers.app1]\nuser = \"solo\"\n");
    write(&fleet.inventory_path(), &inventory);

    // As root the step cannot even read its facts: sudo wants a password solo does not have.
    let refused = dm_run(&fleet, &["-H", "app1", "login-user-home-as-root"]);
    assert!(!refused.success, "{refused:#?}");
    let error = refused.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("sudo needs a password for `solo`"),
        "{error}"
    );

    let before = home(m);
    let check = dm_run(&fleet, &["--check", "-H", "app1", "login-user-home"]);
    assert!(check.success, "{check:#?}");
    assert_eq!(statuses(&check), [OpStatus::WouldChange; 6], "{check:#?}");
    assert_eq!(home(m), before, "check mode wrote");

    let first = dm_run(&fleet, &["-H", "app1", "login-user-home"]);
    assert!(first.success, "{first:#?}");
    assert_eq!(statuses(&first), [OpStatus::Changed; 6], "{first:#?}");
    let after = home(m);
    for line in [
        "./app 755 solo:solo",
        "./app/releases 750 solo:solo",
        "./app/config.toml 640 solo:solo",
        "./app/current 777 solo:solo",
        "./app/built 644 solo:solo",
        "./app/src/README 644 solo:solo",
        "port = 8080",
        "export APP_ENV=prod",
    ] {
        assert!(after.lines().any(|l| l == line), "no `{line}` in:\n{after}");
    }
    assert_eq!(
        m.exec_ok("readlink /home/solo/app/current"),
        "/home/solo/app/releases\n"
    );
    assert_eq!(
        m.exec_ok("stat -c %U /home/solo/.profile /home/solo/app/src/.git"),
        "solo\nsolo\n"
    );

    // Second run: nothing to do, in one round trip.
    let second = dm_run(&fleet, &["-H", "app1", "login-user-home"]);
    assert!(second.success, "{second:#?}");
    assert_eq!(statuses(&second), [OpStatus::Ok; 6], "{second:#?}");
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(home(m), after);
}
