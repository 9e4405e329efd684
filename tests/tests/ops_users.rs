//! Accounts and their keys at parity with Ansible's `user` / `group` / `authorized_key` and
//! pyinfra's `server.user` / `server.group` / `server.user_authorized_keys`, on a real host: each
//! option reaches the end state those tools reach, reports `would change` in check mode without
//! writing, `changed` on the first run and `ok` on the second, which stays one round trip.
//! Everything is checked from outside, on the machine.

use dm::ops::OpStatus;
use dm::ops::{AuthorizedKey, Group, User};
use dm::prelude::*;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::dm_run;

/// Asserts that every operation of the run ended with `want`, and that there were `count`.
fn assert_all(report: &RunReport, count: usize, want: OpStatus) {
    let ops = &report.hosts[0].operations;
    assert_eq!(ops.len(), count, "{report:#?}");
    for op in ops {
        assert_eq!(op.status, want, "{}: {report:#?}", op.name);
    }
}

/// The account databases, to show that check mode wrote nothing.
fn accounts(m: &Machine) -> String {
    m.exec_ok("sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow; ls -la /home /srv")
}

/// A user whose group exists already, a group and its user in one step, a user set to exactly
/// two supplementary groups, and one whose groups are appended to.
#[task]
async fn users_accounts(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(User::new("dmapp"));
    step.add(Group::new("dmsame").gid(2301));
    step.add(User::new("dmsame").shell("/bin/bash"));
    step.add(User::new("dmexact").groups_exactly(["users", "audio"]));
    step.add(User::new("dmadd").groups(["users"]));
    step.apply().await?;
    Ok(())
}

/// A user whose home path is a regular file.
#[task]
async fn users_home_is_a_file(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(User::new("dmfilehome").home("/srv/dmfilehome"));
    step.apply().await?;
    Ok(())
}

#[test]
fn users_take_an_existing_group_refuse_a_file_as_home_and_set_groups_exactly() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    m.exec_ok(
        "groupadd dmapp && useradd -m -G adm,audio dmexact && useradd -m -G adm dmadd && \
         mkdir -p /srv && echo data > /srv/dmfilehome",
    );

    // A home that is a file is refused before anything changes, naming the path.
    let before = accounts(m);
    let refused = dm_run(&fleet, &["-H", "app1", "users-home-is-a-file"]);
    assert!(!refused.success, "{refused:#?}");
    let error = refused.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("the home directory /srv/dmfilehome is a file, not a directory"),
        "{error}"
    );
    assert_eq!(accounts(m), before, "the refused account was written");
    assert_eq!(m.exec_ok("cat /srv/dmfilehome"), "data\n");

    // Check mode: every account would change, nothing is written.
    let check = dm_run(&fleet, &["--check", "-H", "app1", "users-accounts"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 5, OpStatus::WouldChange);
    assert_eq!(accounts(m), before, "check mode wrote");

    // First run: the same end state as Ansible's user module.
    let first = dm_run(&fleet, &["-H", "app1", "users-accounts"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 5, OpStatus::Changed);
    assert_eq!(
        m.exec_ok(
            "id -gn dmapp; test -d /home/dmapp && echo home; \
             id -gn dmsame; getent group dmsame | cut -d: -f3; getent passwd dmsame | cut -d: -f7; \
             id -Gn dmexact; id -Gn dmadd"
        ),
        "dmapp\nhome\ndmsame\n2301\n/bin/bash\ndmexact audio users\ndmadd adm users\n"
    );

    // Second run: nothing to do, in one round trip.
    let after = accounts(m);
    let second = dm_run(&fleet, &["-H", "app1", "users-accounts"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 5, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(accounts(m), after);

    // A group added by hand is taken away again from the exact account only.
    m.exec_ok("usermod -a -G adm dmexact && usermod -a -G audio dmadd");
    let repair = dm_run(&fleet, &["-H", "app1", "users-accounts"]);
    assert!(repair.success, "{repair:#?}");
    let exact = repair.hosts[0]
        .operations
        .iter()
        .find(|o| o.name == "user dmexact")
        .expect("user dmexact");
    assert_eq!(exact.status, OpStatus::Changed, "{repair:#?}");
    assert_eq!(
        m.exec_ok("id -Gn dmexact; id -Gn dmadd"),
        "dmexact audio users\ndmadd adm audio users\n"
    );
}

const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KEY_B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDmKeyBBBBBBBBBBBBBBBBBBBBBBBBB bob";
const KEY_C: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmKeyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC carol";
const KEY_D: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmKeyDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD dave";

/// Key A with the options it must be restricted by.
fn restricted_a() -> String {
    format!("from=\"10.0.0.0/8\",no-agent-forwarding {KEY_A} alice@new")
}

/// A key whose line has other options and comment, an exclusive list, and a key already in
/// place whose file and directory have loose modes.
#[task]
async fn users_keys(ctx: &Ctx) -> Result<()> {
    let mut step = ctx.step();
    step.add(AuthorizedKey::new("dmkeys", &restricted_a()));
    step.add(AuthorizedKey::only("dmonly", [KEY_A, KEY_D]));
    step.add(AuthorizedKey::new("dmmodes", KEY_A));
    step.apply().await?;
    Ok(())
}

/// Every file and directory under /home with its mode, owner and content hash.
fn homes(m: &Machine) -> String {
    m.exec_ok(
        "find /home -printf '%p %m %u\\n' | sort; find /home -type f -exec sha256sum {} + | sort",
    )
}

#[test]
fn authorized_keys_update_options_keep_only_the_listed_keys_and_fix_modes() {
    let fleet = Fleet::builder().machine("app1", &[]).boot().expect("boot");
    let m = fleet.machine("app1");
    let keys = |user: &str, dir_mode: &str, file_mode: &str, content: &str| {
        m.exec_ok(&format!(
            "useradd -m {user} && mkdir -m {dir_mode} /home/{user}/.ssh && \
             printf '%s' '{content}' > /home/{user}/.ssh/authorized_keys && \
             chmod {file_mode} /home/{user}/.ssh/authorized_keys && \
             chown -R {user}: /home/{user}/.ssh"
        ))
    };
    keys(
        "dmkeys",
        "755",
        "601",
        &format!("# my keys\nno-pty {KEY_A} old\n{KEY_B}\n"),
    );
    keys(
        "dmonly",
        "700",
        "600",
        &format!("# team\n{KEY_A} a\n{KEY_B}\n{KEY_C}\n"),
    );
    keys("dmmodes", "755", "601", &format!("{KEY_A}\n"));

    // Check mode: every key would change, nothing is written.
    let before = homes(m);
    let check = dm_run(&fleet, &["--check", "-H", "app1", "users-keys"]);
    assert!(check.success, "{check:#?}");
    assert_all(&check, 3, OpStatus::WouldChange);
    assert_eq!(homes(m), before, "check mode wrote");

    // First run: the end state of Ansible's authorized_key (exclusive for dmonly).
    let first = dm_run(&fleet, &["-H", "app1", "users-keys"]);
    assert!(first.success, "{first:#?}");
    assert_all(&first, 3, OpStatus::Changed);
    let file = |user: &str| {
        m.exec_ok(&format!(
            "cat /home/{user}/.ssh/authorized_keys; \
             stat -c '%a %U' /home/{user}/.ssh /home/{user}/.ssh/authorized_keys"
        ))
    };
    assert_eq!(
        file("dmkeys"),
        format!(
            "# my keys\n{}\n{KEY_B}\n700 dmkeys\n600 dmkeys\n",
            restricted_a()
        )
    );
    assert_eq!(
        file("dmonly"),
        format!("# team\n{KEY_A}\n{KEY_D}\n700 dmonly\n600 dmonly\n")
    );
    assert_eq!(
        file("dmmodes"),
        format!("{KEY_A}\n700 dmmodes\n600 dmmodes\n")
    );

    // Second run: nothing to do, in one round trip.
    let after = homes(m);
    let second = dm_run(&fleet, &["-H", "app1", "users-keys"]);
    assert!(second.success, "{second:#?}");
    assert_all(&second, 3, OpStatus::Ok);
    assert_eq!(second.hosts[0].round_trips, 1, "{second:#?}");
    assert_eq!(homes(m), after);
}
