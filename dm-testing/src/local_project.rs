//! A project for tests of the local provider (`boot`, `destroy`, `scale` with
//! `provider = "local"`): a directory with an inventory, an operator key and a known_hosts file,
//! whose local machines are destroyed when the project is dropped, and swept by the next fleet
//! or `scripts/test` when the test process dies without dropping it.
//!
//! Local machines outlive the dm run that boots them by design; a test's must not outlive the
//! test. The project's directory is recorded like a fleet's (under `/run/dm-testing/fleets/`,
//! owned by the test process): when the owner is dead the sweep removes the directory, and then
//! every local machine of a project under [`CACHE_DIR`] whose directory is gone.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::run::{command_line, expect_success, run_blocking};
use dm_core::report::RunReport;
use dm_machines::error::Error;
use dm_machines::local::{LocalMachine, LocalMachines};
use dm_machines::paths::CACHE_DIR;
use dm_machines::prerequisites::{self, Purpose};
use dm_machines::record::{Record, Resource};
use dm_machines::{keys, sweep};

/// Tells apart projects of one process in ids.
static PROJECT_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A test's local-provider project. Dropping it destroys its local machines and removes its
/// directory, also when the test panics.
///
/// ```no_run
/// use dm_testing::LocalProject;
///
/// let project = LocalProject::new()?;
/// project.write_inventory("[servers.appnode2]\nprovider = \"local\"\n")?;
/// project.dm_ok(["boot", "appnode2"]);
/// project.dm_ok(["-H", "appnode2", "run", "hostname"]);
/// # Ok::<(), dm_testing::Error>(())
/// ```
#[derive(Debug)]
pub struct LocalProject {
    dir: PathBuf,
    private_key: PathBuf,
    known_hosts: PathBuf,
    record: Record,
}

impl LocalProject {
    /// Creates the project: its directory (under [`CACHE_DIR`]), an ed25519 operator key, an
    /// empty known_hosts file, and a `dm.toml` that logs in as root with them. Sweeps what dead
    /// test processes left first. Fails with [`Error::NotRoot`] when not root.
    pub fn new() -> Result<LocalProject, Error> {
        prerequisites::check(false, Purpose::Testing)?;
        let id = format!(
            "local-{}-{}",
            std::process::id(),
            PROJECT_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let record = sweep::sweep_and_register(&id)?;
        let dir = Path::new(CACHE_DIR).join("fleets").join(&id);
        record.add(Resource::Dir(dir.clone()))?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let project = LocalProject {
            private_key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            dir,
            record,
        };
        keys::generate(&project.private_key, &format!("dm-testing project {id}"))?;
        std::fs::write(&project.known_hosts, "")
            .map_err(|e| Error::io("cannot write", &project.known_hosts, e))?;
        project.write_inventory("")?;
        Ok(project)
    }

    /// The project directory: the inventory, `servers.state.toml`, keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The inventory: `dm.toml` in [`LocalProject::dir`].
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join("dm.toml")
    }

    /// The state file next to the inventory.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(dm_core::inventory::booted::STATE_FILE)
    }

    /// The operator's private key (no passphrase), which `boot` authorizes on new machines.
    pub fn private_key(&self) -> &Path {
        &self.private_key
    }

    /// The known_hosts file dm uses, where the local provider records host keys.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// Writes `dm.toml`: `defaults` (root, the project key and known_hosts), then `rest`
    /// (top-level keys, servers, roles, vars, provider settings; no `[defaults]` of its own).
    pub fn write_inventory(&self, rest: &str) -> Result<(), Error> {
        self.write_inventory_as("root", rest)
    }

    /// Like [`LocalProject::write_inventory`], logging in as `user` (e.g. the administrator
    /// that `provision` creates; new machines let only root in until provisioned).
    pub fn write_inventory_as(&self, user: &str, rest: &str) -> Result<(), Error> {
        let path = self.inventory_path();
        let text = format!(
            // An inline table, so that top-level keys of `rest` stay top-level.
            "defaults = {{ user = {}, identity_file = {}, known_hosts = {} }}\n\n{rest}",
            crate::inventory::toml_string(user),
            crate::inventory::toml_string(&self.private_key.to_string_lossy()),
            crate::inventory::toml_string(&self.known_hosts.to_string_lossy()),
        );
        std::fs::write(&path, text).map_err(|e| Error::io("cannot write", &path, e))
    }

    /// The project's local machines, as they are now.
    pub fn machines(&self) -> Result<Vec<LocalMachine>, Error> {
        LocalMachines::new(&self.dir)?.list()
    }

    /// Runs a dm command line in this process with the project's inventory, like
    /// [`Fleet::dm`](crate::Fleet::dm).
    pub fn dm<I, S>(&self, args: I) -> Result<RunReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_blocking(
            command_line(&self.inventory_path(), args),
            crate::RUN_DEADLINE,
        )
    }

    /// Like [`LocalProject::dm`], for runs that must succeed.
    ///
    /// # Panics
    /// This is a test helper: it panics when the run cannot start or does not succeed, with
    /// each failed host's error.
    #[track_caller]
    pub fn dm_ok<I, S>(&self, args: I) -> RunReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        expect_success(&args, self.dm(&args))
    }

    /// Runs `cmd` as root on `address` with the OpenSSH client, the project key and STRICT host
    /// key checking against the project's known_hosts (no other configuration): it succeeds only
    /// when the host key the local provider recorded is the machine's.
    pub fn ssh(&self, address: &str, cmd: &str) -> std::io::Result<Output> {
        let known_hosts = format!("UserKnownHostsFile={}", self.known_hosts.display());
        Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&self.private_key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                &known_hosts,
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("root@{address}"))
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
    }
}

impl Drop for LocalProject {
    /// Destroys the project's local machines, then removes its directory and record. Failures
    /// are reported on stderr; the next sweep retries them.
    fn drop(&mut self) {
        let mut problems = Vec::new();
        match LocalMachines::new(&self.dir).and_then(|machines| {
            for machine in machines.list()? {
                machines.destroy(&machine.id)?;
            }
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) => problems.push(e),
        }
        problems.extend(self.record.teardown());
        if !problems.is_empty() {
            use std::io::Write;
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(
                stderr,
                "dm-testing: teardown of local project {} left something behind:",
                self.dir.display()
            );
            for e in problems {
                let _ = writeln!(stderr, "  {e}");
            }
        }
    }
}
