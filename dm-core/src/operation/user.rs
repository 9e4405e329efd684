//! [`User`] and [`Group`]: accounts that exist with the given attributes, or do not exist.

use super::fact::{Fact, FileKind};
use super::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation, notify_builder,
};
use crate::quote::shell_quote;

/// Checks a user or group name the way Debian's `adduser` would accept it.
fn check_name(op: &str, name: &str) -> Result<(), OpError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(OpError::invalid(
            op,
            format!("`{name}` is not a valid account name (letters, digits, - _ .; at most 32)"),
        ))
    }
}

/// A user account.
///
/// Supplementary groups given with [`User::groups`] are added; membership in other groups is
/// left alone. With [`User::groups_exactly`] the account ends in those groups and no others. A
/// new account gets a home directory unless it is a system account; a home path that exists as
/// something other than a directory (a regular file, say) is refused before anything changes.
/// A new account whose name is also an existing group's name gets that group as its primary
/// group, as `useradd -g` would be told (Debian's `useradd` refuses otherwise).
///
/// # Coming from Ansible / pyinfra
///
/// Ansible's `user` module (`name`, `uid`, `group`, `groups` with `append: true` →
/// [`User::groups`], `append: false` → [`User::groups_exactly`], `home`, `shell`, `comment`,
/// `system`, `state: absent`) and pyinfra's `server.user` (`groups` → [`User::groups_exactly`],
/// `append=True` → [`User::groups`]). Ansible's `group` and pyinfra's `server.group` are
/// [`Group`]. Differences on purpose: removing an account keeps its home directory (Ansible's
/// `remove: true` has no equivalent: deleting data is a separate, explicit
/// [`File::absent`](super::File::absent) or command); `move_home` is not offered (a changed home
/// is recorded, the files stay where they are, as `usermod -d` without `-m`); passwords and
/// SSH key generation are not managed here (see [`AuthorizedKey`](super::AuthorizedKey)).
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::{Group, User};
/// let mut step = ctx.step();
/// step.add(Group::new("app").gid(2000));
/// step.add(
///     User::new("app")
///         .uid(2000)
///         .group("app")
///         .groups(["www-data"])
///         .home("/srv/app")
///         .shell("/bin/bash"),
/// );
/// step.add(User::new("olduser").absent());
/// # Ok(()) }
/// ```
pub struct User {
    name: String,
    uid: Option<u32>,
    group: Option<String>,
    groups: Vec<String>,
    groups_exactly: bool,
    home: Option<String>,
    shell: Option<String>,
    comment: Option<String>,
    system: bool,
    absent: bool,
    notify: Vec<String>,
}

impl User {
    /// The account `name`.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            uid: None,
            group: None,
            groups: Vec::new(),
            groups_exactly: false,
            home: None,
            shell: None,
            comment: None,
            system: false,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// Its uid.
    pub fn uid(mut self, uid: u32) -> User {
        self.uid = Some(uid);
        self
    }

    /// Its primary group (must exist; see [`Group`]).
    pub fn group(mut self, group: &str) -> User {
        self.group = Some(group.to_string());
        self
    }

    /// Supplementary groups it is a member of (added to; others are kept).
    pub fn groups<I, S>(mut self, groups: I) -> User
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.groups
            .extend(groups.into_iter().map(|g| g.as_ref().to_string()));
        self
    }

    /// Exactly these supplementary groups: the account is added to the missing ones and removed
    /// from every other (Ansible's `append: false`). Its primary group is not affected. An empty
    /// list removes it from every supplementary group. Later [`User::groups`] calls add to the
    /// list.
    pub fn groups_exactly<I, S>(mut self, groups: I) -> User
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.groups = groups.into_iter().map(|g| g.as_ref().to_string()).collect();
        self.groups_exactly = true;
        self
    }

    /// Its home directory.
    pub fn home(mut self, home: &str) -> User {
        self.home = Some(home.to_string());
        self
    }

    /// Its login shell.
    pub fn shell(mut self, shell: &str) -> User {
        self.shell = Some(shell.to_string());
        self
    }

    /// Its comment (GECOS) field.
    pub fn comment(mut self, comment: &str) -> User {
        self.comment = Some(comment.to_string());
        self
    }

    /// A system account (uid below 1000, no home directory created).
    pub fn system(mut self) -> User {
        self.system = true;
        self
    }

    /// The account does not exist (removed if it does; its home directory is kept).
    pub fn absent(mut self) -> User {
        self.absent = true;
        self
    }
}

notify_builder!(User);

impl User {
    /// The home directory the account will have: the one asked for, or for a new ordinary
    /// account Debian's default (`/home/NAME`, which `useradd -m` creates).
    fn wanted_home(&self) -> Option<String> {
        match &self.home {
            Some(home) => Some(home.clone()),
            None if !self.system => Some(format!("/home/{}", self.name)),
            None => None,
        }
    }

    /// Refuses a home path that exists as something other than a directory (or a link, which
    /// `useradd` and sshd follow): the account would end up without a usable home.
    fn check_home(&self, fact: &Fact, creating: bool) -> Result<(), OpError> {
        if self.home.is_none() && !creating {
            return Ok(());
        }
        let Some(home) = self.wanted_home() else {
            return Ok(());
        };
        let stat = fact.stat("home");
        match stat.kind {
            FileKind::Absent | FileKind::Dir | FileKind::Link => Ok(()),
            kind => Err(OpError::invalid(
                &self.name(),
                format!(
                    "the home directory {home} is {}, not a directory: remove or move it, or give the account another home with .home(..)",
                    kind.word()
                ),
            )),
        }
    }
}

impl Operation for User {
    fn name(&self) -> String {
        format!("user {}", self.name)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_name(&self.name(), &self.name)?;
        for g in self.group.iter().chain(&self.groups) {
            check_name(&self.name(), g)?;
        }
        let fields = [&self.home, &self.shell, &self.comment];
        if fields
            .iter()
            .any(|f| f.as_deref().is_some_and(|v| v.contains([':', '\n'])))
        {
            return Err(OpError::invalid(
                &self.name(),
                "home, shell and comment cannot contain `:` or a newline",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let n = shell_quote(&self.name);
        let account = format!(
            "if dm_e=$(getent passwd {n}); then printf 'passwd=%s\\n' \"$dm_e\"; \
             printf 'group=%s\\n' \"$(id -gn {n})\"; printf 'groups=%s\\n' \"$(id -Gn {n})\"; fi"
        );
        match self.wanted_home() {
            Some(home) if !self.absent => format!("{account}; dm_stat home {}", shell_quote(&home)),
            _ => account,
        }
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::User(self.name.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let n = shell_quote(&self.name);
        let passwd = fact.get("passwd");
        if self.absent {
            return Ok(match passwd {
                None => Plan::Ok,
                Some(_) => Plan::Change(Change::new(
                    "remove the account (its home directory is kept)",
                    Action::shell(format!("userdel -- {n}")),
                )),
            });
        }
        let Some(passwd) = passwd else {
            self.check_home(fact, true)?;
            let mut args = Vec::new();
            let mut details = Vec::new();
            if let Some(uid) = self.uid {
                args.push(format!("-u {uid}"));
                details.push(format!("uid {uid}"));
            }
            if let Some(g) = &self.group {
                args.push(format!("-g {}", shell_quote(g)));
                details.push(format!("group {g}"));
            }
            if !self.groups.is_empty() {
                args.push(format!("-G {}", shell_quote(&self.groups.join(","))));
                details.push(format!("groups {}", self.groups.join(",")));
            }
            if let Some(h) = &self.home {
                args.push(format!("-d {}", shell_quote(h)));
                details.push(format!("home {h}"));
            }
            if let Some(s) = &self.shell {
                args.push(format!("-s {}", shell_quote(s)));
                details.push(format!("shell {s}"));
            }
            if let Some(c) = &self.comment {
                args.push(format!("-c {}", shell_quote(c)));
            }
            args.push(if self.system { "-r -M" } else { "-m" }.to_string());
            let description = if details.is_empty() {
                "create".to_string()
            } else {
                format!("create ({})", details.join(", "))
            };
            let args = args.join(" ");
            // A group of the account's name (made earlier in this step, or by hand) must be
            // named with -g, or Debian's useradd refuses to create the account; it is looked
            // up when the command runs, so a Group created just before counts.
            let script = if self.group.is_some() {
                format!("useradd {args} -- {n}")
            } else {
                format!(
                    "if getent group {n} >/dev/null; then useradd -g {n} {args} -- {n}; else useradd {args} -- {n}; fi"
                )
            };
            return Ok(Plan::Change(Change::new(
                description,
                Action::shell(script),
            )));
        };
        self.check_home(fact, false)?;
        // name:x:uid:gid:gecos:home:shell
        let fields: Vec<&str> = passwd.split(':').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or_default();
        let mut args = Vec::new();
        let mut changes = Vec::new();
        if let Some(uid) = self.uid.filter(|u| field(2) != u.to_string()) {
            changes.push(format!("uid {} → {uid}", field(2)));
            args.push(format!("-u {uid}"));
        }
        if let Some(g) = &self.group {
            let current = fact.get("group").unwrap_or_default();
            if current != g && field(3) != g {
                changes.push(format!("group {current} → {g}"));
                args.push(format!("-g {}", shell_quote(g)));
            }
        }
        let member: Vec<&str> = fact
            .get("groups")
            .unwrap_or_default()
            .split(' ')
            .filter(|g| !g.is_empty())
            .collect();
        let missing: Vec<&str> = self
            .groups
            .iter()
            .map(String::as_str)
            .filter(|g| !member.contains(g))
            .collect();
        if self.groups_exactly {
            // `id -Gn` lists the primary group too; it is not a supplementary membership.
            let primary = fact.get("group").unwrap_or_default();
            let extra: Vec<&str> = member
                .iter()
                .copied()
                .filter(|g| *g != primary && !self.groups.iter().any(|w| w == g))
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                if !missing.is_empty() {
                    changes.push(format!("add to {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    changes.push(format!("remove from {}", extra.join(", ")));
                }
                let mut wanted: Vec<&str> = Vec::new();
                for g in self.groups.iter().map(String::as_str) {
                    if g != primary && !wanted.contains(&g) {
                        wanted.push(g);
                    }
                }
                args.push(format!("-G {}", shell_quote(&wanted.join(","))));
            }
        } else if !missing.is_empty() {
            changes.push(format!("add to {}", missing.join(", ")));
            args.push(format!("-a -G {}", shell_quote(&missing.join(","))));
        }
        for (index, wanted, flag, word) in [
            (5, &self.home, "-d", "home"),
            (6, &self.shell, "-s", "shell"),
            (4, &self.comment, "-c", "comment"),
        ] {
            if let Some(w) = wanted.as_deref().filter(|w| *w != field(index)) {
                changes.push(format!("{word} {} → {w}", field(index)));
                args.push(format!("{flag} {}", shell_quote(w)));
            }
        }
        if args.is_empty() {
            return Ok(Plan::Ok);
        }
        Ok(Plan::Change(Change::new(
            changes.join(", "),
            Action::shell(format!("usermod {} -- {n}", args.join(" "))),
        )))
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

/// A group.
///
/// # Coming from Ansible / pyinfra
///
/// Ansible's `group` module (`name`, `gid`, `system`, `state: absent`) and pyinfra's
/// `server.group` (`present=False` → [`Group::absent`]). Members are set from the account's
/// side, with [`User::groups`] or [`User::groups_exactly`], as in those tools.
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops::Group;
/// let mut step = ctx.step();
/// step.add(Group::new("deployers").gid(2100));
/// step.add(Group::new("legacy").absent());
/// # Ok(()) }
/// ```
pub struct Group {
    name: String,
    gid: Option<u32>,
    system: bool,
    absent: bool,
    notify: Vec<String>,
}

impl Group {
    /// The group `name`.
    pub fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            gid: None,
            system: false,
            absent: false,
            notify: Vec::new(),
        }
    }

    /// Its gid.
    pub fn gid(mut self, gid: u32) -> Group {
        self.gid = Some(gid);
        self
    }

    /// A system group (gid below 1000).
    pub fn system(mut self) -> Group {
        self.system = true;
        self
    }

    /// The group does not exist (removed if it does).
    pub fn absent(mut self) -> Group {
        self.absent = true;
        self
    }
}

notify_builder!(Group);

impl Operation for Group {
    fn name(&self) -> String {
        format!("group {}", self.name)
    }

    fn prepare(&mut self, _vars: &super::TemplateVars) -> Result<(), OpError> {
        check_name(&self.name(), &self.name)
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        format!(
            "if dm_e=$(getent group {}); then printf 'group=%s\\n' \"$dm_e\"; fi",
            shell_quote(&self.name)
        )
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Group(self.name.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let n = shell_quote(&self.name);
        match (fact.get("group"), self.absent) {
            (None, true) => Ok(Plan::Ok),
            (Some(_), true) => Ok(Plan::Change(Change::new(
                "remove",
                Action::shell(format!("groupdel -- {n}")),
            ))),
            (None, false) => {
                let mut args = Vec::new();
                if let Some(gid) = self.gid {
                    args.push(format!("-g {gid}"));
                }
                if self.system {
                    args.push("-r".to_string());
                }
                Ok(Plan::Change(Change::new(
                    match self.gid {
                        Some(gid) => format!("create (gid {gid})"),
                        None => "create".to_string(),
                    },
                    Action::shell(format!("groupadd {} -- {n}", args.join(" "))),
                )))
            }
            (Some(entry), false) => {
                let current = entry.split(':').nth(2).unwrap_or_default();
                match self.gid.filter(|g| current != g.to_string()) {
                    None => Ok(Plan::Ok),
                    Some(gid) => Ok(Plan::Change(Change::new(
                        format!("gid {current} → {gid}"),
                        Action::shell(format!("groupmod -g {gid} -- {n}")),
                    ))),
                }
            }
        }
    }

    fn notifies(&self) -> &[String] {
        &self.notify
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(op: &dyn Operation, fact: &str) -> Plan {
        op.plan(&Fact::parse(fact), &mut Simulation::new())
            .expect("plans")
    }

    fn plan_err(op: &dyn Operation, fact: &str) -> String {
        match op.plan(&Fact::parse(fact), &mut Simulation::new()) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    const APP: &str =
        "passwd=app:x:2000:2000:App:/srv/app:/bin/bash\ngroup=app\ngroups=app www-data\n";

    #[test]
    fn missing_user_is_created_with_its_attributes() {
        let u = User::new("app")
            .uid(2000)
            .group("app")
            .groups(["www-data"])
            .shell("/bin/bash");
        let Plan::Change(c) = plan(&u, "") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.description,
            "create (uid 2000, group app, groups www-data, shell /bin/bash)"
        );
        assert_eq!(
            c.action.script,
            "useradd -u 2000 -g app -G www-data -s /bin/bash -m -- app"
        );
    }

    #[test]
    fn matching_user_is_ok_and_differences_are_modified() {
        let u = User::new("app")
            .uid(2000)
            .group("app")
            .groups(["www-data"])
            .home("/srv/app");
        assert!(matches!(plan(&u, APP), Plan::Ok));
        let u = User::new("app").groups(["sudo"]).shell("/bin/sh");
        let Plan::Change(c) = plan(&u, APP) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "add to sudo, shell /bin/bash → /bin/sh");
        assert_eq!(c.action.script, "usermod -a -G sudo -s /bin/sh -- app");
    }

    #[test]
    fn a_new_user_takes_its_same_named_group_when_it_exists() {
        let Plan::Change(c) = plan(&User::new("app"), "") else {
            panic!("expected a change")
        };
        assert_eq!(
            c.action.script,
            "if getent group app >/dev/null; then useradd -g app -m -- app; else useradd -m -- app; fi"
        );
    }

    #[test]
    fn a_home_that_is_a_file_is_refused() {
        let err = plan_err(&User::new("app"), "home.type=file\n");
        assert!(
            err.contains("/home/app is a file, not a directory"),
            "{err}"
        );
        let err = plan_err(
            &User::new("app").home("/srv/app"),
            &format!("{APP}home.type=file\n"),
        );
        assert!(err.contains("/srv/app is a file"), "{err}");
        assert!(matches!(
            plan(&User::new("app"), "home.type=dir\n"),
            Plan::Change(_)
        ));
        // An existing account's home is not looked at unless one is asked for.
        assert!(matches!(
            plan(&User::new("app"), &format!("{APP}home.type=file\n")),
            Plan::Ok
        ));
    }

    #[test]
    fn groups_exactly_adds_and_removes_supplementary_groups_only() {
        let u = User::new("app").groups_exactly(["sudo", "app"]);
        let Plan::Change(c) = plan(&u, APP) else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "add to sudo, remove from www-data");
        assert_eq!(c.action.script, "usermod -G sudo -- app");
        let u = User::new("app").groups_exactly(["www-data"]);
        assert!(matches!(plan(&u, APP), Plan::Ok));
        let u = User::new("app").groups_exactly(Vec::<String>::new());
        let Plan::Change(c) = plan(&u, APP) else {
            panic!("expected a change")
        };
        assert_eq!(c.action.script, "usermod -G '' -- app");
    }

    #[test]
    fn absent_user_is_removed() {
        let u = User::new("app").absent();
        assert!(matches!(plan(&u, ""), Plan::Ok));
        let Plan::Change(c) = plan(&u, APP) else {
            panic!("expected a change")
        };
        assert_eq!(c.action.script, "userdel -- app");
    }

    #[test]
    fn groups_are_created_and_renumbered() {
        let g = Group::new("app").gid(2000);
        let Plan::Change(c) = plan(&g, "") else {
            panic!("expected a change")
        };
        assert_eq!(c.action.script, "groupadd -g 2000 -- app");
        assert!(matches!(plan(&g, "group=app:x:2000:\n"), Plan::Ok));
        let Plan::Change(c) = plan(&g, "group=app:x:1999:\n") else {
            panic!("expected a change")
        };
        assert_eq!(c.description, "gid 1999 → 2000");
    }

    #[test]
    fn bad_names_are_refused() {
        let mut u = User::new("bad name");
        assert!(u.prepare(&super::super::TemplateVars::default()).is_err());
        let mut u = User::new("ok").shell("/bin/sh:x");
        assert!(u.prepare(&super::super::TemplateVars::default()).is_err());
    }
}
