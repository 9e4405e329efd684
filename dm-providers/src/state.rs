//! The servers state file (`servers.state.toml`, next to the inventory): what dm booted, so later
//! runs find servers by name, and a run killed mid-boot leaves a record the next run reconciles
//! instead of an orphaned server nobody knows about.
//!
//! Three rules keep it honest:
//! - **Write-ahead**: a record is written as `status = "creating"` (with a fresh client token that
//!   also goes to the provider as a label/tag) *before* the create call, and completed with the
//!   provider's id after. Destroying marks the record `deleting` first and removes it after.
//! - **Atomic writes**: every change writes a temporary file, syncs it and renames it over the
//!   old one, so a reader or a crash sees the old file or the new one, never half of one.
//! - **One run at a time**: [`State::open`] takes an exclusive `flock` on `servers.state.toml.lock`
//!   (holding this process's pid, named when another run has to wait) until the `State` is
//!   dropped; the kernel releases it if the process dies.
//!
//! [`State::reconcile`] settles what an interrupted run left: a `creating` record whose server
//! exists at the provider (found by name) is adopted, one whose server does not is dropped; an
//! interrupted destroy is finished.
//!
//! A record belongs to the environment it was booted for: the same name booted for `dev` and
//! for `staging` is two servers, two records (`[servers."lb1@staging"]`) and two servers at the
//! provider (the second one named `lb1-staging` there, see [`Record::provider_name`]). Records
//! without an environment (booted in a run without one, or written by a dm of format version 1
//! before environments were recorded) are keyed by the name alone.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::provider::{Destroyed, Provider, Server, ServerSpec, ServerStatus};

/// The state file's name, in the inventory's directory.
pub use dm_core::inventory::state_file::FILE_NAME;
/// One server in the state file: the schema is dm-core's, shared with inventory loading.
pub use dm_core::inventory::state_file::Record;
use dm_core::inventory::state_file::{StateFile, VERSION, key_of};

/// What [`State::reconcile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// `creating` records whose server exists: now complete.
    pub adopted: Vec<Record>,
    /// Records whose server does not exist: removed.
    pub dropped: Vec<String>,
    /// `deleting` records whose server still existed: destroyed now, and removed.
    pub destroyed: Vec<String>,
    /// Records left alone because their provider was not given: name and provider.
    pub skipped: Vec<(String, String)>,
}

/// The open, locked state file.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    /// Held open for the flock; the lock goes with it when the `State` is dropped.
    _lock: File,
    records: Mutex<BTreeMap<String, Record>>,
}

impl State {
    /// `servers.state.toml` in the directory of `inventory` (the `dm.toml` path).
    pub fn path_next_to(inventory: &Path) -> PathBuf {
        dm_core::inventory::state_file::path_next_to(inventory)
    }

    /// Opens the state file at `path` (missing is empty), after taking its lock. If another run
    /// holds the lock, waits up to `lock_timeout`, logging once who holds it, then fails with
    /// [`Error::StateLocked`] naming the holder's pid.
    pub async fn open(path: impl Into<PathBuf>, lock_timeout: Duration) -> Result<State> {
        State::open_with_notice(path, lock_timeout, |msg| tracing::warn!("{msg}")).await
    }

    /// [`State::open`], telling `notice` (once) when it has to wait for another run, e.g. to print
    /// it on the terminal.
    pub async fn open_with_notice(
        path: impl Into<PathBuf>,
        lock_timeout: Duration,
        notice: impl FnOnce(&str),
    ) -> Result<State> {
        let path = path.into();
        let lock = acquire(&lock_path(&path), lock_timeout, notice).await?;
        let records = read_records(&path)?;
        Ok(State {
            path,
            _lock: lock,
            records: Mutex::new(records),
        })
    }

    /// Reads the state file without locking it, for a read-only look (a table of servers):
    /// writes are atomic renames, so the snapshot is always a whole file.
    pub fn read(path: &Path) -> Result<Vec<Record>> {
        Ok(read_records(path)?.into_values().collect())
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record, by name.
    pub fn records(&self) -> Vec<Record> {
        self.snapshot().into_values().collect()
    }

    /// The record of server `name` booted for `environment` (`None`: booted without one).
    pub fn get(&self, name: &str, environment: Option<&str>) -> Option<Record> {
        self.snapshot().get(&key_of(name, environment)).cloned()
    }

    /// Creates the server of `spec` with `provider`, recording it before and after; returns the
    /// completed record. A server already recorded (and not half-done) is returned as it is; one
    /// that exists at the provider under this name is adopted, not duplicated.
    pub async fn create(&self, provider: &dyn Provider, spec: &ServerSpec) -> Result<Record> {
        spec.validate()?;
        let provider_name = provider.name().to_string();
        let environment = spec.environment.as_deref();
        let previous = self.get(&spec.name, environment);
        if let Some(r) = &previous {
            if r.provider != provider_name {
                return Err(self.mismatch(&spec.name, &r.provider, &provider_name));
            }
            let settled = !matches!(r.status, ServerStatus::Creating | ServerStatus::Deleting);
            if settled && r.id.is_some() {
                return Ok(r.clone());
            }
        }
        let token = previous
            .as_ref()
            .and_then(|r| r.client_token.clone())
            .unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
        let created_at = previous
            .as_ref()
            .map(|r| r.created_at.clone())
            .unwrap_or_else(|| rfc3339(SystemTime::now()));
        let name_at_provider = match &previous {
            Some(r) => r.name_at_provider.clone(),
            None => self.free_provider_name(&spec.name, environment, &provider_name)?,
        };
        let pending = Record {
            name: spec.name.clone(),
            provider: provider_name,
            id: None,
            public_ipv4: None,
            private_ipv4: None,
            roles: spec.roles.clone(),
            status: ServerStatus::Creating,
            created_at,
            client_token: Some(token.clone()),
            environment: spec.environment.clone(),
            name_at_provider,
        };
        let key = pending.key();
        self.modify(|m| {
            m.insert(key.clone(), pending.clone());
        })?;
        // The provider knows the server by its name there.
        let mut spec = spec.clone();
        spec.name = pending.provider_name().to_string();
        spec.client_token = Some(token);
        match provider.create(&spec).await {
            Ok(server) => self.update(&server),
            Err(e) => {
                // The server may exist anyway (the answer was lost): look before forgetting.
                match provider.find(&spec.name).await {
                    Ok(Some(server)) => {
                        tracing::warn!(server = %spec.name, error = %e, "create reported an error, but the server exists; adopting it");
                        self.update(&server)
                    }
                    Ok(None) => {
                        self.modify(|m| {
                            m.remove(&key);
                        })?;
                        Err(e)
                    }
                    // Cannot tell: keep the `creating` record for the next run to reconcile.
                    Err(_) => Err(e),
                }
            }
        }
    }

    /// Records `server` as the provider reports it (after create, or after waiting for it):
    /// id, addresses, status; keeps the name, environment, creation time, roles and token
    /// already recorded. The record is the one whose server has `server.name` at that provider
    /// (a server never recorded gets a record without an environment).
    pub fn update(&self, server: &Server) -> Result<Record> {
        self.modify(|m| {
            let key = m
                .iter()
                .find(|(_, r)| r.provider == server.provider && r.provider_name() == server.name)
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| server.name.clone());
            let old = m.get(&key);
            let roles = match old {
                Some(r) if !r.roles.is_empty() => r.roles.clone(),
                _ => server.roles.clone(),
            };
            let record = Record {
                name: old.map_or_else(|| server.name.clone(), |r| r.name.clone()),
                provider: server.provider.clone(),
                id: Some(server.id.clone()),
                public_ipv4: server.public_ipv4,
                private_ipv4: server.private_ipv4,
                roles,
                status: server.status.clone(),
                created_at: old
                    .map(|r| r.created_at.clone())
                    .unwrap_or_else(|| rfc3339(SystemTime::now())),
                client_token: old
                    .and_then(|r| r.client_token.clone())
                    .or_else(|| server.client_token.clone()),
                environment: old.and_then(|r| r.environment.clone()),
                name_at_provider: old.and_then(|r| r.name_at_provider.clone()),
            };
            m.insert(key, record.clone());
            record
        })
    }

    /// The name a new server `name` booted for `environment` gets at `provider`: `name`, unless
    /// a server of another environment has that name there already; then `name-ENV` (`None`
    /// means that name is free). Fails when that is taken too or too long for a hostname.
    fn free_provider_name(
        &self,
        name: &str,
        environment: Option<&str>,
        provider: &str,
    ) -> Result<Option<String>> {
        let records = self.snapshot();
        let taken = |candidate: &str| {
            records
                .values()
                .any(|r| r.provider == provider && r.provider_name() == candidate)
        };
        if !taken(name) {
            return Ok(None);
        }
        let qualified = format!("{name}-{}", environment.unwrap_or("none"));
        if taken(&qualified) || !crate::provider::is_hostname(&qualified) {
            return Err(Error::InvalidSpec {
                name: name.to_string(),
                message: format!(
                    "a server named {name} is booted for another environment at provider                      {provider}, and the name for this one, {qualified}, is taken or not a                      hostname; give this environment's server another name"
                ),
            });
        }
        Ok(Some(qualified))
    }

    /// Destroys server `name` booted for `environment` with `provider` and removes its record
    /// (marked `deleting` while the provider works, so an interrupted destroy is finished by
    /// [`State::reconcile`]).
    pub async fn destroy(
        &self,
        provider: &dyn Provider,
        name: &str,
        environment: Option<&str>,
    ) -> Result<Destroyed> {
        let Some(record) = self.get(name, environment) else {
            return Err(Error::UnknownServer {
                name: key_of(name, environment),
                path: self.path.clone(),
                known: self.snapshot().into_keys().collect(),
            });
        };
        let key = record.key();
        if record.provider != provider.name() {
            return Err(self.mismatch(name, &record.provider, provider.name()));
        }
        let id = match record.id.clone() {
            Some(id) => Some(id),
            None => provider.find(record.provider_name()).await?.map(|s| s.id),
        };
        self.modify(|m| {
            if let Some(r) = m.get_mut(&key) {
                r.status = ServerStatus::Deleting;
            }
        })?;
        let outcome = match id {
            Some(id) => provider
                .destroy(&id)
                .await
                .map_err(|e| e.naming_server(&record.name))?,
            None => Destroyed::AlreadyGone,
        };
        self.modify(|m| {
            m.remove(&key);
        })?;
        Ok(outcome)
    }

    /// Removes the record of `name` booted for `environment` without asking any provider (for
    /// servers destroyed by other means). Returns the record, if there was one.
    pub fn forget(&self, name: &str, environment: Option<&str>) -> Result<Option<Record>> {
        self.modify(|m| m.remove(&key_of(name, environment)))
    }

    /// Settles what an interrupted run left behind, asking each record's provider (matched by
    /// [`Provider::name`]; records of providers not given are skipped):
    /// `creating` → adopted if the server exists by name, else dropped;
    /// `deleting` → destroyed if it still exists, and dropped.
    pub async fn reconcile(&self, providers: &[&dyn Provider]) -> Result<Reconciled> {
        let mut done = Reconciled::default();
        for record in self.records() {
            let unsettled = matches!(
                record.status,
                ServerStatus::Creating | ServerStatus::Deleting
            );
            if !unsettled {
                continue;
            }
            let Some(provider) = providers.iter().find(|p| p.name() == record.provider) else {
                done.skipped
                    .push((record.name.clone(), record.provider.clone()));
                continue;
            };
            let found = provider.find(record.provider_name()).await?;
            match (&record.status, found) {
                (ServerStatus::Creating, Some(server)) => {
                    let ours =
                        server.client_token.is_some() && server.client_token == record.client_token;
                    tracing::info!(
                        server = %record.name,
                        id = %server.id,
                        "adopting a server whose creation was interrupted{}",
                        if ours { "" } else { " (it was not created by that attempt, but carries dm's name label)" }
                    );
                    done.adopted.push(self.update(&server)?);
                }
                (ServerStatus::Deleting, Some(server)) => {
                    tracing::info!(server = %record.name, id = %server.id, "finishing an interrupted destroy");
                    provider
                        .destroy(&server.id)
                        .await
                        .map_err(|e| e.naming_server(&record.name))?;
                    self.forget(&record.name, record.environment.as_deref())?;
                    done.destroyed.push(record.name.clone());
                }
                (_, None) => {
                    tracing::info!(server = %record.name, status = %record.status, "the provider has no such server; dropping the record");
                    self.forget(&record.name, record.environment.as_deref())?;
                    done.dropped.push(record.name.clone());
                }
                _ => {}
            }
        }
        Ok(done)
    }

    fn mismatch(&self, name: &str, recorded: &str, asked: &str) -> Error {
        Error::ProviderMismatch {
            name: name.to_string(),
            path: self.path.clone(),
            recorded: recorded.to_string(),
            asked: asked.to_string(),
        }
    }

    fn snapshot(&self) -> BTreeMap<String, Record> {
        // A poisoned mutex only means a panic elsewhere while holding it; the map itself is only
        // replaced whole (after a successful write), so it is consistent.
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies `change` to a copy of the records, writes the copy, and only then makes it the
    /// current state: memory never runs ahead of the file.
    fn modify<R>(&self, change: impl FnOnce(&mut BTreeMap<String, Record>) -> R) -> Result<R> {
        let mut guard = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        let out = change(&mut next);
        write_records(&self.path, &next)?;
        *guard = next;
        Ok(out)
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Takes the exclusive lock on `lock_path`, waiting up to `timeout`, and writes our pid into it.
async fn acquire(lock_path: &Path, timeout: Duration, notice: impl FnOnce(&str)) -> Result<File> {
    let io = |source| Error::StateIo {
        path: lock_path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(io)?;
    let start = Instant::now();
    let mut notice = Some(notice);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = read_holder(lock_path);
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(Error::StateLocked {
                        path: lock_path.to_path_buf(),
                        holder,
                        waited,
                    });
                }
                if let Some(notice) = notice.take() {
                    notice(&format!(
                        "waiting for {} (held by another dm run, {}); giving up after {}s",
                        lock_path.display(),
                        holder.map_or("pid unknown".to_string(), |p| format!("pid {p}")),
                        timeout.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100).min(timeout - waited)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    file.set_len(0).map_err(io)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(io)?;
    file.flush().map_err(io)?;
    Ok(file)
}

/// The pid the lock holder wrote into the lock file.
fn read_holder(lock_path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(lock_path).ok()?.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn read_records(path: &Path) -> Result<BTreeMap<String, Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(Error::StateIo {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let parsed = StateFile::parse(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(&text, s.start))
            .unwrap_or((1, 1));
        Error::StateInvalid {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    if parsed.version > VERSION {
        return Err(Error::StateInvalid {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!(
                "written by a newer dm (format version {}, this one reads {VERSION}); upgrade dm",
                parsed.version
            ),
        });
    }
    Ok(parsed.into_records())
}

/// Writes the records to a temporary file next to `path`, syncs it, renames it over `path` and
/// syncs the directory, so the change survives a power cut and nobody sees half a file.
fn write_records(path: &Path, records: &BTreeMap<String, Record>) -> Result<()> {
    let body = StateFile::render(records).map_err(|e| Error::StateIo {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = format!(
        "# Servers booted by dm: written by dm on every change (under {}.lock).\n\
         # Edit only when no dm run is active.\n\n{body}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::StateIo { path: p, source }
    };
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `t` as RFC 3339 in UTC, e.g. `2026-05-01T12:00:00Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // a leap day
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn paths() {
        assert_eq!(
            State::path_next_to(Path::new("/srv/shop/dm.toml")),
            Path::new("/srv/shop/servers.state.toml")
        );
        assert_eq!(
            State::path_next_to(Path::new("dm.toml")),
            Path::new("servers.state.toml")
        );
        assert_eq!(
            lock_path(Path::new("/a/servers.state.toml")),
            Path::new("/a/servers.state.toml.lock")
        );
    }

    #[test]
    fn version_1_records_load_and_environments_key_their_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "version = 1\n\
             [servers.lb1]\nprovider = \"local\"\nstatus = \"running\"\n\
             created_at = \"2026-01-01T00:00:00Z\"\nenvironment = \"dev\"\n\
             [servers.db1]\nprovider = \"local\"\nstatus = \"running\"\n\
             created_at = \"2026-01-01T00:00:00Z\"\n\
             [servers.\"lb1@staging\"]\nprovider = \"local\"\nstatus = \"running\"\n\
             created_at = \"2026-01-01T00:00:00Z\"\nname_at_provider = \"lb1-staging\"\n",
        )
        .expect("write");
        let records = read_records(&path).expect("reads");
        let keys: Vec<&str> = records.keys().map(String::as_str).collect();
        assert_eq!(keys, ["db1", "lb1@dev", "lb1@staging"]);
        let dev = &records["lb1@dev"];
        assert_eq!((dev.name.as_str(), dev.provider_name()), ("lb1", "lb1"));
        let staging = &records["lb1@staging"];
        assert_eq!(staging.environment.as_deref(), Some("staging"));
        assert_eq!(
            (staging.name.as_str(), staging.provider_name()),
            ("lb1", "lb1-staging")
        );
        assert_eq!(records["db1"].environment, None);
    }
}
