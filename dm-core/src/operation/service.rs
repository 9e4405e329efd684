//! [`Service`]: a systemd unit enabled or disabled, running or stopped, restarted or reloaded.

use super::fact::Fact;
use super::{Action, Change, FactOptions, OpError, Operation, Plan, Simulation, notify_builder};
use crate::quote::shell_quote;

/// A systemd service (or any unit): enabled at boot or not, running or stopped; or restarted or
/// reloaded every time (as a reaction, typically).
///
/// A unit file written by [`File`](super::File) in the same step is picked up: changing a file
/// in a systemd unit directory runs `systemctl daemon-reload`. A unit not found when the facts are
/// read (its package is installed earlier in the same step) is planned as a change and must
/// exist when applied.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Service;
/// let mut step = ctx.step();
/// step.add(Service::new("nginx").enabled().running());
/// step.add(Service::new("apache2").disabled().stopped());
/// step.reaction("restart-app", Service::new("app").restarted());
/// step.reaction("reload-nginx", Service::new("nginx").reloaded());
/// # Ok(()) }
/// ```
pub struct Service {
    unit: String,
    enabled: Option<bool>,
    running: Option<bool>,
    restart: bool,
    reload: bool,
    daemon_reload: bool,
    notify: Vec<String>,
}

impl Service {
    /// The unit `unit` (`nginx` means `nginx.service`).
    pub fn new(unit: &str) -> Service {
        Service {
            unit: unit.to_string(),
            enabled: None,
            running: None,
            restart: false,
            reload: false,
            daemon_reload: false,
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

    /// Runs `systemctl daemon-reload` before anything else this operation does.
    pub fn daemon_reload(mut self) -> Service {
        self.daemon_reload = true;
        self
    }
}

notify_builder!(Service);

impl Operation for Service {
    fn name(&self) -> String {
        format!("service {}", self.unit)
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
        if self.enabled.is_none() && self.running.is_none() && !self.restart && !self.reload {
            return Err(OpError::invalid(
                &self.name(),
                "says nothing about the service: add .enabled(), .running(), .restarted() or another state",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        format!(
            "systemctl show -p LoadState -p ActiveState -p UnitFileState -- {} 2>/dev/null",
            shell_quote(&self.unit)
        )
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let load = fact.get("LoadState").unwrap_or("not-found");
        let active = fact.get("ActiveState").unwrap_or("inactive");
        let file_state = fact.get("UnitFileState").unwrap_or("");
        let u = shell_quote(&self.unit);
        let mut words = Vec::new();
        let mut lines = Vec::new();
        if self.daemon_reload {
            lines.push("systemctl daemon-reload".to_string());
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
                lines.push(format!("systemctl enable --quiet -- {u}"));
            }
            Some(false) if matches!(file_state, "enabled" | "enabled-runtime") => {
                words.push("disable".to_string());
                lines.push(format!("systemctl disable --quiet -- {u}"));
            }
            _ => {}
        }
        let is_running = matches!(active, "active" | "activating" | "reloading");
        if self.restart {
            words.push("restart".to_string());
            lines.push(format!("systemctl restart -- {u}"));
        } else if self.running == Some(true) && !is_running {
            words.push(format!("start (was {active})"));
            lines.push(format!("systemctl start -- {u}"));
        } else if self.running == Some(false) && is_running {
            words.push("stop".to_string());
            lines.push(format!("systemctl stop -- {u}"));
        }
        if self.reload && !self.restart {
            words.push("reload".to_string());
            lines.push(format!("systemctl reload -- {u}"));
        }
        if words.is_empty() {
            return Ok(Plan::Ok);
        }
        let mut description = words.join(", ");
        if load == "not-found" {
            description.push_str(" (the unit does not exist yet)");
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
    fn a_service_without_a_state_is_refused() {
        let mut s = Service::new("nginx");
        assert!(s.prepare(&super::super::TemplateVars::default()).is_err());
    }
}
