//! The deploy lock: one deploy or rollback at a time per app and host.
//!
//! The lock is a directory, `<app.path>/.deploy-lock`, made with `mkdir` (atomic: of two
//! concurrent deploys exactly one succeeds). Its `info` file says who holds it, since when, and
//! carries a token so that only the holder removes it. A deploy that dies without unlocking
//! leaves it behind: when its holder was a dm process on this same machine (same boot) that has
//! ended, the next deploy clears it; otherwise the refusal says it may be stale and that
//! `deploy-unlock` breaks it.
//!
//! A load balancer that runs no app has a deploy lock too, under `/var/lib/dm/deploy-lock/`
//! ([`lock_dir`]): every run that changes its configuration holds it — a deploy taking app nodes
//! out of its upstream, `scale`, its `launch`, `maintenance on|off` (see `lock_set`) —
//! so that no two of them edit it at once.

use dm_core::host::Host;
use dm_core::{Ctx, shell_quote};

use super::release::{now_unix, utc_time};
use crate::app::AppConfig;

/// The deploy lock directory of `app` on `host`: `app.path/.deploy-lock` on an app node; on a
/// server that runs no app (a load balancer), `/var/lib/dm/deploy-lock/<app.name>`, so that
/// locking it does not make an app directory there.
pub fn lock_dir(host: &Host, app: &AppConfig) -> String {
    if crate::roles::plays(host, "appnode") {
        app.lock_dir()
    } else {
        format!("/var/lib/dm/deploy-lock/{}", app.name)
    }
}

/// Who holds a deploy lock, as written in its `info` file (`key=value` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// `user@machine` of the controller that took it.
    pub owner: String,
    /// The task that took it (`deploy`, `rollback`, `restart-app`, `scale`, `launch`,
    /// `maintenance on`).
    pub task: String,
    /// Process id of dm on that controller.
    pub pid: u32,
    /// When it was taken, in Unix seconds.
    pub since: u64,
    /// Unique per acquisition: only the holder releases it.
    pub token: String,
    /// The controller's boot id (`/proc/sys/kernel/random/boot_id`) when it was taken: with
    /// the pid, tells a dm process that has ended from one still running (empty: unknown).
    pub boot_id: String,
    /// When that dm process started, in clock ticks since boot (`/proc/PID/stat`), so that a
    /// pid reused by another process is not mistaken for the holder (0: unknown).
    pub pid_start: u64,
}

/// Whether the dm process holding a lock still runs, as far as this machine can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// It runs on this machine.
    Running,
    /// It ran on this machine, in this boot, and has ended: the lock is stale.
    Ended(String),
    /// It ran elsewhere (or before a reboot, or its info is older): dm cannot tell.
    Unknown(String),
}

impl LockInfo {
    /// The lock this process takes now for `task`.
    pub fn for_this_process(task: &str, host: &str) -> LockInfo {
        let since = now_unix();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        LockInfo {
            owner: format!("{}@{}", this_user(), this_machine()),
            task: task.to_string(),
            pid,
            since,
            token: format!("{pid}-{since}-{nanos}-{host}"),
            boot_id: this_boot_id(),
            pid_start: process_start(pid).unwrap_or(0),
        }
    }

    /// The `info` file's text.
    pub fn render(&self) -> String {
        format!(
            "owner={}\ntask={}\npid={}\nsince={}\ntoken={}\nboot_id={}\npid_start={}\n",
            one_line(&self.owner),
            one_line(&self.task),
            self.pid,
            self.since,
            one_line(&self.token),
            one_line(&self.boot_id),
            self.pid_start
        )
    }

    /// Reads an `info` file; `None` when it says nothing usable (being written, or foreign).
    pub fn parse(text: &str) -> Option<LockInfo> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        };
        Some(LockInfo {
            owner: get("owner")?,
            task: get("task").unwrap_or_else(|| "deploy".to_string()),
            pid: get("pid").and_then(|p| p.parse().ok()).unwrap_or(0),
            since: get("since")?.parse().ok()?,
            token: get("token").unwrap_or_default(),
            boot_id: get("boot_id").unwrap_or_default(),
            pid_start: get("pid_start").and_then(|p| p.parse().ok()).unwrap_or(0),
        })
    }

    /// `root@ci (deploy, pid 4242) since 2026-03-14 09:30:05 UTC (12 min ago)`.
    pub fn describe(&self, now: u64) -> String {
        format!(
            "{} ({}, pid {}) since {} ({} ago)",
            self.owner,
            self.task,
            self.pid,
            utc_time(self.since),
            age(now.saturating_sub(self.since))
        )
    }

    /// Whether the holder still runs, judged from this machine (see [`Holder`]).
    pub fn holder(&self) -> Holder {
        let machine = self.owner.rsplit_once('@').map_or("", |(_, m)| m);
        if machine != this_machine() {
            return Holder::Unknown(format!(
                "it was taken from another machine ({machine}), so dm cannot tell whether that \
                 deploy still runs"
            ));
        }
        if self.boot_id.is_empty() || self.pid == 0 {
            return Holder::Unknown(
                "its lock info does not say which process of this machine holds it".to_string(),
            );
        }
        if self.boot_id != this_boot_id() {
            return Holder::Unknown(
                "this machine has rebooted since it was taken (or another machine has the same \
                 name)"
                    .to_string(),
            );
        }
        match process_start(self.pid) {
            None => Holder::Ended(format!(
                "its dm process (pid {}) on this machine has ended",
                self.pid
            )),
            Some(start) if self.pid_start != 0 && start != self.pid_start => {
                Holder::Ended(format!(
                    "its dm process (pid {}) on this machine has ended (the pid now belongs to \
                     another process)",
                    self.pid
                ))
            }
            Some(_) => Holder::Running,
        }
    }
}

/// The user dm runs as: `$USER`, else the name of this process's uid in /etc/passwd.
fn this_user() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))
        && !user.is_empty()
    {
        return user;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    user_of(&status, &passwd).unwrap_or_else(|| "unknown".to_string())
}

/// The name of the real uid in a `/proc/PID/status` text, from a passwd text (`uid1000` when no
/// entry has it); `None` without a `Uid:` line. Without `$USER` (a service, cron, CI) a lock
/// holder is still named, not `unknown@host`.
fn user_of(status: &str, passwd: &str) -> Option<String> {
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())?;
    Some(
        passwd
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() > 2 && fields[2] == uid).then(|| fields[0].to_string())
            })
            .unwrap_or_else(|| format!("uid{uid}")),
    )
}

/// This machine's hostname.
fn this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// This boot of this machine (empty when unknown).
fn this_boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

/// When process `pid` of this machine started (clock ticks since boot), `None` when it does not
/// exist or has ended (a zombie waiting for its parent).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    start_time(&stat).or(Some(0))
}

/// Field 22 of a `/proc/PID/stat` line; the command (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis.
fn start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Newlines would split a `key=value` line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `42 s`, `12 min`, `3 h 5 min`, `2 days`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

/// A held deploy lock; give it back with [`DeployLock::release`].
#[derive(Debug)]
pub struct DeployLock {
    dir: String,
    info: LockInfo,
}

impl DeployLock {
    /// Takes the lock of the app whose lock directory is `dir`, or fails naming who holds it.
    ///
    /// A lock whose holder was a dm process of this machine that has ended (same boot, pid
    /// gone) is stale: it is cleared (only if it is still that holder's) and taken, saying so.
    pub async fn acquire(ctx: &Ctx, dir: &str, task: &str) -> anyhow::Result<DeployLock> {
        let held = match Self::try_acquire(ctx, dir, task).await? {
            Ok(lock) => return Ok(lock),
            Err(held) => held,
        };
        let host = ctx.name();
        let Some(holder) = held else {
            anyhow::bail!(
                "{host}: another deploy is running: the deploy lock {dir} is held by another deploy \
                 (it is starting: its lock info is not written yet); wait for it to finish"
            );
        };
        let who = holder.describe(now_unix());
        match holder.holder() {
            Holder::Running => anyhow::bail!(
                "{host}: another deploy is running: the deploy lock {dir} is held by {who}; wait \
                 for it to finish"
            ),
            Holder::Unknown(why) => anyhow::bail!(
                "{host}: the deploy lock {dir} is held by {who}: another deploy may be running; \
                 {why}. If no deploy is running any more (it was killed, or its machine went \
                 down), the lock is stale: break it with `deploy-unlock` (e.g. `-H {host} \
                 deploy-unlock`), then run this again"
            ),
            Holder::Ended(why) => {
                let d = shell_quote(dir);
                let token = shell_quote(&format!("token={}", holder.token));
                // Only that holder's lock: another deploy may have broken it and taken it meanwhile.
                ctx.sudo(format!(
                    "if grep -qxF {token} {d}/info 2>/dev/null; then rm -rf {d}; fi"
                ))
                .quiet()
                .await?;
                ctx.log(format!(
                    "the deploy lock {dir} was stale: {why}; cleared the lock held by {who}"
                ));
                match Self::try_acquire(ctx, dir, task).await? {
                    Ok(lock) => Ok(lock),
                    Err(again) => anyhow::bail!(
                        "{host}: another deploy took the deploy lock {dir} right after its stale \
                         lock was cleared: it is held by {}; wait for it to finish",
                        again.map_or_else(
                            || "another deploy".to_string(),
                            |h| h.describe(now_unix())
                        )
                    ),
                }
            }
        }
    }

    /// One `mkdir` of the lock: the lock, or who holds it (`None`: its info is not written yet).
    async fn try_acquire(
        ctx: &Ctx,
        dir: &str,
        task: &str,
    ) -> anyhow::Result<Result<DeployLock, Option<LockInfo>>> {
        let info = LockInfo::for_this_process(task, ctx.name());
        let d = shell_quote(dir);
        let script = format!(
            "mkdir -p \"$(dirname {d})\"\n\
             if mkdir {d} 2>/dev/null; then printf '%s' {info} > {d}/info; echo dm-lock=acquired\n\
             else echo dm-lock=held; cat {d}/info 2>/dev/null; fi",
            info = shell_quote(&info.render())
        );
        let out = ctx.sudo(script).quiet().await?;
        if out.stdout.lines().next() == Some("dm-lock=acquired") {
            return Ok(Ok(DeployLock {
                dir: dir.to_string(),
                info,
            }));
        }
        Ok(Err(LockInfo::parse(&out.stdout)))
    }

    /// Who holds the lock in `dir` now (`None`: nobody); reads only, also under `--check`.
    pub async fn holder_now(ctx: &Ctx, dir: &str) -> anyhow::Result<Option<String>> {
        let d = shell_quote(dir);
        let out = ctx
            .sudo(format!(
                "if [ -d {d} ]; then echo dm-lock=held; cat {d}/info 2>/dev/null; fi"
            ))
            .quiet()
            .check_safe()
            .await?;
        if out.stdout.lines().next() != Some("dm-lock=held") {
            return Ok(None);
        }
        Ok(Some(match LockInfo::parse(&out.stdout) {
            Some(info) => info.describe(now_unix()),
            None => "another deploy (its lock info is not written yet)".to_string(),
        }))
    }

    /// Gives the lock back, unless someone broke it and another deploy took it meanwhile.
    pub async fn release(self, ctx: &Ctx) -> anyhow::Result<()> {
        let d = shell_quote(&self.dir);
        let token = shell_quote(&format!("token={}", self.info.token));
        ctx.sudo(format!(
            "if grep -qxF {token} {d}/info 2>/dev/null; then rm -rf {d}; fi"
        ))
        .quiet()
        .await?;
        Ok(())
    }
}

/// Breaks the lock in `dir` whoever holds it; returns who held it (`None`: it was not held).
/// Under `--check` it only looks: it returns who holds the lock and leaves it.
pub async fn break_lock(ctx: &Ctx, dir: &str) -> anyhow::Result<Option<String>> {
    let d = shell_quote(dir);
    let look = format!("if [ -d {d} ]; then echo dm-lock=held; cat {d}/info 2>/dev/null; fi");
    let out = if ctx.check_mode() {
        ctx.sudo(look).quiet().check_safe().await?
    } else {
        ctx.sudo(format!("{look}; rm -rf {d}")).quiet().await?
    };
    if out.stdout.lines().next() != Some("dm-lock=held") {
        return Ok(None);
    }
    Ok(Some(match LockInfo::parse(&out.stdout) {
        Some(info) => info.describe(now_unix()),
        None => "an unknown holder (no lock info)".to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_user_variables_the_holder_is_named_from_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndeploy:x:1000:1000::/home/deploy:/bin/sh\n";
        let status = |uid: &str| format!("Name:\tdm\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n");
        assert_eq!(user_of(&status("1000"), passwd).as_deref(), Some("deploy"));
        assert_eq!(user_of(&status("0"), passwd).as_deref(), Some("root"));
        assert_eq!(user_of(&status("4242"), passwd).as_deref(), Some("uid4242"));
        assert_eq!(user_of("Name:\tdm\n", passwd), None);
    }

    #[test]
    fn lock_info_round_trips() {
        let info = LockInfo {
            owner: "ops@ci".into(),
            task: "deploy".into(),
            pid: 4242,
            since: 1_700_000_000,
            token: "4242-1700000000-5-app1".into(),
            boot_id: "b00t".into(),
            pid_start: 99,
        };
        assert_eq!(LockInfo::parse(&info.render()), Some(info.clone()));
        assert_eq!(
            info.describe(1_700_000_000 + 725),
            "ops@ci (deploy, pid 4242) since 2023-11-14 22:13:20 UTC (12 min ago)"
        );
    }

    #[test]
    fn partial_or_foreign_info_is_not_trusted() {
        assert_eq!(LockInfo::parse(""), None);
        assert_eq!(LockInfo::parse("owner=x\n"), None);
        assert_eq!(LockInfo::parse("owner=x\nsince=soon\n"), None);
        let minimal = LockInfo::parse("owner=x\nsince=5\n").expect("enough");
        assert_eq!((minimal.task.as_str(), minimal.pid), ("deploy", 0));
    }

    #[test]
    fn a_holder_of_this_machine_is_running_or_provably_ended() {
        let mut info = LockInfo::for_this_process("deploy", "app1");
        assert_eq!(info.holder(), Holder::Running, "this very process");
        // A child that has exited: its pid is gone (reuse within the test is not plausible).
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("true runs");
        let dead = child.id();
        child.wait().expect("true exits");
        info.pid = dead;
        assert!(
            matches!(info.holder(), Holder::Ended(_)),
            "{:?}",
            info.holder()
        );
        // The pid of a live process that started at another time is another process.
        info.pid = std::process::id();
        info.pid_start += 1;
        assert!(
            matches!(info.holder(), Holder::Ended(_)),
            "{:?}",
            info.holder()
        );
    }

    #[test]
    fn a_holder_elsewhere_or_before_a_reboot_is_unknown() {
        let mut info = LockInfo::for_this_process("deploy", "app1");
        info.owner = "ops@another-machine-of-the-test".into();
        assert!(matches!(info.holder(), Holder::Unknown(m) if m.contains("another machine")));
        let mut info = LockInfo::for_this_process("deploy", "app1");
        info.boot_id = "an-earlier-boot".into();
        assert!(matches!(info.holder(), Holder::Unknown(m) if m.contains("rebooted")));
        let old = LockInfo::parse("owner=x@y\nsince=5\npid=7\n").expect("old info");
        assert!(matches!(old.holder(), Holder::Unknown(_)));
    }

    #[test]
    fn start_time_skips_commands_with_spaces_and_parentheses() {
        let stat =
            "4242 (dm (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 4 0 987654 1000 10";
        assert_eq!(start_time(stat), Some(987_654));
        assert_eq!(start_time("garbage"), None);
    }

    #[test]
    fn a_load_balancer_locks_outside_any_app_directory() {
        let app = AppConfig {
            name: "shop".into(),
            ..AppConfig::default()
        };
        let mut host = Host::new("lb1", "10.0.0.1");
        host.roles = vec!["loadbalancer".into()];
        assert_eq!(lock_dir(&host, &app), "/var/lib/dm/deploy-lock/shop");
        host.roles = vec!["appbalancer".into()];
        assert_eq!(lock_dir(&host, &app), "/srv/shop/.deploy-lock");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(5), "5 s");
        assert_eq!(age(3 * 3600 + 300), "3 h 5 min");
        assert_eq!(age(3 * 86_400), "3 days");
    }

    #[test]
    fn owner_newlines_cannot_forge_keys() {
        let mut info = LockInfo::for_this_process("deploy", "app1");
        info.owner = "me\ntoken=stolen".into();
        let parsed = LockInfo::parse(&info.render()).expect("parses");
        assert_ne!(parsed.token, "stolen");
    }
}
