//! [`Sysctl`]: a kernel parameter with a value, now and after reboot; or no longer persisted.

use super::fact::Fact;
use super::line::Line;
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, TemplateVars,
    notify_builder,
};
use crate::quote::shell_quote;

/// A kernel parameter (`sysctl`) set to a value now and kept across reboots in a sysctl file
/// (by default `/etc/sysctl.d/99-dm-KEY.conf`, or [`Sysctl::file`]); or, with
/// [`Sysctl::absent`], no longer set in that file.
///
/// Only the parameter's own line of the file is edited: other parameters and comments in it are
/// kept, and so are the file's mode and owner (a new file is 0644, root, with its missing
/// directories). A line that already sets the parameter to the value counts whatever its
/// spacing (`key=value`, `key = value`, a leading `-`, `/` as separator); the last line for the
/// key is the one the kernel gets at boot, so that is the one compared and replaced. Values
/// compare with white space normalised (`"1024 65535"` equals the tab-separated form the kernel
/// prints).
///
/// The running value is set first, and the file is written only when the kernel took it: a
/// value the kernel rejects fails the operation with sysctl's message and nothing is persisted.
/// [`Sysctl::absent`] removes the key's lines from the file and leaves the running value alone
/// (the kernel has no "unset"; it keeps the value until reboot).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Sysctl;
/// let mut step = ctx.step();
/// step.add(Sysctl::new("net.core.somaxconn", "4096"));
/// step.add(Sysctl::new("net.ipv4.ip_forward", "1").file("/etc/sysctl.d/60-router.conf"));
/// step.add(Sysctl::new("vm.swappiness", "10").runtime_only());
/// step.add(Sysctl::absent("net.ipv4.tcp_syncookies").file("/etc/sysctl.conf"));
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `ansible.posix.sysctl`: `name` and `value` are [`Sysctl::new`]'s arguments,
/// `sysctl_file` is [`Sysctl::file`], `state=absent` is [`Sysctl::absent`], and
/// `sysctl_set=yes` with `reload=yes` is what dm always does (the running value is compared and
/// set with `sysctl -w`; dm does not reload the whole file, so other keys in it are not applied
/// as a side effect). [`Sysctl::runtime_only`] is `sysctl -w` without a file. pyinfra's
/// `server.sysctl(key, value, persist=True, persist_file=...)` is the same; its default
/// `persist=False` is [`Sysctl::runtime_only`] here. Differences, on purpose: the default file
/// is `/etc/sysctl.d/99-dm-KEY.conf` rather than `/etc/sysctl.conf` (recent Debian has no
/// `/etc/sysctl.conf`, and a file per key sorts after the distribution's own); the value is
/// validated by the kernel before it is persisted, where Ansible writes the file first;
/// `ignoreerrors` is not offered.
pub struct Sysctl {
    key: String,
    /// `None` for [`Sysctl::absent`].
    value: Option<String>,
    /// Where the setting is kept; `None` for [`Sysctl::runtime_only`].
    file: Option<String>,
    /// The edit of the file, made in [`Operation::prepare`].
    line: Option<Line>,
    notify: Vec<String>,
}

impl Sysctl {
    /// Parameter `key` (e.g. `net.ipv4.ip_forward`) set to `value`, now and in its file.
    pub fn new(key: &str, value: &str) -> Sysctl {
        Sysctl {
            key: key.to_string(),
            value: Some(normalise(value)),
            file: Some(format!(
                "/etc/sysctl.d/99-dm-{}.conf",
                key.replace('/', ".")
            )),
            line: None,
            notify: Vec::new(),
        }
    }

    /// Parameter `key` is not set in its file (`/etc/sysctl.d/99-dm-KEY.conf`, or
    /// [`Sysctl::file`]): every line for it is removed, other lines are kept. The running value
    /// is left as it is.
    pub fn absent(key: &str) -> Sysctl {
        Sysctl {
            value: None,
            ..Sysctl::new(key, "")
        }
    }

    /// Keeps the setting in `path` (for example `/etc/sysctl.conf`) instead of
    /// `/etc/sysctl.d/99-dm-KEY.conf`; the file may hold other parameters.
    pub fn file(mut self, path: &str) -> Sysctl {
        self.file = Some(path.to_string());
        self
    }

    /// Sets the running value only; nothing is written for the next boot.
    pub fn runtime_only(mut self) -> Sysctl {
        self.file = None;
        self
    }

    /// The line a sysctl file holds for the wanted value.
    fn wanted_line(&self) -> Option<String> {
        self.value.as_ref().map(|v| format!("{} = {v}", self.key))
    }

    /// A regular expression matching every line of a sysctl file that sets the key, however
    /// it is written (`-` prefix, `.` or `/` separators, any spacing around `=`).
    fn key_pattern(&self) -> String {
        let dotted = regex::escape(&self.key);
        let slashed = regex::escape(&swap_separators(&self.key));
        format!(r"^\s*-?\s*(?:{dotted}|{slashed})\s*=")
    }

    /// Whether `content` (a sysctl file) already gives the key the wanted value in its last
    /// line for the key.
    fn persisted_in(&self, content: &[u8]) -> bool {
        let Some(value) = &self.value else {
            return false;
        };
        let text = String::from_utf8_lossy(content);
        let wanted = canonical_key(&self.key);
        text.lines()
            .rev()
            .find_map(|line| {
                let line = line.trim_start();
                if line.starts_with('#') || line.starts_with(';') {
                    return None;
                }
                let (k, v) = line.strip_prefix('-').unwrap_or(line).split_once('=')?;
                (canonical_key(k.trim()) == wanted).then(|| normalise(v))
            })
            .is_some_and(|v| &v == value)
    }
}

/// `value` with runs of white space made one space, as the kernel's tab-separated values are
/// compared.
fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `net/ipv4/conf/eth0.1/rp_filter` for `net.ipv4.conf.eth0/1.rp_filter`: sysctl's two
/// spellings of a key, `.` and `/` trading places.
fn swap_separators(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// The dotted spelling of a key written either way.
fn canonical_key(key: &str) -> String {
    if key.contains('/') {
        swap_separators(key)
    } else {
        key.to_string()
    }
}

notify_builder!(Sysctl);

impl Operation for Sysctl {
    fn name(&self) -> String {
        match (&self.value, &self.file) {
            (Some(v), _) => format!("sysctl {} = {v}", self.key),
            (None, Some(f)) => format!("sysctl {} absent from {f}", self.key),
            (None, None) => format!("sysctl {} absent", self.key),
        }
    }

    fn prepare(&mut self, vars: &TemplateVars) -> Result<(), OpError> {
        let valid = !self.key.is_empty()
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        let value_ok = self
            .value
            .as_ref()
            .is_none_or(|v| !v.is_empty() && !v.contains('\n'));
        if !valid || !value_ok {
            return Err(OpError::invalid(
                &self.name(),
                "needs a key of letters, digits and . _ - / and a non-empty one-line value",
            ));
        }
        let Some(file) = &self.file else {
            if self.value.is_none() {
                return Err(OpError::invalid(
                    &self.name(),
                    "absent is about a sysctl file; runtime_only() leaves none to remove the key from",
                ));
            }
            return Ok(());
        };
        let mut line = match self.wanted_line() {
            Some(wanted) => Line::present(file, &wanted)
                .matching(&self.key_pattern())
                .create(),
            None => Line::absent(file, &self.key_pattern()),
        };
        line.prepare(vars)?;
        self.line = Some(line);
        Ok(())
    }

    fn fact_script(&self, options: &FactOptions) -> String {
        let k = shell_quote(&self.key);
        let mut s = String::new();
        if self.value.is_some() {
            s.push_str(&format!(
                "if dm_v=$(sysctl -n -- {k} 2>/dev/null); then printf 'value=%s\\n' \"$(printf '%s' \"$dm_v\" | tr -s '\\t ' '  ')\"; \
                 else echo unknown=1; fi\n"
            ));
        }
        if let Some(line) = &self.line {
            s.push_str(&line.fact_script(options));
        }
        s
    }

    fn resources(&self) -> Vec<Resource> {
        self.line.iter().flat_map(Line::resources).collect()
    }

    fn follows_predictions(&self) -> bool {
        true
    }

    fn plan(&self, fact: &Fact, sim: &mut Simulation) -> Result<Plan, OpError> {
        let mut words = Vec::new();
        let mut lines = Vec::new();
        if let Some(value) = &self.value {
            if fact.flag("unknown") {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "the kernel has no parameter {} (or it is not readable here); check the name with `sysctl -a`",
                        self.key
                    ),
                ));
            }
            let current = fact.get("value").unwrap_or_default();
            if current != value {
                words.push(format!("{current} → {value}"));
                // First, so that a value the kernel refuses stops the action (`set -e`)
                // before it is written to the file.
                lines.push(format!(
                    "sysctl -q -w {}",
                    shell_quote(&format!("{}={value}", self.key))
                ));
            }
        }
        let mut input = None;
        let mut diff = None;
        if let (Some(line), Some(file)) = (&self.line, &self.file) {
            let content = sim
                .content(file)
                .map(<[u8]>::to_vec)
                .or_else(|| fact.bytes("content").map(<[u8]>::to_vec));
            let persisted = content.as_deref().is_some_and(|c| self.persisted_in(c));
            if !persisted && let Plan::Change(c) = line.plan(fact, sim)? {
                words.push(format!("{file}: {}", c.description));
                lines.push(c.action.script);
                input = c.action.input;
                diff = c.diff;
            }
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

    /// The fact of a sysctl file holding `content`, with the running value `value`.
    fn fact(value: &str, content: Option<&str>) -> Fact {
        let mut f = format!("value={value}\n");
        match content {
            Some(c) => f.push_str(&format!(
                "f.type=file\nf.mode=644\nf.uid=0\nf.user=root\nf.gid=0\nf.group=root\nf.sha256={}\ncontent:b64={}\n",
                sha256_hex(c.as_bytes()),
                crate::operation::fact::tests_support::base64(c.as_bytes())
            )),
            None => f.push_str("f.type=absent\n"),
        }
        Fact::parse(&f)
    }

    fn plan(s: &Sysctl, fact: &Fact) -> Plan {
        s.plan(fact, &mut Simulation::new()).expect("plans")
    }

    #[test]
    fn set_and_persisted_value_is_ok_however_the_line_is_spaced() {
        let s = prepared(Sysctl::new("net.core.somaxconn", "4096"));
        for line in [
            "net.core.somaxconn = 4096",
            "net.core.somaxconn=4096",
            "  -net/core/somaxconn\t=  4096  ",
            "# Managed by dm: kernel parameter net.core.somaxconn.\nnet.core.somaxconn = 4096",
        ] {
            let content = format!("{line}\n");
            assert!(
                matches!(plan(&s, &fact("4096", Some(&content))), Plan::Ok),
                "{line}"
            );
        }
    }

    #[test]
    fn a_different_value_is_set_now_then_persisted_keeping_the_other_keys() {
        let s = prepared(Sysctl::new("net.ipv4.ip_forward", "1").file("/etc/sysctl.conf"));
        let content = "# router\nnet.ipv4.ip_forward=0\nvm.swappiness = 10\n";
        let Plan::Change(c) = plan(&s, &fact("0", Some(content))) else {
            panic!("expected a change")
        };
        assert!(
            c.description.starts_with("0 → 1; /etc/sysctl.conf: "),
            "{}",
            c.description
        );
        assert!(
            c.action
                .script
                .starts_with("sysctl -q -w net.ipv4.ip_forward=1\n"),
            "the kernel is asked first: {}",
            c.action.script
        );
        let Some(super::super::Input::Bytes(new)) = c.action.input else {
            panic!("the file's new content travels as input")
        };
        assert_eq!(
            String::from_utf8_lossy(&new),
            "# router\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n"
        );
    }

    #[test]
    fn the_last_line_for_the_key_decides() {
        let s = prepared(Sysctl::new("net.ipv4.ip_forward", "1"));
        let content = "net.ipv4.ip_forward = 1\nnet.ipv4.ip_forward = 0\n";
        assert!(matches!(
            plan(&s, &fact("1", Some(content))),
            Plan::Change(_)
        ));
        let content = "net.ipv4.ip_forward = 0\nnet.ipv4.ip_forward = 1\n";
        assert!(matches!(plan(&s, &fact("1", Some(content))), Plan::Ok));
    }

    #[test]
    fn a_missing_file_is_created_with_the_line() {
        let s = prepared(Sysctl::new("net.core.somaxconn", "4096"));
        let Plan::Change(c) = plan(&s, &fact("4096", None)) else {
            panic!("expected a change")
        };
        assert!(
            c.description
                .starts_with("/etc/sysctl.d/99-dm-net.core.somaxconn.conf: append"),
            "{}",
            c.description
        );
        assert!(!c.action.script.contains("sysctl -q -w"));
    }

    #[test]
    fn absent_removes_only_the_keys_lines_and_never_reads_the_kernel() {
        let s = prepared(Sysctl::absent("net.ipv4.ip_forward").file("/etc/sysctl.conf"));
        assert!(!s.fact_script(&FactOptions::default()).contains("sysctl -n"));
        let content = "net.ipv4.ip_forward=1\nvm.swappiness = 10\n-net/ipv4/ip_forward = 1\n";
        let Plan::Change(c) = plan(&s, &fact("", Some(content))) else {
            panic!("expected a change")
        };
        let Some(super::super::Input::Bytes(new)) = c.action.input else {
            panic!("the file's new content travels as input")
        };
        assert_eq!(String::from_utf8_lossy(&new), "vm.swappiness = 10\n");
        assert!(matches!(
            plan(&s, &fact("", Some("vm.swappiness = 10\n"))),
            Plan::Ok
        ));
        assert!(matches!(plan(&s, &fact("", None)), Plan::Ok));
    }

    #[test]
    fn white_space_in_values_is_normalised() {
        let s =
            prepared(Sysctl::new("net.ipv4.ip_local_port_range", "1024\t 65000").runtime_only());
        assert!(matches!(
            plan(&s, &Fact::parse("value=1024 65000\n")),
            Plan::Ok
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
