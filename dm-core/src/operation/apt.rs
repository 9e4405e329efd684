//! [`Apt`]: Debian packages installed, at their latest version, or removed.

use std::time::Duration;

use super::fact::Fact;
use super::{
    Action, AptWork, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation,
    notify_builder,
};
use crate::quote::shell_quote;

/// Touched after every successful `apt-get update` (also by Debian's and Ubuntu's periodic
/// updates): the index files keep the mirror's modification time, so their own age says
/// nothing about when they were last refreshed.
const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";

/// Package lists younger than this are used as they are (default of [`Apt::cache_valid`]).
const DEFAULT_CACHE_VALID: Duration = Duration::from_secs(24 * 3600);

/// What should be true of the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Present,
    Latest,
    Absent,
}

/// Debian packages: installed, installed at the newest version the package lists offer, or
/// removed.
///
/// All packages of an operation are installed in one apt call, and adjacent apt operations of a
/// step share that call. `apt-get update` runs only when the package lists are older than
/// [`Apt::cache_valid`] (default 24 h) or a wanted package is unknown to them; and if an install
/// from lists thought fresh fails (a mirror moved on), the lists are refreshed and it is retried
/// once.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Apt;
/// let mut step = ctx.step();
/// step.add(Apt::present(["nginx", "curl"]));
/// step.add(Apt::latest(["openssl"]).cache_valid(std::time::Duration::from_secs(3600)));
/// step.add(Apt::absent(["telnet"]).purge());
/// # Ok(()) }
/// ```
pub struct Apt {
    packages: Vec<String>,
    state: State,
    cache_valid: Duration,
    purge: bool,
    recommends: bool,
    notify: Vec<String>,
}

impl Apt {
    fn with_state<I, S>(packages: I, state: State) -> Apt
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Apt {
            packages: packages
                .into_iter()
                .map(|p| p.as_ref().to_string())
                .collect(),
            state,
            cache_valid: DEFAULT_CACHE_VALID,
            purge: false,
            recommends: true,
            notify: Vec::new(),
        }
    }

    /// These packages are installed (any version).
    pub fn present<I, S>(packages: I) -> Apt
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Apt::with_state(packages, State::Present)
    }

    /// These packages are installed at the newest version the package lists offer.
    pub fn latest<I, S>(packages: I) -> Apt
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Apt::with_state(packages, State::Latest)
    }

    /// These packages are not installed.
    pub fn absent<I, S>(packages: I) -> Apt
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Apt::with_state(packages, State::Absent)
    }

    /// Package lists older than this are refreshed before installing (default 24 h).
    pub fn cache_valid(mut self, age: Duration) -> Apt {
        self.cache_valid = age;
        self
    }

    /// When removing, remove configuration files too.
    pub fn purge(mut self) -> Apt {
        self.purge = true;
        self
    }

    /// Do not install recommended packages.
    pub fn no_recommends(mut self) -> Apt {
        self.recommends = false;
        self
    }

    /// The package name without an architecture suffix, as dpkg-query prints it.
    fn base(name: &str) -> &str {
        name.split(':').next().unwrap_or(name)
    }
}

notify_builder!(Apt);

/// What the fact says about one package.
#[derive(Debug, Default, Clone)]
struct Pkg {
    installed: Option<String>,
    candidate: Option<String>,
}

fn packages(fact: &Fact) -> std::collections::HashMap<String, Pkg> {
    let mut map: std::collections::HashMap<String, Pkg> = Default::default();
    for line in fact.all("pkg") {
        // `NAME STATUS|VERSION`, STATUS being dpkg's abbreviation, `ii ` when installed.
        let Some((name, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some((status, version)) = rest.split_once('|') else {
            continue;
        };
        if status.starts_with("ii") {
            map.entry(name.to_string()).or_default().installed = Some(version.to_string());
        }
    }
    for line in fact.all("policy") {
        // `NAME INSTALLED CANDIDATE` from apt-cache policy.
        let words: Vec<&str> = line.split(' ').collect();
        if let [name, _, candidate] = words.as_slice()
            && *candidate != "(none)"
        {
            map.entry(Apt::base(name).to_string())
                .or_default()
                .candidate = Some(candidate.to_string());
        }
    }
    map
}

impl Operation for Apt {
    fn name(&self) -> String {
        let list = self.packages.join(", ");
        match self.state {
            State::Present => format!("apt {list}"),
            State::Latest => format!("apt latest {list}"),
            State::Absent => format!("apt absent {list}"),
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        if self.packages.is_empty() {
            return Err(OpError::invalid(&self.name(), "no packages given"));
        }
        for p in &self.packages {
            let valid = p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.:".contains(&b));
            if !valid {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "`{p}` is not a Debian package name (lower-case letters, digits, + - .)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let list: Vec<String> = self.packages.iter().map(|p| shell_quote(p)).collect();
        let list = list.join(" ");
        let n = self.packages.len();
        // Candidates are only needed for packages not installed, or to compare versions.
        let policy_needed = if self.state == State::Latest {
            "true".to_string()
        } else {
            format!("[ \"$dm_installed\" -lt {n} ]")
        };
        format!(
            "dm_now=$(date +%s)\n\
             dm_newest=$(stat -c %Y /var/lib/apt/lists/*_Packages* {STAMP} 2>/dev/null | sort -n | tail -n 1)\n\
             printf 'lists_age=%s\\n' \"$((dm_now - ${{dm_newest:-0}}))\"\n\
             dm_pkgs=$(dpkg-query -W -f='pkg=${{Package}} ${{db:Status-Abbrev}}|${{Version}}\\n' -- {list} 2>/dev/null)\n\
             printf '%s\\n' \"$dm_pkgs\"\n\
             dm_installed=$(printf '%s\\n' \"$dm_pkgs\" | grep -c ' ii |')\n\
             if {policy_needed}; then apt-cache policy -- {list} 2>/dev/null | \
             awk '/^[^ ]/{{p=$1; sub(/:$/, \"\", p)}} /^  Installed:/{{i=$2}} /^  Candidate:/{{print \"policy=\" p \" \" i \" \" $2}}'; fi"
        )
    }

    fn resources(&self) -> Vec<Resource> {
        self.packages
            .iter()
            .map(|p| Resource::Package(Apt::base(p).to_string()))
            .collect()
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let known = packages(fact);
        let get = |p: &str| known.get(Apt::base(p)).cloned().unwrap_or_default();
        let lists_age = fact
            .get("lists_age")
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let stale = lists_age > self.cache_valid.as_secs();
        let mut work = AptWork {
            recommends: self.recommends,
            purge: self.purge,
            ..AptWork::default()
        };
        let mut notes = Vec::new();
        let description = match self.state {
            State::Absent => {
                work.remove = self
                    .packages
                    .iter()
                    .filter(|p| get(p).installed.is_some())
                    .cloned()
                    .collect();
                if work.remove.is_empty() {
                    return Ok(Plan::Ok);
                }
                format!(
                    "{} {}",
                    if self.purge { "purge" } else { "remove" },
                    work.remove.join(", ")
                )
            }
            State::Present | State::Latest => {
                let missing: Vec<String> = self
                    .packages
                    .iter()
                    .filter(|p| get(p).installed.is_none())
                    .cloned()
                    .collect();
                let unknown: Vec<&String> = missing
                    .iter()
                    .filter(|p| get(p).candidate.is_none())
                    .collect();
                let mut upgrade = Vec::new();
                if self.state == State::Latest {
                    for p in &self.packages {
                        let pkg = get(p);
                        if let (Some(i), Some(c)) = (&pkg.installed, &pkg.candidate)
                            && i != c
                        {
                            upgrade.push(format!("{p} {i} → {c}"));
                            work.install.push(p.clone());
                        }
                    }
                    // With stale lists a newer version may exist: refresh and let apt decide.
                    if stale && upgrade.is_empty() && missing.is_empty() {
                        work.update = true;
                        work.install = self.packages.clone();
                        return Ok(Plan::Change(Change::new(
                            format!(
                                "package lists are {}: refresh them and upgrade {} if newer",
                                age(lists_age),
                                self.packages.join(", ")
                            ),
                            apt_action(work),
                        )));
                    }
                }
                if missing.is_empty() && upgrade.is_empty() {
                    return Ok(Plan::Ok);
                }
                if !unknown.is_empty() {
                    work.update = true;
                    notes.push(format!(
                        "refreshing package lists first: {} not in them",
                        unknown
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                } else if stale {
                    work.update = true;
                    notes.push(format!(
                        "refreshing package lists first: they are {}",
                        age(lists_age)
                    ));
                }
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("install {}", missing.join(", ")));
                }
                if !upgrade.is_empty() {
                    parts.push(format!("upgrade {}", upgrade.join(", ")));
                }
                work.install.extend(missing);
                parts.join("; ")
            }
        };
        let description = if notes.is_empty() {
            description
        } else {
            format!("{description} ({})", notes.join("; "))
        };
        Ok(Plan::Change(Change::new(description, apt_action(work))))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

fn apt_action(work: AptWork) -> Action {
    Action {
        script: script(&work),
        input: None,
        apt: Some(work),
    }
}

/// How old the lists are, in words.
fn age(secs: u64) -> String {
    match secs {
        u64::MAX => "missing".to_string(),
        s if s > 1_000_000_000 => "missing".to_string(),
        s if s >= 2 * 86400 => format!("{} days old", s / 86400),
        s if s >= 3600 => format!("{} hours old", s / 3600),
        s => format!("{} minutes old", s / 60),
    }
}

impl AptWork {
    /// Whether `other` can share one apt call with this.
    pub(crate) fn merges_with(&self, other: &AptWork) -> bool {
        self.recommends == other.recommends && self.purge == other.purge
    }

    /// Adds `other`'s packages to this call.
    pub(crate) fn merge(&mut self, other: &AptWork) {
        for p in &other.install {
            if !self.install.contains(p) {
                self.install.push(p.clone());
            }
        }
        for p in &other.remove {
            if !self.remove.contains(p) {
                self.remove.push(p.clone());
            }
        }
        self.update |= other.update;
    }
}

/// The shell fragment doing `work`: one `apt-get install` for every package to install, one
/// `apt-get remove` for every package to remove.
pub(crate) fn script(work: &AptWork) -> String {
    let opts = "-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";
    let mut s = String::from("export DEBIAN_FRONTEND=noninteractive\n");
    // Separate commands, not `&&`: `set -e` ignores failures on the left of `&&`.
    let update = format!("apt-get -q update >&2; mkdir -p /var/lib/apt/periodic; touch {STAMP}");
    if work.update {
        s.push_str(&format!("{update}\n"));
    }
    if !work.install.is_empty() {
        let list: Vec<String> = work.install.iter().map(|p| shell_quote(p)).collect();
        let list = list.join(" ");
        let rec = if work.recommends {
            ""
        } else {
            " --no-install-recommends"
        };
        let install = format!("apt-get {opts}{rec} install -- {list} >&2");
        // Nothing to install after all (e.g. `latest` was already newest): report unchanged.
        // A simulation that fails goes on to the real install, whose error is then shown.
        s.push_str(&format!(
            "if ! dm_sim=$(apt-get -s install -- {list} 2>&1) || printf '%s\\n' \"$dm_sim\" | grep -q '^Inst '; then\n"
        ));
        if work.update {
            s.push_str(&format!("  {install}\n"));
        } else {
            s.push_str(&format!("  {install} || {{ {update}; {install}; }}\n"));
        }
        s.push_str("else dm_unchanged; fi\n");
    }
    if !work.remove.is_empty() {
        let list: Vec<String> = work.remove.iter().map(|p| shell_quote(p)).collect();
        let verb = if work.purge { "purge" } else { "remove" };
        s.push_str(&format!(
            "apt-get {opts} {verb} -- {} >&2\n",
            list.join(" ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(a: &Apt, fact: &str) -> Plan {
        a.plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
    }

    #[test]
    fn installed_packages_are_ok() {
        let a = Apt::present(["jq", "tree"]);
        let fact = "lists_age=100\npkg=jq ii |1.6-2.1\npkg=tree ii |2.1.0-1\n";
        assert!(matches!(plan(&a, fact), Plan::Ok));
    }

    #[test]
    fn missing_packages_install_in_one_call_without_update_when_lists_are_fresh() {
        let a = Apt::present(["jq", "tree"]);
        let fact = "lists_age=100\npkg=jq ii |1.6-2.1\npolicy=tree (none) 2.1.0-1\n";
        let Plan::Change(c) = plan(&a, fact) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "install tree");
        let work = c.action.apt.expect("apt work");
        assert_eq!(work.install, ["tree"]);
        assert!(!work.update);
        assert!(
            c.action.script.contains("|| { apt-get -q update"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn unknown_packages_or_stale_lists_refresh_first() {
        let a = Apt::present(["jq"]);
        let Plan::Change(c) = plan(&a, "lists_age=100\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "install jq (refreshing package lists first: jq not in them)"
        );
        assert!(c.action.apt.as_ref().is_some_and(|w| w.update));
        let Plan::Change(c) = plan(&a, "lists_age=400000\npolicy=jq (none) 1.6\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "install jq (refreshing package lists first: they are 4 days old)"
        );
    }

    #[test]
    fn latest_upgrades_outdated_packages() {
        let a = Apt::latest(["openssl"]);
        let fact = "lists_age=10\npkg=openssl ii |3.0.1\npolicy=openssl 3.0.1 3.0.2\n";
        let Plan::Change(c) = plan(&a, fact) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "upgrade openssl 3.0.1 → 3.0.2");
        let fact = "lists_age=10\npkg=openssl ii |3.0.2\npolicy=openssl 3.0.2 3.0.2\n";
        assert!(matches!(plan(&a, fact), Plan::Ok));
    }

    #[test]
    fn absent_removes_only_installed_packages() {
        let a = Apt::absent(["telnet", "ftp"]).purge();
        let Plan::Change(c) = plan(&a, "pkg=telnet ii |1\npkg=ftp rc |2\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "purge telnet");
        assert!(c.action.script.contains("purge -- telnet"));
    }

    #[test]
    fn adjacent_work_merges_into_one_install() {
        let mut a = AptWork {
            install: vec!["jq".into()],
            recommends: true,
            ..AptWork::default()
        };
        let b = AptWork {
            install: vec!["tree".into(), "jq".into()],
            update: true,
            recommends: true,
            ..AptWork::default()
        };
        assert!(a.merges_with(&b));
        a.merge(&b);
        assert_eq!(a.install, ["jq", "tree"]);
        let s = script(&a);
        assert_eq!(s.matches("install -- jq tree >&2").count(), 1, "{s}");
        assert!(s.contains("apt-get -q update"));
    }

    #[test]
    fn package_names_are_checked() {
        let mut a = Apt::present(["nginx; rm -rf /"]);
        assert!(a.prepare(&super::super::TemplateVars::default()).is_err());
        let mut a = Apt::present(["libc6:amd64", "g++"]);
        assert!(a.prepare(&super::super::TemplateVars::default()).is_ok());
    }

    #[test]
    fn fact_script_runs_without_dpkg() {
        // On a machine without dpkg the script still prints a complete fact.
        let a = Apt::present(["jq"]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(a.fact_script(&FactOptions::default()))
            .output()
            .expect("sh");
        let fact = Fact::parse(&String::from_utf8_lossy(&out.stdout));
        assert!(fact.get("lists_age").is_some());
    }
}
