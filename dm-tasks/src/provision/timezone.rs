//! [`Timezone`]: the system time zone, as Debian keeps it (`/etc/localtime` and `/etc/timezone`).

use dm_core::operation::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation,
};
use dm_core::ops::Fact;
use dm_core::shell_quote;

/// Where tzdata installs the zones.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// The host's time zone is `zone` (a name under /usr/share/zoneinfo, e.g. `Europe/Berlin`):
/// `/etc/localtime` links to its file and `/etc/timezone` names it, as `dpkg-reconfigure tzdata`
/// leaves them. An unknown zone fails instead of leaving a dangling link (glibc would silently
/// fall back to UTC).
pub struct Timezone {
    zone: String,
}

impl Timezone {
    /// The zone `zone`; its name is checked by [`AdminSettings`](super::AdminSettings).
    pub fn new(zone: &str) -> Timezone {
        Timezone {
            zone: zone.to_string(),
        }
    }

    fn zone_file(&self) -> String {
        format!("{ZONEINFO}/{}", self.zone)
    }
}

impl Operation for Timezone {
    fn name(&self) -> String {
        format!("timezone {}", self.zone)
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let zone_file = shell_quote(&self.zone_file());
        format!(
            "[ -f {zone_file} ] && echo known=1\n\
             echo link=\"$(readlink /etc/localtime)\"\n\
             [ -f /etc/timezone ] && echo named=\"$(head -n 1 /etc/timezone)\""
        )
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::Package("tzdata".to_string()),
            Resource::Path("/etc/localtime".to_string()),
            Resource::Path("/etc/timezone".to_string()),
        ]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        if !fact.flag("known") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "{} does not exist: `admin.timezone` must name a zone of the tzdata package, \
                     such as UTC or Europe/Berlin",
                    self.zone_file()
                ),
            ));
        }
        let zone_file = self.zone_file();
        let linked = fact.get("link") == Some(zone_file.as_str());
        let named = fact.get("named") == Some(self.zone.as_str());
        if linked && named {
            return Ok(Plan::Ok);
        }
        let mut what = Vec::new();
        let mut script = Vec::new();
        if !linked {
            what.push(format!(
                "/etc/localtime → {zone_file} (was {})",
                fact.get("link")
                    .filter(|l| !l.is_empty())
                    .unwrap_or("unset")
            ));
            // A new link renamed over the old one: /etc/localtime never goes missing.
            script.push(format!(
                "ln -sfn {z} /etc/.localtime.dm-new && mv -Tf /etc/.localtime.dm-new /etc/localtime",
                z = shell_quote(&zone_file)
            ));
        }
        if !named {
            what.push(format!("/etc/timezone: {}", self.zone));
            script.push(format!(
                "printf '%s\\n' {z} > /etc/.timezone.dm-new && mv -f /etc/.timezone.dm-new /etc/timezone",
                z = shell_quote(&self.zone)
            ));
        }
        Ok(Plan::Change(Change::new(
            what.join(", "),
            Action::shell(script.join("\n")),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fact: &str) -> Result<Plan, OpError> {
        Timezone::new("Europe/Berlin").plan(&Fact::parse(fact), &mut Simulation::new())
    }

    #[test]
    fn a_set_zone_is_left_alone() {
        let fact = "known=1\nlink=/usr/share/zoneinfo/Europe/Berlin\nnamed=Europe/Berlin\n";
        assert!(matches!(plan(fact), Ok(Plan::Ok)));
    }

    #[test]
    fn another_zone_is_replaced_by_rename() {
        let fact = "known=1\nlink=/usr/share/zoneinfo/Etc/UTC\nnamed=Etc/UTC\n";
        let Ok(Plan::Change(change)) = plan(fact) else {
            panic!("expected a change");
        };
        assert!(
            change
                .description
                .contains("was /usr/share/zoneinfo/Etc/UTC")
        );
        assert!(
            change
                .action
                .script
                .contains("mv -Tf /etc/.localtime.dm-new /etc/localtime")
        );
        assert!(change.action.script.contains("/etc/timezone"));
    }

    #[test]
    fn an_unknown_zone_fails_with_the_missing_file() {
        let err = plan("link=/usr/share/zoneinfo/Etc/UTC\n").expect_err("fails");
        assert!(
            err.to_string()
                .contains("/usr/share/zoneinfo/Europe/Berlin does not exist")
        );
    }
}
