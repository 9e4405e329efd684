//! The administrator's account: a login user with the operator's keys and passwordless sudo.

use dm_core::operation::Step;
use dm_core::ops;

use super::validated_file::ValidatedFile;

/// The sudoers rule file of `user`: sudo reads every file of /etc/sudoers.d whose name has no
/// dot, so the user name (checked to be letters, digits, `_` and `-`) is a file name it reads.
pub fn sudoers_path(user: &str) -> String {
    format!("/etc/sudoers.d/{user}")
}

/// The rule giving `user` every command as root without a password: dm logs in with keys only,
/// so there is no password to give.
pub fn render_sudoers(user: &str) -> String {
    format!(
        "# Managed by dm (provision): the administrator runs anything as root without a password.\n\
         {user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )
}

/// Adds the administrator's account to `step`: the user (bash login shell, home directory),
/// its authorized keys, and its sudoers rule, checked with `visudo -cf` before it replaces the
/// current one.
pub fn add_admin_account(step: &mut Step<'_>, user: &str, keys: &[String]) {
    step.add(
        ops::User::new(user)
            .shell("/bin/bash")
            .comment("administrator (dm)"),
    );
    for key in keys {
        step.add(ops::AuthorizedKey::new(user, key));
    }
    step.add(
        ValidatedFile::new(&sudoers_path(user), render_sudoers(user), "visudo -cf")
            .mode(0o440)
            .needs_package("sudo"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sudoers_rule_is_passwordless_for_the_administrator_only() {
        let rule = render_sudoers("admin");
        let rules: Vec<&str> = rule.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rules, ["admin ALL=(ALL:ALL) NOPASSWD: ALL"]);
        assert_eq!(sudoers_path("admin"), "/etc/sudoers.d/admin");
    }
}
