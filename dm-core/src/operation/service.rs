//! [`Service`]: a systemd unit enabled or disabled, running or stopped, restarted or reloaded.

use super::fact::Fact;
use super::{Action, Change, FactOptions, OpError, Operation, Plan, Simulation, notify_builder};
use crate::quote::shell_quote;

/// A systemd service (or any unit): enabled at boot or not, running or stopped, masked or not;
/// or restarted or reloaded every time (as a reaction, typically). With [`Service::user`], a
/// unit of that user's own systemd manager (`systemctl --user`).
///
/// A unit file written by [`File`](super::File) in the same step is picked up: changing a file
/// in a systemd unit directory runs `systemctl daemon-reload`. A unit not found when the facts are
/// read (its package is installed earlier in the same step) is planned as a change when it is to
/// be started, enabled, restarted or reloaded, and must exist when applied. A unit that does not
/// exist cannot be stopped, disabled or only unmasked: that is an error, in check mode too (a
/// typo in a unit name would otherwise pass as "already stopped" for ever; to stop a unit that
/// an earlier operation of the same step creates, stop it in a later step). Masking a unit that
/// does not exist is allowed, as systemd allows it.
///
/// Changes run in this order: daemon-reload, unmask or mask, enable or disable, start, stop or
/// restart, reload (a masked unit cannot be enabled or started, so it is unmasked first).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Service;
/// let mut step = ctx.step();
/// step.add(Service::new("nginx").enabled().running());
/// step.add(Service::new("apache2").disabled().stopped());
/// step.add(Service::new("rpcbind").stopped().masked());
/// step.add(Service::new("app").user("deploy").enabled().running());
/// step.reaction("restart-app", Service::new("app").restarted());
/// step.reaction("reload-nginx", Service::new("nginx").reloaded());
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `systemd_service` (`systemd`): `state=started|stopped|restarted|reloaded` is
/// [`Service::running`], [`Service::stopped`], [`Service::restarted`], [`Service::reloaded`];
/// `enabled` is [`Service::enabled`]/[`Service::disabled`]; `masked` is
/// [`Service::masked`]/[`Service::unmasked`]; `daemon_reload` is [`Service::daemon_reload`];
/// `scope=user` is [`Service::user`]. pyinfra's `systemd.service(name, running=, restarted=,
/// reloaded=, enabled=, daemon_reload=, user_mode=, user_name=)` maps the same way. Differences,
/// on purpose: `daemon_reload` runs when systemd reports that the unit's files changed since it
/// loaded them (`NeedDaemonReload`) or when this operation changes the unit anyway, not on every
/// run as Ansible does, so that a run with nothing to do stays a run with nothing to do (one
/// round trip). A user unit's user gets lingering enabled (`loginctl enable-linger`), where
/// Ansible and pyinfra expect the user's manager to be running already: without lingering a
/// user's services stop at their last logout and do not start at boot, which is never what a
/// server wants.
pub struct Service {
    unit: String,
    enabled: Option<bool>,
    running: Option<bool>,
    masked: Option<bool>,
    restart: bool,
    reload: bool,
    daemon_reload: bool,
    user: Option<String>,
    notify: Vec<String>,
}

impl Service {
    /// The unit `unit` (`nginx` means `nginx.service`).
    pub fn new(unit: &str) -> Service {
        Service {
            unit: unit.to_string(),
            enabled: None,
            running: None,
            masked: None,
            restart: false,
            reload: false,
            daemon_reload: false,
            user: None,
            notify: Vec::new(),
        }
    }

    /// Started at boot.
    pub fn enabled(mut self) -> Service {
        self.enabled = Some(true);
        self
    }

    /// Not started at boot.
    pub fn disabled(mut self) -> Service {
        self.enabled = Some(false);
        self
    }

    /// Running now.
    pub fn running(mut self) -> Service {
        self.running = Some(true);
        self
    }

    /// Not running now.
    pub fn stopped(mut self) -> Service {
        self.running = Some(false);
        self
    }

    /// Restarted every time it is applied (always a change; use it as a reaction).
    pub fn restarted(mut self) -> Service {
        self.restart = true;
        self
    }

    /// Reloaded every time it is applied (always a change; use it as a reaction).
    pub fn reloaded(mut self) -> Service {
        self.reload = true;
        self
    }

    /// Runs `systemctl daemon-reload` first when systemd says the unit's files changed on disk
    /// since it loaded them (even if the unit is otherwise as wanted), and before anything else
    /// this operation changes.
    pub fn daemon_reload(mut self) -> Service {
        self.daemon_reload = true;
        self
    }

    /// Masked: linked to `/dev/null`, so that nothing can start it (not even as another unit's
    /// dependency). Masking does not stop a running unit; add [`Service::stopped`].
    pub fn masked(mut self) -> Service {
        self.masked = Some(true);
        self
    }

    /// Not masked (the unit must exist).
    pub fn unmasked(mut self) -> Service {
        self.masked = Some(false);
        self
    }

    /// A unit of `user`'s own systemd manager (`systemctl --user`, run by root as
    /// `systemctl --user -M USER@`; needs systemd 248 or later, e.g. Debian 12, and
    /// `libpam-systemd`, which standard installs have and minimal images may lack). The user
    /// gets lingering enabled when they do not have it yet (a change): their manager then runs
    /// from boot, without a login, and their services survive their last logout.
    pub fn user(mut self, user: &str) -> Service {
        self.user = Some(user.to_string());
        self
    }

    /// `systemctl` for this operation's manager.
    fn systemctl(&self) -> String {
        match &self.user {
            Some(u) => format!("systemctl --user -M {}", shell_quote(&format!("{u}@"))),
            None => "systemctl".to_string(),
        }
    }
}

notify_builder!(Service);

impl Operation for Service {
    fn name(&self) -> String {
        match &self.user {
            Some(u) => format!("service {} of {u}", self.unit),
            None => format!("service {}", self.unit),
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        let valid = !self.unit.is_empty()
            && self
                .unit
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@:\\".contains(&b));
        if !valid {
            return Err(OpError::invalid(
                &self.name(),
                "not a systemd unit name (letters, digits and -_.@:\\)",
            ));
        }
        if self.enabled.is_none()
            && self.running.is_none()
            && self.masked.is_none()
            && !self.restart
            && !self.reload
        {
            return Err(OpError::invalid(
                &self.name(),
                "says nothing about the service: add .enabled(), .running(), .masked(), .restarted() or another state",
            ));
        }
        if self.masked == Some(true)
            && (self.enabled == Some(true)
                || self.running == Some(true)
                || self.restart
                || self.reload)
        {
            return Err(OpError::invalid(
                &self.name(),
                "a masked unit cannot be enabled, started, restarted or reloaded; drop .masked() or the other state",
            ));
        }
        if let Some(u) = &self.user
            && (u.is_empty()
                || !u
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        {
            return Err(OpError::invalid(
                &self.name(),
                format!("`{u}` is not a user name (letters, digits and -_.)"),
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let show = format!(
            "{} show -p LoadState -p ActiveState -p UnitFileState -p NeedDaemonReload -- {} 2>/dev/null",
            self.systemctl(),
            shell_quote(&self.unit)
        );
        match &self.user {
            None => show,
            // Without the user's manager running there is nothing to show: say so, and
            // whether the user lingers.
            Some(u) => {
                let u = shell_quote(u);
                format!(
                    "if ! id -u -- {u} >/dev/null 2>&1; then echo no_user=1
                     else [ -e /var/lib/systemd/linger/{u} ] && echo linger=1
                     {show} || echo manager=down; fi"
                )
            }
        }
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        if fact.flag("no_user") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "there is no user {} on the host; create it first (ops::User)",
                    self.user.as_deref().unwrap_or_default()
                ),
            ));
        }
        let manager_down = fact.get("manager") == Some("down");
        let load = fact.get("LoadState").unwrap_or("not-found");
        let active = fact.get("ActiveState").unwrap_or("inactive");
        let file_state = fact.get("UnitFileState").unwrap_or("");
        let needs_reload = fact.get("NeedDaemonReload") == Some("yes");
        // A user's manager that is not running shows nothing: whether the unit exists is known
        // only once it runs, so the apply finds out (and fails if it does not).
        // Unmasking alone a unit that does not exist is a typo too; with a start or enable it
        // is a unit an earlier operation of the step is about to create.
        let unmask_only = self.masked == Some(false)
            && self.enabled != Some(true)
            && self.running != Some(true)
            && !self.restart
            && !self.reload;
        if load == "not-found"
            && !manager_down
            && (self.running == Some(false) || self.enabled == Some(false) || unmask_only)
        {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "there is no unit {} on the host, so it cannot be stopped, disabled or unmasked; check the name (`systemctl list-unit-files`)",
                    self.unit
                ),
            ));
        }
        let systemctl = self.systemctl();
        let u = shell_quote(&self.unit);
        let mut words = Vec::new();
        let mut lines = Vec::new();
        if let Some(user) = &self.user
            && !fact.flag("linger")
        {
            words.push(format!("enable lingering for {user}"));
            let q = shell_quote(user);
            // Lingering starts the user's manager; waiting for it makes it ready for the
            // commands below.
            let failed = shell_quote(&format!(
                "the systemd manager of {user} did not start (it needs pam_systemd: \
                 ops::Apt::present([\"libpam-systemd\"]); journalctl -u user@UID shows why)"
            ));
            lines.push(format!(
                "loginctl enable-linger -- {q}\n\
                 systemctl start \"user@$(id -u -- {q}).service\" || {{ echo {failed} >&2; exit 1; }}"
            ));
        }
        match self.masked {
            Some(true) if !matches!(file_state, "masked") => {
                words.push("mask".to_string());
                lines.push(format!("{systemctl} mask --quiet -- {u}"));
            }
            Some(false) if file_state == "masked-runtime" => {
                words.push("unmask".to_string());
                lines.push(format!("{systemctl} unmask --runtime --quiet -- {u}"));
            }
            Some(false) if file_state == "masked" => {
                words.push("unmask".to_string());
                lines.push(format!("{systemctl} unmask --quiet -- {u}"));
            }
            _ => {}
        }
        match self.enabled {
            // Static and generated units cannot be enabled: that is as enabled as they get.
            Some(true)
                if !matches!(
                    file_state,
                    "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
                ) =>
            {
                words.push("enable".to_string());
                lines.push(format!("{systemctl} enable --quiet -- {u}"));
            }
            Some(false) if matches!(file_state, "enabled" | "enabled-runtime") || manager_down => {
                words.push("disable".to_string());
                lines.push(format!("{systemctl} disable --quiet -- {u}"));
            }
            _ => {}
        }
        let is_running = matches!(active, "active" | "activating" | "reloading");
        if self.restart {
            words.push("restart".to_string());
            lines.push(format!("{systemctl} restart -- {u}"));
        } else if self.running == Some(true) && !is_running {
            words.push(format!("start (was {active})"));
            lines.push(format!("{systemctl} start -- {u}"));
        } else if self.running == Some(false) && (is_running || manager_down) {
            // A manager that was down starts its enabled units when lingering starts it.
            words.push("stop".to_string());
            lines.push(format!("{systemctl} stop -- {u}"));
        }
        if self.reload && !self.restart {
            words.push("reload".to_string());
            lines.push(format!("{systemctl} reload -- {u}"));
        }
        if self.daemon_reload && (needs_reload || !words.is_empty()) {
            let at = usize::from(self.user.is_some() && !fact.flag("linger"));
            if needs_reload {
                words.insert(
                    0,
                    "daemon-reload (the unit's files changed on disk)".to_string(),
                );
            }
            lines.insert(at, format!("{systemctl} daemon-reload"));
        }
        if words.is_empty() {
            return Ok(Plan::Ok);
        }
        let mut description = words.join(", ");
        if load == "not-found" && !manager_down {
            description.push_str(" (the unit does not exist yet)");
        }
        if manager_down {
            description.push_str(" (the user's systemd manager is not running yet)");
        }
        Ok(Plan::Change(Change::new(
            description,
            Action::shell(lines.join("\n")),
        )))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(s: &Service, fact: &str) -> Plan {
        s.plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
    }

    const RUNNING: &str = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n";
    const STOPPED: &str = "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n";

    #[test]
    fn enabled_running_service_is_ok() {
        assert!(matches!(
            plan(&Service::new("nginx").enabled().running(), RUNNING),
            Plan::Ok
        ));
    }

    #[test]
    fn stopped_disabled_service_is_enabled_and_started() {
        let Plan::Change(c) = plan(&Service::new("nginx").enabled().running(), STOPPED) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "enable, start (was inactive)");
        assert_eq!(
            c.action.script,
            "systemctl enable --quiet -- nginx\nsystemctl start -- nginx"
        );
    }

    #[test]
    fn stop_and_disable() {
        let Plan::Change(c) = plan(&Service::new("apache2").disabled().stopped(), RUNNING) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "disable, stop");
    }

    #[test]
    fn restart_and_reload_always_change() {
        assert!(matches!(
            plan(&Service::new("nginx").restarted(), RUNNING),
            Plan::Change(_)
        ));
        let Plan::Change(c) = plan(&Service::new("nginx").reloaded(), RUNNING) else {
            panic!("expected a change")
        };
        assert_eq!(c.action.script, "systemctl reload -- nginx");
    }

    #[test]
    fn a_missing_unit_is_planned_and_says_so() {
        let Plan::Change(c) = plan(&Service::new("app").running(), "LoadState=not-found\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "start (was inactive) (the unit does not exist yet)"
        );
    }

    #[test]
    fn static_units_count_as_enabled() {
        let fact = "LoadState=loaded\nActiveState=active\nUnitFileState=static\n";
        assert!(matches!(
            plan(&Service::new("x").enabled().running(), fact),
            Plan::Ok
        ));
    }

    #[test]
    fn an_unknown_unit_cannot_be_stopped_disabled_or_unmasked() {
        for s in [
            Service::new("nginxx").stopped(),
            Service::new("nginxx").disabled(),
            Service::new("nginxx").unmasked(),
        ] {
            let err = s
                .plan(
                    &Fact::parse("LoadState=not-found\nActiveState=inactive\n"),
                    &mut Simulation::new(),
                )
                .expect_err("an unknown unit is an error");
            assert!(err.to_string().contains("there is no unit nginxx"), "{err}");
        }
        // Unmasked and started: the unit is about to be created by an earlier operation.
        let Plan::Change(c) = plan(
            &Service::new("nginxx").unmasked().running(),
            "LoadState=not-found\n",
        ) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "start (was inactive) (the unit does not exist yet)"
        );
        // Masking one is what systemd allows.
        assert!(matches!(
            plan(&Service::new("nginxx").masked(), "LoadState=not-found\n"),
            Plan::Change(_)
        ));
    }

    #[test]
    fn daemon_reload_runs_when_the_units_files_changed_even_if_it_runs() {
        let s = Service::new("app").running().daemon_reload();
        let Plan::Change(c) = plan(&s, &format!("{RUNNING}NeedDaemonReload=yes\n")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "daemon-reload (the unit's files changed on disk)"
        );
        assert_eq!(c.action.script, "systemctl daemon-reload");
        assert!(matches!(
            plan(&s, &format!("{RUNNING}NeedDaemonReload=no\n")),
            Plan::Ok
        ));
        // Before any other change of the operation, as before.
        let Plan::Change(c) = plan(&s, STOPPED) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.action.script,
            "systemctl daemon-reload\nsystemctl start -- app"
        );
    }

    #[test]
    fn mask_and_unmask_come_before_enable_and_start() {
        let Plan::Change(c) = plan(&Service::new("rpcbind").stopped().masked(), RUNNING) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "mask, stop");
        assert_eq!(
            c.action.script,
            "systemctl mask --quiet -- rpcbind\nsystemctl stop -- rpcbind"
        );
        let masked = "LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n";
        assert!(matches!(
            plan(&Service::new("rpcbind").stopped().masked(), masked),
            Plan::Ok
        ));
        let Plan::Change(c) = plan(
            &Service::new("rpcbind").unmasked().enabled().running(),
            masked,
        ) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "unmask, enable, start (was inactive)");
        let mut contradiction = Service::new("x").masked().running();
        assert!(
            contradiction
                .prepare(&super::super::TemplateVars::default())
                .is_err()
        );
    }

    #[test]
    fn user_units_go_through_the_users_manager_and_lingering() {
        let s = Service::new("app").user("deploy").enabled().running();
        assert!(
            s.fact_script(&FactOptions::default())
                .contains("systemctl --user -M deploy@ show")
        );
        let Plan::Change(c) = plan(&s, "manager=down\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "enable lingering for deploy, enable, start (was inactive) (the user's systemd manager is not running yet)"
        );
        assert!(
            c.action
                .script
                .starts_with("loginctl enable-linger -- deploy\n"),
            "{}",
            c.action.script
        );
        assert!(matches!(
            plan(&s, &format!("linger=1\n{RUNNING}")),
            Plan::Ok
        ));
        assert!(
            s.plan(&Fact::parse("no_user=1\n"), &mut Simulation::new())
                .is_err()
        );
    }

    #[test]
    fn a_service_without_a_state_is_refused() {
        let mut s = Service::new("nginx");
        assert!(s.prepare(&super::super::TemplateVars::default()).is_err());
    }
}
