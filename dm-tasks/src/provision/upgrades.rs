//! Unattended security upgrades: apt refreshes its lists and installs security updates daily.
//!
//! Debian's unattended-upgrades package already limits itself to the security archive (its
//! /etc/apt/apt.conf.d/50unattended-upgrades); what is missing on a bare server is the switch
//! that turns the daily run on, /etc/apt/apt.conf.d/20auto-upgrades, which is written here.

use dm_core::operation::Step;
use dm_core::ops;

/// The file that turns the daily apt runs on (the name `dpkg-reconfigure unattended-upgrades`
/// writes).
pub const AUTO_UPGRADES: &str = "/etc/apt/apt.conf.d/20auto-upgrades";

/// The content of [`AUTO_UPGRADES`]: refresh the package lists and run unattended-upgrade
/// every day.
pub fn render_auto_upgrades() -> String {
    "// Managed by dm (provision): daily package lists and unattended security upgrades.\n\
     APT::Periodic::Update-Package-Lists \"1\";\n\
     APT::Periodic::Unattended-Upgrade \"1\";\n"
        .to_string()
}

/// Adds unattended upgrades to `step` (the package is among the base packages): the daily
/// switch, and the service that finishes an upgrade before the machine shuts down.
pub fn add_unattended_upgrades(step: &mut Step<'_>) {
    step.add(ops::File::bytes(AUTO_UPGRADES, render_auto_upgrades()).mode(0o644));
    step.add(ops::Service::new("unattended-upgrades").enabled());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_daily_switches_are_on() {
        let text = render_auto_upgrades();
        assert!(text.contains("APT::Periodic::Update-Package-Lists \"1\";"));
        assert!(text.contains("APT::Periodic::Unattended-Upgrade \"1\";"));
    }
}
