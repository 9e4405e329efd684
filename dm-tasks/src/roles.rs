//! Which base roles a server plays: the one table that `launch` (which recipes), the load
//! balancer (its upstream), provision's firewall (what to open, to whom), `scale` and DNS read,
//! so they never disagree about a server.
//!
//! There are four base roles: `dbserver`, `cachenode`, `appnode` and `loadbalancer`. Two
//! combined roles stand for several at once, for small setups on few servers:
//!
//! | role            | base roles                                   |
//! |-----------------|----------------------------------------------|
//! | `appbalancer`   | `cachenode`, `appnode`, `loadbalancer`       |
//! | `dbappbalancer` | all four                                     |
//!
//! Any other role (`monitoring`, a role of your own) plays no base role.

use std::collections::BTreeSet;

use dm_core::host::Host;
use dm_core::inventory::Inventory;

/// The base roles, in the order `launch` sets them up on one server: what a recipe may use on
/// the same machine (the database, the cache, the app) is there first.
pub const BASE_ROLES: [&str; 4] = ["dbserver", "cachenode", "appnode", "loadbalancer"];

/// Every role dm knows, with the base roles it stands for (in [`BASE_ROLES`] order).
pub const ROLES: &[(&str, &[&str])] = &[
    ("dbserver", &["dbserver"]),
    ("cachenode", &["cachenode"]),
    ("appnode", &["appnode"]),
    ("loadbalancer", &["loadbalancer"]),
    ("appbalancer", &["cachenode", "appnode", "loadbalancer"]),
    ("dbappbalancer", &BASE_ROLES),
];

/// The base roles `role` stands for, or `None` for a role dm does not know.
pub fn base_roles_of(role: &str) -> Option<&'static [&'static str]> {
    ROLES
        .iter()
        .find(|(name, _)| *name == role)
        .map(|(_, bases)| *bases)
}

/// The base roles that `roles` (a server's roles) stand for together; unknown roles add none.
pub fn expand_roles<'a>(roles: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'static str> {
    roles
        .into_iter()
        .filter_map(base_roles_of)
        .flatten()
        .copied()
        .collect()
}

/// The base roles `host` plays, through its roles (see [`expand_roles`]).
pub fn base_roles(host: &Host) -> BTreeSet<&'static str> {
    expand_roles(host.roles.iter().map(String::as_str))
}

/// Whether `host` plays role `role`: has it, or has a combined role standing for it
/// (`appbalancer` plays `appnode`).
pub fn plays(host: &Host, role: &str) -> bool {
    host.has_role(role) || base_roles(host).contains(role)
}

/// The roles whose servers play the base role `base`, e.g. for `appnode`: `appnode`,
/// `appbalancer`, `dbappbalancer` (to name them in messages).
pub fn roles_playing(base: &str) -> Vec<&'static str> {
    ROLES
        .iter()
        .filter(|(_, bases)| bases.contains(&base))
        .map(|(name, _)| *name)
        .collect()
}

/// The servers of the inventory's active environment that play role `role` (see [`plays`]), in
/// inventory order: e.g. every app node behind a load balancer, or every server the database
/// lets in.
pub fn servers_with_role<'a>(inventory: &'a Inventory, role: &str) -> Vec<&'a Host> {
    inventory.servers().filter(|h| plays(h, role)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(roles: &[&str]) -> Host {
        let mut host = Host::new("a", "10.231.0.2");
        host.roles = roles.iter().map(|r| r.to_string()).collect();
        host
    }

    #[test]
    fn combined_roles_play_their_parts() {
        assert!(plays(&host(&["appbalancer"]), "appnode"));
        assert!(plays(&host(&["appbalancer"]), "loadbalancer"));
        assert!(plays(&host(&["appbalancer"]), "cachenode"));
        assert!(!plays(&host(&["appbalancer"]), "dbserver"));
        assert_eq!(
            base_roles(&host(&["dbappbalancer"])),
            BASE_ROLES.into_iter().collect()
        );
        assert!(!plays(&host(&["worker"]), "appnode"));
        // A role of the user's own is still played by the servers that have it.
        assert!(plays(&host(&["worker"]), "worker"));
        assert!(base_roles(&host(&["worker", "monitoring"])).is_empty());
    }

    #[test]
    fn the_roles_playing_a_base_role_are_named() {
        assert_eq!(
            roles_playing("appnode"),
            ["appnode", "appbalancer", "dbappbalancer"]
        );
        assert_eq!(roles_playing("dbserver"), ["dbserver", "dbappbalancer"]);
        assert!(roles_playing("worker").is_empty());
    }

    #[test]
    fn every_role_stands_for_base_roles_in_launch_order() {
        for (role, bases) in ROLES {
            let mut ordered = bases.to_vec();
            ordered.sort_by_key(|b| BASE_ROLES.iter().position(|x| x == b));
            assert_eq!(&ordered, bases, "{role}");
            assert!(bases.iter().all(|b| BASE_ROLES.contains(b)), "{role}");
        }
    }
}
