//! The state file and the providers of a run: which provider boots a server, and with what.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dm_core::Ctx;
use dm_providers::{
    ApiConfig, DigitalOcean, Hetzner, LocalProvider, Provider, Reconciled, State, Wait,
};

use super::tokens;

/// How long a run waits for another run that holds the state file's lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// The provider used when the inventory names none.
const DEFAULT_PROVIDER: &str = "local";

/// The open (locked) state file of the inventory, and what is needed to make its providers.
#[derive(Debug, Clone)]
pub struct ServerStore {
    /// The state file, locked until the last clone is dropped.
    pub state: Arc<State>,
    /// The project directory: where the inventory and the state file are.
    project: PathBuf,
    /// The known_hosts file of this run, where the local provider records host keys.
    known_hosts: PathBuf,
    /// The run's context, for cloud tokens kept in the secrets store.
    ctx: Ctx,
}

/// The project directory (the inventory's, `.` without one) and the state file next to the
/// inventory.
pub(crate) fn project_and_state_path(ctx: &Ctx) -> (PathBuf, PathBuf) {
    let inventory_path = ctx
        .inventory()
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("dm.toml"));
    let project = match inventory_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (project, State::path_next_to(&inventory_path))
}

impl ServerStore {
    /// Opens and locks `servers.state.toml` next to the run's inventory (`./` without one),
    /// waiting up to 2 minutes for another run that holds it, then settles what interrupted runs
    /// left (see [`ServerStore::reconcile`]).
    pub async fn open(ctx: &Ctx) -> anyhow::Result<ServerStore> {
        let (project, state_path) = project_and_state_path(ctx);
        let log = ctx.clone();
        let state = State::open_with_notice(&state_path, LOCK_TIMEOUT, move |notice| {
            log.log(notice);
        })
        .await?;
        let store = ServerStore {
            state: Arc::new(state),
            project,
            known_hosts: ctx.connect_options().known_hosts.clone(),
            ctx: ctx.clone(),
        };
        let settled = store.reconcile().await?;
        for record in &settled.adopted {
            ctx.log(format!(
                "{}: adopted (its boot was interrupted after the server came up)",
                record.name
            ));
        }
        for name in settled.dropped.iter().chain(&settled.destroyed) {
            ctx.log(format!(
                "{name}: removed the record of an interrupted boot or destroy"
            ));
        }
        Ok(store)
    }

    /// Settles records left `creating` or `deleting` by interrupted runs, with each record's
    /// provider: adopted when the server exists, dropped (or destroyed) when not. Records of a
    /// cloud provider without a token are left for a run that has one.
    pub async fn reconcile(&self) -> anyhow::Result<Reconciled> {
        let mut names: Vec<String> = self
            .state
            .records()
            .into_iter()
            .map(|r| r.provider)
            .collect();
        names.sort();
        names.dedup();
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        for name in names {
            if let Ok(provider) = self.provider(&name, &toml::Table::new()) {
                providers.push(provider);
            }
        }
        let borrowed: Vec<&dyn Provider> = providers.iter().map(|p| p.as_ref()).collect();
        Ok(self.state.reconcile(&borrowed).await?)
    }

    /// The provider named `name` (`local`, `hetzner`, `digitalocean`) with `settings` (the
    /// server's `provider` table).
    pub fn provider(
        &self,
        name: &str,
        settings: &toml::Table,
    ) -> anyhow::Result<Arc<dyn Provider>> {
        provider_named(&self.ctx, name, &self.project, &self.known_hosts, settings)
    }

    /// The provider and its settings for server `name`, from the inventory (see the module
    /// docs of [`crate::servers`](mod@crate::servers)).
    pub fn provider_for(
        &self,
        ctx: &Ctx,
        name: &str,
    ) -> anyhow::Result<(Arc<dyn Provider>, toml::Table)> {
        let settings = ctx.inventory().provider_settings(name);
        let provider_name = settings
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or(DEFAULT_PROVIDER)
            .to_string();
        Ok((self.provider(&provider_name, &settings)?, settings))
    }
}

/// The environment whose record server `name` has (or gets) in this run's state file: the
/// environment of the booted server the inventory uses for `name` (another environment's only
/// when the run's environment lists it, see `dm_core::inventory::booted`), else the run's own
/// environment. Servers booted for one environment are never booted, found or destroyed by a
/// run of another.
pub(crate) fn record_environment(ctx: &Ctx, name: &str) -> Option<String> {
    let inventory = ctx.inventory();
    match inventory.booted_for(name) {
        Some(environment) => environment.map(str::to_string),
        None => inventory.environment().map(str::to_string),
    }
}

/// The record of server `name` for this run (see [`record_environment`]), among `records`.
pub(crate) fn record_of<'r>(
    ctx: &Ctx,
    records: &'r [dm_providers::Record],
    name: &str,
) -> Option<&'r dm_providers::Record> {
    let environment = record_environment(ctx, name);
    records
        .iter()
        .find(|r| r.name == name && r.environment == environment)
}

/// Fails with one clear message (needs root, or which packages are missing) when any of
/// servers `names` is, or would be, a local machine and this process cannot manage those:
/// checked before the state file is opened, so nothing is touched.
pub(crate) fn check_local_access(ctx: &Ctx, names: &[String]) -> anyhow::Result<()> {
    let inventory_path = ctx
        .inventory()
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("dm.toml"));
    let recorded = State::read(&State::path_next_to(&inventory_path)).unwrap_or_default();
    let local = names
        .iter()
        .any(|name| match record_of(ctx, &recorded, name) {
            Some(record) => record.provider == "local",
            None => ctx
                .inventory()
                .provider_settings(name)
                .get("name")
                .and_then(|v| v.as_str())
                .is_none_or(|n| n == DEFAULT_PROVIDER),
        });
    if local {
        dm_machines::local::require_root()?;
    }
    Ok(())
}

/// Makes provider `name`: `local` (machines of the project in `project`, host keys recorded in
/// `known_hosts`), `hetzner` (token `HCLOUD_TOKEN`, else the secret `hcloud_token`) or
/// `digitalocean` (token `DIGITALOCEAN_TOKEN`, else the secret `digitalocean_token`); the
/// secret's name can be changed with the setting `token_secret` (read with `ctx`'s secrets).
pub fn provider_named(
    ctx: &Ctx,
    name: &str,
    project: &Path,
    known_hosts: &Path,
    settings: &toml::Table,
) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match name {
        "local" => {
            let mut local = LocalProvider::new(project, known_hosts)?;
            if let Some(seconds) = boot_timeout(settings)? {
                local = local.boot_timeout(seconds);
            }
            Arc::new(local)
        }
        "hetzner" => {
            let url = api_url(ctx, name, settings, Hetzner::DEFAULT_BASE_URL)?;
            let token = tokens::token(ctx, tokens::HETZNER, settings, "provider")?;
            Arc::new(Hetzner::new(ApiConfig::new(url, token))?)
        }
        "digitalocean" => {
            let url = api_url(ctx, name, settings, DigitalOcean::DEFAULT_BASE_URL)?;
            let token = tokens::token(ctx, tokens::DIGITALOCEAN, settings, "provider")?;
            Arc::new(DigitalOcean::new(ApiConfig::new(url, token))?)
        }
        other => anyhow::bail!(
            "unknown provider `{other}` in the inventory's `provider` settings; known providers: \
             local, hetzner, digitalocean"
        ),
    })
}

/// The API endpoint of cloud provider `name`: the provider table's `api_url` (another endpoint,
/// e.g. a proxy, or the fake APIs dm's tests run `boot` against), else `default`. The token goes
/// with every request, so it must be `https://`, or `http://` to this machine only; a
/// non-default endpoint is said on every run.
fn api_url(ctx: &Ctx, name: &str, settings: &toml::Table, default: &str) -> anyhow::Result<String> {
    let url = match settings.get("api_url") {
        None => return Ok(default.to_string()),
        Some(toml::Value::String(url)) => url.clone(),
        Some(other) => anyhow::bail!(
            "provider setting api_url = {other} is not a URL; write e.g. api_url = \"{default}\""
        ),
    };
    super::dns::check_api_url(&url)
        .map_err(|why| anyhow::anyhow!("provider {name}: setting api_url: {why}"))?;
    if url != default {
        ctx.log(format!(
            "{name}: using the API at {url} instead of {default}; the token is sent there"
        ));
    }
    Ok(url)
}

/// How to wait for a new server of a provider with `settings` to answer SSH.
pub(crate) fn wait_for(provider: &dyn Provider, settings: &toml::Table) -> anyhow::Result<Wait> {
    let mut wait = Wait::default();
    if provider.name() == "local" {
        // Local machines are up in seconds: poll often.
        wait.timeout = Duration::from_secs(120);
        wait.poll_interval = Duration::from_millis(200);
    }
    if let Some(timeout) = boot_timeout(settings)? {
        wait.timeout = timeout;
    }
    Ok(wait)
}

/// The `boot_timeout` setting (seconds), if given.
fn boot_timeout(settings: &toml::Table) -> anyhow::Result<Option<Duration>> {
    match settings.get("boot_timeout") {
        None => Ok(None),
        Some(toml::Value::Integer(seconds)) if *seconds > 0 => {
            Ok(Some(Duration::from_secs(*seconds as u64)))
        }
        Some(other) => anyhow::bail!(
            "provider setting boot_timeout = {other} is not a number of seconds; write e.g. \
             boot_timeout = 300"
        ),
    }
}
