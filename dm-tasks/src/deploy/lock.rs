//! The deploy lock: one deploy or rollback at a time per app and host.
//!
//! The lock is a directory, `<app.path>/.deploy-lock`, made with `mkdir` (atomic: of two
//! concurrent deploys exactly one succeeds). Its `info` file says who holds it, since when, and
//! carries a token so that only the holder removes it. A deploy that dies without unlocking
//! leaves it behind; `deploy-unlock` breaks it explicitly.

use dm_core::{Ctx, shell_quote};

use super::release::{now_unix, utc_time};

/// Who holds a deploy lock, as written in its `info` file (`key=value` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// `user@machine` of the controller that took it.
    pub owner: String,
    /// The task that took it (`deploy`, `rollback`).
    pub task: String,
    /// Process id of dm on that controller.
    pub pid: u32,
    /// When it was taken, in Unix seconds.
    pub since: u64,
    /// Unique per acquisition: only the holder releases it.
    pub token: String,
}

impl LockInfo {
    /// The lock this process takes now for `task`.
    pub fn for_this_process(task: &str, host: &str) -> LockInfo {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_string());
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        let since = now_unix();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        LockInfo {
            owner: format!("{user}@{machine}"),
            task: task.to_string(),
            pid: std::process::id(),
            since,
            token: format!("{}-{since}-{nanos}-{host}", std::process::id()),
        }
    }

    /// The `info` file's text.
    pub fn render(&self) -> String {
        format!(
            "owner={}\ntask={}\npid={}\nsince={}\ntoken={}\n",
            one_line(&self.owner),
            one_line(&self.task),
            self.pid,
            self.since,
            one_line(&self.token)
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
    pub async fn acquire(ctx: &Ctx, dir: &str, task: &str) -> anyhow::Result<DeployLock> {
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
            return Ok(DeployLock {
                dir: dir.to_string(),
                info,
            });
        }
        let holder = match LockInfo::parse(&out.stdout) {
            Some(held) => held.describe(now_unix()),
            None => "another deploy (it is starting: its lock info is not written yet)".to_string(),
        };
        anyhow::bail!(
            "{}: another deploy is running: the deploy lock {dir} is held by {holder}; \
             wait for it, or if no deploy is running any more, break the lock with `deploy-unlock`",
            ctx.name()
        )
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
    fn lock_info_round_trips() {
        let info = LockInfo {
            owner: "ops@ci".into(),
            task: "deploy".into(),
            pid: 4242,
            since: 1_700_000_000,
            token: "4242-1700000000-5-app1".into(),
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
