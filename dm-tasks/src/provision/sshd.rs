//! sshd hardening: the drop-in that refuses root and password logins, and the check that sshd
//! really uses it.
//!
//! sshd takes the *first* value it reads for a keyword, and Debian's sshd_config includes
//! /etc/ssh/sshd_config.d/*.conf on its first line, so the drop-in's name sorts first
//! (`00-…`). Another file can still win (one sorting earlier, or an sshd_config without the
//! `Include`): [`EffectiveSettings`] reads what `sshd -T` will use and fails if it is not what
//! the drop-in says.

use dm_core::operation::{FactOptions, OpError, Operation, Plan, Resource, Simulation};
use dm_core::ops::Fact;

/// The drop-in dm writes.
pub const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/00-dm-provision.conf";

/// The settings of the drop-in, as `sshd -T` prints them (lower-case keyword, value).
pub const HARDENED: [(&str, &str); 3] = [
    ("permitrootlogin", "no"),
    ("passwordauthentication", "no"),
    ("kbdinteractiveauthentication", "no"),
];

/// The drop-in's content: keys only, and never root.
pub fn render_drop_in() -> String {
    "# Managed by dm (provision): log in with a key, as the administrator; never as root, never\n\
     # with a password. Changes here are overwritten.\n\
     PermitRootLogin no\n\
     PasswordAuthentication no\n\
     KbdInteractiveAuthentication no\n"
        .to_string()
}

/// sshd reads the configuration a reload would load, and its effective values of
/// [`HARDENED`] are the hardened ones. Read-only: it fails, naming what differs, and never
/// changes anything.
pub struct EffectiveSettings;

impl Operation for EffectiveSettings {
    fn name(&self) -> String {
        "sshd effective settings".to_string()
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let keys: Vec<String> = HARDENED
            .iter()
            .map(|(key, _)| format!("$1 == \"{key}\""))
            .collect();
        format!(
            "if out=$(sshd -T 2>&1); then\n\
             \x20 printf '%s\\n' \"$out\" | awk '{cond} {{ print $1 \"=\" $2 }}'\n\
             else\n\
             \x20 echo failed=1\n\
             \x20 printf 'error=%s\\n' \"$(printf '%s' \"$out\" | tail -n 1)\"\n\
             fi",
            cond = keys.join(" || ")
        )
    }

    fn resources(&self) -> Vec<Resource> {
        // Planned after the drop-in is written, on what sshd reads then.
        vec![Resource::Path(SSHD_DROP_IN.to_string())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        if fact.flag("failed") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "`sshd -T` rejects the configuration: {}; fix /etc/ssh/sshd_config or the \
                     files of /etc/ssh/sshd_config.d",
                    fact.get("error").unwrap_or("no message")
                ),
            ));
        }
        let wrong: Vec<String> = HARDENED
            .iter()
            .filter(|(key, want)| fact.get(key) != Some(want))
            .map(|(key, want)| {
                format!(
                    "{key} is {} instead of {want}",
                    fact.get(key).unwrap_or("unset")
                )
            })
            .collect();
        if wrong.is_empty() {
            return Ok(Plan::Ok);
        }
        Err(OpError::invalid(
            &self.name(),
            format!(
                "sshd would not use the hardened settings of {SSHD_DROP_IN}: {}. sshd keeps the \
                 first value it reads: remove the setting from the file that sets it first (a \
                 file sorting before 00-dm-provision.conf in /etc/ssh/sshd_config.d, or \
                 /etc/ssh/sshd_config above its `Include /etc/ssh/sshd_config.d/*.conf` line), \
                 or add that Include line at the top of /etc/ssh/sshd_config",
                wrong.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_in_sets_every_hardened_keyword() {
        let text = render_drop_in().to_ascii_lowercase();
        for (key, value) in HARDENED {
            assert!(
                text.lines().any(|l| l == format!("{key} {value}")),
                "{key} missing from:\n{text}"
            );
        }
        assert!(SSHD_DROP_IN.ends_with(".conf"), "sshd includes only *.conf");
    }

    #[test]
    fn effective_settings_pass_only_when_all_are_hardened() {
        let hardened =
            "permitrootlogin=no\npasswordauthentication=no\nkbdinteractiveauthentication=no\n";
        assert!(matches!(
            EffectiveSettings.plan(&Fact::parse(hardened), &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
        let overridden =
            "permitrootlogin=yes\npasswordauthentication=no\nkbdinteractiveauthentication=no\n";
        let err = EffectiveSettings
            .plan(&Fact::parse(overridden), &mut Simulation::new())
            .expect_err("fails");
        assert!(
            err.to_string()
                .contains("permitrootlogin is yes instead of no"),
            "{err}"
        );
        let broken =
            "failed=1\nerror=/etc/ssh/sshd_config line 3: Bad configuration option: Bogus\n";
        let err = EffectiveSettings
            .plan(&Fact::parse(broken), &mut Simulation::new())
            .expect_err("fails");
        assert!(
            err.to_string().contains("Bad configuration option"),
            "{err}"
        );
    }

    #[test]
    fn the_fact_script_reads_the_three_keywords() {
        let script = EffectiveSettings.fact_script(&FactOptions::default());
        assert!(script.contains("$1 == \"permitrootlogin\" || $1 == \"passwordauthentication\""));
        assert!(script.contains("sshd -T"));
    }
}
