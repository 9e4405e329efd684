//! [`Sysctl`]: a kernel parameter with a value, now and after reboot.

use super::fact::Fact;
use super::file::File;
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, TemplateVars,
    notify_builder,
};
use crate::quote::shell_quote;

/// A kernel parameter (`sysctl`) set to a value now, and kept across reboots in a file of its
/// own under `/etc/sysctl.d/` (`99-dm-KEY.conf`, or [`Sysctl::file`]).
///
/// Values compare with white space normalised (`"1024 65535"` equals the tab-separated form
/// the kernel prints).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Sysctl;
/// let mut step = ctx.step();
/// step.add(Sysctl::new("net.core.somaxconn", "4096"));
/// step.add(Sysctl::new("vm.swappiness", "10").runtime_only());
/// # Ok(()) }
/// ```
pub struct Sysctl {
    key: String,
    value: String,
    persist: Option<File>,
    notify: Vec<String>,
}

impl Sysctl {
    /// Parameter `key` (e.g. `net.ipv4.ip_forward`) set to `value`.
    pub fn new(key: &str, value: &str) -> Sysctl {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        let file = format!("/etc/sysctl.d/99-dm-{}.conf", key.replace('/', "."));
        Sysctl {
            persist: Some(Sysctl::persist_file(&file, key, &value)),
            key: key.to_string(),
            value,
            notify: Vec::new(),
        }
    }

    fn persist_file(path: &str, key: &str, value: &str) -> File {
        File::bytes(
            path,
            format!("# Managed by dm: kernel parameter {key}.\n{key} = {value}\n"),
        )
        .mode(0o644)
    }

    /// Keeps the setting in `path` instead of `/etc/sysctl.d/99-dm-KEY.conf` (the file holds
    /// only this parameter).
    pub fn file(mut self, path: &str) -> Sysctl {
        self.persist = Some(Sysctl::persist_file(path, &self.key, &self.value));
        self
    }

    /// Sets the running value only; nothing is written for the next boot.
    pub fn runtime_only(mut self) -> Sysctl {
        self.persist = None;
        self
    }
}

notify_builder!(Sysctl);

impl Operation for Sysctl {
    fn name(&self) -> String {
        format!("sysctl {} = {}", self.key, self.value)
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        let valid = !self.key.is_empty()
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        if !valid || self.value.is_empty() || self.value.contains('\n') {
            return Err(OpError::invalid(
                &self.name(),
                "needs a key of letters, digits and . _ - / and a non-empty one-line value",
            ));
        }
        if let Some(f) = &mut self.persist {
            f.prepare(vars)?;
        }
        Ok(())
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        let k = shell_quote(&self.key);
        let mut s = format!(
            "if dm_v=$(sysctl -n -- {k} 2>/dev/null); then printf 'value=%s\\n' \"$(printf '%s' \"$dm_v\" | tr -s '\\t ' '  ')\"; \
             else echo unknown=1; fi"
        );
        if let Some(f) = &self.persist {
            s.push('\n');
            s.push_str(&f.fact_script(options));
        }
        s
    }

    fn resources(&self) -> Vec<Resource> {
        self.persist.iter().flat_map(File::resources).collect()
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        if fact.flag("unknown") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "the kernel has no parameter {} (or it is not writable here)",
                    self.key
                ),
            ));
        }
        let current = fact.get("value").unwrap_or_default();
        let mut words = Vec::new();
        let mut lines = Vec::new();
        let mut diff = None;
        if current != self.value {
            words.push(format!("{current} → {}", self.value));
            lines.push(format!(
                "sysctl -q -w {}",
                shell_quote(&format!("{}={}", self.key, self.value))
            ));
        }
        let mut input = None;
        if let Some(f) = &self.persist
            && let Plan::Change(c) = f.plan(fact, sim)?
        {
            words.push(format!("{}: {}", f.path(), c.description));
            lines.insert(0, c.action.script);
            input = c.action.input;
            diff = c.diff;
        }
        if words.is_empty() {
            return Ok(Plan::Ok);
        }
        Ok(Plan::Change(
            Change::new(
                words.join("; "),
                Action {
                    script: lines.join("\n"),
                    input,
                    apt: None,
                },
            )
            .with_diff(diff),
        ))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::fact::sha256_hex;

    fn prepared(mut s: Sysctl) -> Sysctl {
        s.prepare(&TemplateVars::default()).expect("prepares");
        s
    }

    fn persisted(key: &str, value: &str) -> String {
        let content = format!("# Managed by dm: kernel parameter {key}.\n{key} = {value}\n");
        format!(
            "f.type=file\nf.mode=644\nf.uid=0\nf.user=root\nf.gid=0\nf.group=root\nf.sha256={}\n",
            sha256_hex(content.as_bytes())
        )
    }

    #[test]
    fn set_and_persisted_value_is_ok() {
        let s = prepared(Sysctl::new("net.core.somaxconn", "4096"));
        let fact = format!("value=4096\n{}", persisted("net.core.somaxconn", "4096"));
        assert!(matches!(
            s.plan(&Fact::parse(&fact), &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
    }

    #[test]
    fn a_different_value_is_set_now_and_persisted() {
        let s = prepared(Sysctl::new("net.core.somaxconn", "4096"));
        let Ok(Plan::Change(c)) = s.plan(
            &Fact::parse("value=128\nf.type=absent\n"),
            &mut Simulation::new(),
        ) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "128 → 4096; /etc/sysctl.d/99-dm-net.core.somaxconn.conf: create (80 bytes, mode 0644)"
        );
        assert!(
            c.action
                .script
                .ends_with("sysctl -q -w net.core.somaxconn=4096")
        );
    }

    #[test]
    fn white_space_in_values_is_normalised() {
        let s =
            prepared(Sysctl::new("net.ipv4.ip_local_port_range", "1024\t 65000").runtime_only());
        assert!(matches!(
            s.plan(&Fact::parse("value=1024 65000\n"), &mut Simulation::new()),
            Ok(Plan::Ok)
        ));
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let s = prepared(Sysctl::new("net.nothing", "1"));
        assert!(
            s.plan(&Fact::parse("unknown=1\n"), &mut Simulation::new())
                .is_err()
        );
    }
}
