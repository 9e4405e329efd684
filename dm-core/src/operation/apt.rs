//! [`Apt`]: Debian packages installed (at any version, a pinned one, or the newest), or removed;
//! the package lists refreshed.

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
    /// Only the package lists, refreshed.
    Update,
}

/// Debian packages: installed, installed at a pinned version, installed at the newest version the
/// package lists offer, or removed; or only the package lists refreshed ([`Apt::update`]).
///
/// All packages of an operation are installed in one apt call, and adjacent apt operations of a
/// step share that call. `apt-get update` runs only when the package lists are older than
/// [`Apt::cache_valid`] (default 24 h) or a wanted package (or pinned version) is unknown to
/// them; and if an install from lists thought fresh fails (a mirror moved on), the lists are
/// refreshed and it is retried once.
///
/// A package written `name=VERSION` is pinned: it is installed at exactly that version (upgraded
/// or downgraded to it), and a host with that version installed is left alone. The version may
/// be a glob as in apt (`nginx=1.22*`): an installed version it matches is kept, otherwise the
/// newest version in the lists that matches it is installed. A version the fresh lists do not
/// have is an error before anything changes, naming the versions they have.
///
/// [`Apt::latest`] compares the installed version with the candidate that `apt-cache policy`
/// reports (the version apt would install, after pins and priorities): a package whose installed
/// version is the candidate is left alone. When the lists are older than [`Apt::cache_valid`],
/// they are refreshed first and apt decides whether there is a newer version (the change is then
/// reported only if apt had something to do).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Apt;
/// let mut step = ctx.step();
/// step.add(Apt::update().cache_valid(std::time::Duration::from_secs(3600)));
/// step.add(Apt::present(["nginx", "curl"]));
/// step.add(Apt::present(["postgresql-15=15.8-0+deb12u1", "redis-server=5:7.0*"]));
/// step.add(Apt::latest(["openssl"]).cache_valid(std::time::Duration::from_secs(3600)));
/// step.add(Apt::absent(["telnet"]).purge());
/// # Ok(()) }
/// ```
///
/// # Coming from Ansible / pyinfra
/// Ansible's `apt`: `name` is the list of packages, `state=present|latest|absent` is
/// [`Apt::present`]/[`Apt::latest`]/[`Apt::absent`], `name=foo=1.2-3` and `name=foo=1.2*` pin
/// versions the same way here, `update_cache: true` with `cache_valid_time` is
/// [`Apt::update`] with [`Apt::cache_valid`] (and every install refreshes stale lists by
/// itself), `purge` is [`Apt::purge`], `install_recommends: false` is [`Apt::no_recommends`].
/// pyinfra's `apt.packages(packages, present=, latest=, update=, cache_time=, no_recommends=)`
/// and `apt.update(cache_time=)` map the same way. Differences, on purpose: a pinned version
/// lower than the installed one is installed (apt's `--allow-downgrades`) without Ansible's
/// `allow_downgrade` flag, because the pin already says which version is wanted; pins with
/// `latest` or `absent`, comparisons such as `foo>=1.2`, `upgrade=dist`, `autoremove`, `deb=`
/// and `default_release` are not offered (run apt through [`Command`](super::Command) for
/// those).
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

    /// The package lists are refreshed (`apt-get update`): on every run, or with
    /// [`Apt::cache_valid`] only when they are older than that. Adjacent apt operations of the
    /// step share the refresh.
    pub fn update() -> Apt {
        Apt {
            cache_valid: Duration::ZERO,
            ..Apt::with_state(Vec::<String>::new(), State::Update)
        }
    }

    /// Package lists older than this are refreshed before installing (default 24 h; for
    /// [`Apt::update`], lists younger than this are left as they are).
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

    /// The package name without a pinned version or an architecture suffix, as dpkg-query
    /// prints it.
    fn base(name: &str) -> &str {
        let name = Apt::query_name(name);
        name.split(':').next().unwrap_or(name)
    }

    /// The package as dpkg-query and apt-cache take it: without a pinned version.
    fn query_name(package: &str) -> &str {
        package.split('=').next().unwrap_or(package)
    }

    /// The pinned version (or version glob) of `name=VERSION`.
    fn pin(package: &str) -> Option<&str> {
        package.split_once('=').map(|(_, v)| v)
    }
}

/// Whether `version` matches `pattern`, a version or a glob with `*` and `?` as apt takes
/// them.
fn version_matches(pattern: &str, version: &str) -> bool {
    fn at(p: &[u8], v: &[u8]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some((b'*', rest)) => (0..=v.len()).any(|i| at(rest, &v[i..])),
            Some((b'?', rest)) => !v.is_empty() && at(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && at(rest, &v[1..]),
        }
    }
    at(pattern.as_bytes(), version.as_bytes())
}

notify_builder!(Apt);

/// What the fact says about one package.
#[derive(Debug, Default, Clone)]
struct Pkg {
    installed: Option<String>,
    candidate: Option<String>,
    /// Versions in the package lists, newest first (only for pinned packages).
    available: Vec<String>,
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
    for line in fact.all("avail") {
        // `NAME VERSION` from apt-cache madison, newest first.
        if let Some((name, version)) = line.split_once(' ') {
            map.entry(Apt::base(name).to_string())
                .or_default()
                .available
                .push(version.to_string());
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
            State::Update => "apt update".to_string(),
        }
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        if self.packages.is_empty() && self.state != State::Update {
            return Err(OpError::invalid(&self.name(), "no packages given"));
        }
        for p in &self.packages {
            let name = Apt::query_name(p);
            let valid = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.:".contains(&b));
            if !valid {
                let hint = if p.contains(['<', '>']) {
                    "; dm pins a version or a glob (`name=1.2-3`, `name=1.2*`), not a comparison"
                } else {
                    ""
                };
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "`{p}` is not a Debian package name (lower-case letters, digits, + - .){hint}"
                    ),
                ));
            }
            let Some(version) = Apt::pin(p) else {
                continue;
            };
            let valid = version
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'*')
                && version
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".+-:~*?".contains(&b));
            if !valid {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "`{p}`: `{version}` is not a Debian version or version glob (letters, digits, . + - : ~ and * ?)"
                    ),
                ));
            }
            if self.state != State::Present {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "`{p}`: a pinned version is for Apt::present (latest takes the newest, absent removes any version)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let list: Vec<String> = self
            .packages
            .iter()
            .map(|p| shell_quote(Apt::query_name(p)))
            .collect();
        let list = list.join(" ");
        let lists_age = format!(
            "dm_now=$(date +%s)\n\
             dm_newest=$(stat -c %Y /var/lib/apt/lists/*_Packages* {STAMP} 2>/dev/null | sort -n | tail -n 1)\n\
             printf 'lists_age=%s\\n' \"$((dm_now - ${{dm_newest:-0}}))\""
        );
        if self.state == State::Update {
            return lists_age;
        }
        // The versions the lists have, for pinned packages.
        let pinned: Vec<String> = self
            .packages
            .iter()
            .filter(|p| Apt::pin(p).is_some())
            .map(|p| shell_quote(Apt::query_name(p)))
            .collect();
        let madison = if pinned.is_empty() {
            String::new()
        } else {
            format!(
                "\napt-cache madison -- {} 2>/dev/null | \
                 awk -F'|' '$3 ~ /Packages/ {{gsub(/ /, \"\", $1); gsub(/ /, \"\", $2); print \"avail=\" $1 \" \" $2}}'",
                pinned.join(" ")
            )
        };
        let n = self.packages.len();
        // Candidates are only needed for packages not installed, or to compare versions.
        let policy_needed = if self.state == State::Latest {
            "true".to_string()
        } else {
            format!("[ \"$dm_installed\" -lt {n} ]")
        };
        format!(
            "{lists_age}\n\
             dm_pkgs=$(dpkg-query -W -f='pkg=${{Package}} ${{db:Status-Abbrev}}|${{Version}}\\n' -- {list} 2>/dev/null)\n\
             printf '%s\\n' \"$dm_pkgs\"\n\
             dm_installed=$(printf '%s\\n' \"$dm_pkgs\" | grep -c ' ii |')\n\
             if {policy_needed}; then apt-cache policy -- {list} 2>/dev/null | \
             awk '/^[^ ]/{{p=$1; sub(/:$/, \"\", p)}} /^  Installed:/{{i=$2}} /^  Candidate:/{{print \"policy=\" p \" \" i \" \" $2}}'; fi{madison}"
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
            State::Update => {
                if !stale {
                    return Ok(Plan::Ok);
                }
                work.update = true;
                work.refresh = true;
                let why = if self.cache_valid.is_zero() {
                    String::new()
                } else {
                    format!(" (they are {})", age(lists_age))
                };
                return Ok(Plan::Change(Change::new(
                    format!("refresh the package lists{why}"),
                    apt_action(work),
                )));
            }
            State::Present | State::Latest => {
                // What to install (`name` or `name=VERSION`), what the lists do not have, and
                // installed packages that must change to their pinned version.
                let mut missing: Vec<String> = Vec::new();
                let mut unknown: Vec<String> = Vec::new();
                let mut repin = Vec::new();
                for p in &self.packages {
                    let pkg = get(p);
                    let Some(pattern) = Apt::pin(p) else {
                        if pkg.installed.is_none() {
                            if pkg.candidate.is_none() {
                                unknown.push(p.clone());
                            }
                            missing.push(p.clone());
                        }
                        continue;
                    };
                    if pkg
                        .installed
                        .as_deref()
                        .is_some_and(|i| version_matches(pattern, i))
                    {
                        continue;
                    }
                    let name = Apt::query_name(p);
                    let version = match pkg.available.iter().find(|v| version_matches(pattern, v)) {
                        Some(v) => v.clone(),
                        // The lists may be behind the mirror: refresh them and let apt say.
                        None if stale => {
                            unknown.push(p.clone());
                            pattern.to_string()
                        }
                        None => {
                            let have = if pkg.available.is_empty() {
                                "none".to_string()
                            } else {
                                pkg.available.join(", ")
                            };
                            return Err(OpError::invalid(
                                &self.name(),
                                format!(
                                    "the package lists have no version of {name} matching `{pattern}` (they have: {have}); check the version with `apt-cache madison {name}`"
                                ),
                            ));
                        }
                    };
                    let spec = format!("{name}={version}");
                    match &pkg.installed {
                        Some(i) => {
                            repin.push(format!("{name} {i} → {version}"));
                            work.install.push(spec);
                        }
                        None => missing.push(spec),
                    }
                }
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
                if missing.is_empty() && upgrade.is_empty() && repin.is_empty() {
                    return Ok(Plan::Ok);
                }
                if !unknown.is_empty() {
                    work.update = true;
                    notes.push(format!(
                        "refreshing package lists first: {} not in them",
                        unknown.join(", ")
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
                if !repin.is_empty() {
                    parts.push(format!("pin {}", repin.join(", ")));
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
        self.refresh |= other.refresh;
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
        // A pinned version below the installed one is what the pin asks for.
        let rec = if work.install.iter().any(|p| p.contains('=')) {
            format!("{rec} --allow-downgrades")
        } else {
            rec.to_string()
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
        if work.refresh {
            s.push_str("fi\n");
        } else {
            s.push_str("else dm_unchanged; fi\n");
        }
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
    fn pinned_versions_are_kept_installed_or_changed_to() {
        let a = Apt::present(["tree=2.1.0-1", "jq=1.6*"]);
        let ok = "lists_age=10\npkg=tree ii |2.1.0-1\npkg=jq ii |1.6-2.1+deb12u2\n";
        assert!(matches!(plan(&a, ok), Plan::Ok));
        let fact = "lists_age=10\npkg=tree ii |2.2-1\n\
                    policy=jq (none) 1.7-1\navail=jq 1.7-1\navail=jq 1.6-2.1+deb12u3\n\
                    avail=jq 1.6-2.1+deb12u2\navail=tree 2.2-1\navail=tree 2.1.0-1\n";
        let Plan::Change(c) = plan(&a, fact) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "install jq=1.6-2.1+deb12u3; pin tree 2.2-1 → 2.1.0-1"
        );
        let work = c.action.apt.as_ref().expect("apt work");
        assert_eq!(work.install, ["tree=2.1.0-1", "jq=1.6-2.1+deb12u3"]);
        assert!(!work.update);
        assert!(
            c.action
                .script
                .contains("--allow-downgrades install -- tree=2.1.0-1 jq=1.6-2.1+deb12u3"),
            "{}",
            c.action.script
        );
    }

    #[test]
    fn a_pinned_version_the_lists_lack_refreshes_stale_lists_and_is_an_error_with_fresh_ones() {
        let a = Apt::present(["tree=9.9"]);
        let fact = "policy=tree (none) 2.1.0-1\navail=tree 2.1.0-1\n";
        let err = a
            .plan(
                &Fact::parse(&format!("lists_age=10\n{fact}")),
                &mut Simulation::new(),
            )
            .expect_err("no such version");
        assert!(
            err.to_string()
                .contains("no version of tree matching `9.9` (they have: 2.1.0-1)"),
            "{err}"
        );
        let Plan::Change(c) = plan(&a, &format!("lists_age=400000\n{fact}")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "install tree=9.9 (refreshing package lists first: tree=9.9 not in them)"
        );
    }

    #[test]
    fn pins_are_checked() {
        let vars = super::super::TemplateVars::default();
        assert!(
            Apt::present(["libc6:amd64=2.36-9", "redis-server=5:7.0*"])
                .prepare(&vars)
                .is_ok()
        );
        for bad in [
            Apt::present(["nginx>=1.2"]),
            Apt::present(["nginx=1.2;rm"]),
            Apt::present(["nginx="]),
            Apt::latest(["nginx=1.2"]),
            Apt::absent(["nginx=1.2"]),
        ] {
            let mut bad = bad;
            assert!(bad.prepare(&vars).is_err(), "{}", bad.name());
        }
        assert!(version_matches("1.6*", "1.6-2.1"));
        assert!(version_matches("1.?-1", "1.6-1"));
        assert!(!version_matches("1.6", "1.6-1"));
    }

    #[test]
    fn update_refreshes_every_time_or_when_older_than_cache_valid() {
        let mut a = Apt::update();
        assert!(a.prepare(&super::super::TemplateVars::default()).is_ok());
        let Plan::Change(c) = plan(&a, "lists_age=5\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "refresh the package lists");
        assert!(c.action.script.contains("apt-get -q update"));
        // Merged with a neighbour whose install finds nothing, the refresh still counts.
        let mut merged = c.action.apt.clone().expect("apt work");
        merged.merge(&AptWork {
            install: vec!["jq".into()],
            recommends: true,
            ..AptWork::default()
        });
        assert!(
            !script(&merged).contains("dm_unchanged"),
            "{}",
            script(&merged)
        );
        let a = Apt::update().cache_valid(Duration::from_secs(3600));
        assert!(matches!(plan(&a, "lists_age=5\n"), Plan::Ok));
        let Plan::Change(c) = plan(&a, "lists_age=7200\n") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "refresh the package lists (they are 2 hours old)"
        );
        assert!(
            !a.fact_script(&FactOptions::default())
                .contains("dpkg-query"),
            "the lists' age is all it reads"
        );
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
