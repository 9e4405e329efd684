//! Hetzner Cloud over its REST API (`/v1/servers`, `/v1/ssh_keys`).
//!
//! dm marks what it creates with labels: `dm/managed=true`, `dm/name=NAME`, `dm/client-token=..`
//! and `dm.role/ROLE` (empty value) per role, so listing and finding by name never touch servers
//! dm did not make, and an adopted server keeps its roles. Extra tags become labels with an empty
//! value.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;
use serde_json::json;

use crate::act_once::{look_then_act, power_on};
use crate::action::{self, Action, ActionAnswer};
use crate::error::{Error, Result};
use crate::http::{ApiClient, ApiConfig, Dialect};
use crate::provider::{
    BoxFuture, Destroyed, Provider, Server, ServerSpec, ServerStatus, key_material, key_name,
};
use crate::token::Token;

const LABEL_MANAGED: &str = "dm/managed";
const LABEL_NAME: &str = "dm/name";
const LABEL_TOKEN: &str = "dm/client-token";
const LABEL_ROLE_PREFIX: &str = "dm.role/";

/// Hetzner Cloud servers.
#[derive(Debug, Clone)]
pub struct Hetzner {
    api: ApiClient,
}

impl Hetzner {
    /// The public API; tests and examples point [`ApiConfig::base_url`] elsewhere.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.hetzner.cloud/v1";
    /// The environment variable holding the API token.
    pub const TOKEN_VAR: &'static str = "HCLOUD_TOKEN";

    /// A client for the account behind `cfg.token`.
    pub fn new(cfg: ApiConfig) -> Result<Hetzner> {
        Ok(Hetzner {
            api: ApiClient::new(Dialect::Hetzner, cfg)?,
        })
    }

    /// A client for the public API with the token from `HCLOUD_TOKEN`.
    pub fn from_env() -> Result<Hetzner> {
        let token = Token::from_env(Self::TOKEN_VAR, Dialect::Hetzner.provider())?;
        Hetzner::new(ApiConfig::new(Self::DEFAULT_BASE_URL, token))
    }

    /// The ids of `keys` in the project, registering the ones that are missing.
    async fn ensure_ssh_keys(&self, keys: &[String]) -> Result<Vec<u64>> {
        let mut known: Vec<SshKey> = self.api.get_all("/ssh_keys", "ssh_keys", &[]).await?;
        let mut ids = Vec::new();
        for key in keys {
            let Some(material) = key_material(key) else {
                continue;
            };
            let found = |known: &[SshKey]| {
                known
                    .iter()
                    .find(|k| key_material(&k.public_key).as_deref() == Some(material.as_str()))
                    .map(|k| k.id)
            };
            if let Some(id) = found(&known) {
                ids.push(id);
                continue;
            }
            let body = json!({
                "name": key_name(&material),
                "public_key": material,
                "labels": { LABEL_MANAGED: "true" },
            });
            match self.api.post::<SshKeyCreated>("/ssh_keys", &body).await {
                Ok(created) => ids.push(created.ssh_key.id),
                // Another run registered it between our list and our create: use theirs.
                Err(Error::Rejected { status: 409, .. }) => {
                    known = self.api.get_all("/ssh_keys", "ssh_keys", &[]).await?;
                    match found(&known) {
                        Some(id) => ids.push(id),
                        None => {
                            return Err(Error::InvalidSpec {
                                name: key_name(&material),
                                message: "Hetzner refused to register the SSH key as a \
                                          duplicate, yet it is not in the project's key list"
                                    .into(),
                            });
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    }

    async fn servers(&self, selector: String) -> Result<Vec<Server>> {
        let raw: Vec<HServer> = self
            .api
            .get_all("/servers", "servers", &[("label_selector", selector)])
            .await?;
        raw.into_iter().map(|s| self.convert(s)).collect()
    }

    async fn find_server(&self, name: &str) -> Result<Option<Server>> {
        let found = self.servers(format!("{LABEL_NAME}={name}")).await?;
        Ok(found.into_iter().find(|s| s.name == name))
    }

    async fn create_server(&self, spec: &ServerSpec) -> Result<Server> {
        spec.validate()?;
        let key_ids = self.ensure_ssh_keys(&spec.ssh_keys).await?;
        let mut labels = serde_json::Map::new();
        labels.insert(LABEL_MANAGED.into(), "true".into());
        labels.insert(LABEL_NAME.into(), spec.name.clone().into());
        if let Some(token) = &spec.client_token {
            labels.insert(LABEL_TOKEN.into(), token.clone().into());
        }
        for role in &spec.roles {
            labels.insert(format!("{LABEL_ROLE_PREFIX}{role}"), "".into());
        }
        for tag in &spec.tags {
            labels.insert(tag.clone(), "".into());
        }
        let body = json!({
            "name": spec.name,
            "server_type": spec.size,
            "image": spec.image,
            "location": spec.region,
            "ssh_keys": key_ids,
            "user_data": spec.effective_user_data(),
            "labels": labels,
            "start_after_create": true,
        });
        // Idempotent by name: a server dm made under this name (by an earlier, interrupted run,
        // or by the attempt whose answer was lost) is adopted, not duplicated.
        look_then_act(
            "create Hetzner server",
            &spec.name,
            self.api.retry(),
            || self.find_server(&spec.name),
            || async { self.convert(self.api.post::<Created>("/servers", &body).await?.server) },
        )
        .await
    }

    async fn get_server(&self, id: u64) -> Result<Server> {
        let one: One = self.api.get(&format!("/servers/{id}"), &[]).await?;
        self.convert(one.server)
    }

    /// `POST /servers/{id}/actions/poweron` unless the server runs or starts already, then the
    /// server as `GET /servers/{id}` reports it. See [`power_on`].
    async fn start_server(&self, id: &str) -> Result<Server> {
        let id = numeric_id(id)?;
        let server_id = id.to_string();
        let path = format!("/servers/{id}/actions/poweron");
        // The action takes no parameters; the client sends a JSON body with every POST, so an
        // empty object.
        let body = json!({});
        power_on(
            &format!("Hetzner server {id}"),
            self.api.retry(),
            || self.get_server(id),
            || self.api.post::<ActionAnswer>(&path, &body),
            |started| action::follow(&self.api, &server_id, started),
        )
        .await
    }

    /// The running action of `command` on server `id`, if there is one
    /// (`GET /servers/{id}/actions?status=running`).
    async fn running_action(&self, id: u64, command: &str) -> Result<Option<Action>> {
        let running: Vec<Action> = self
            .api
            .get_all(
                &format!("/servers/{id}/actions"),
                "actions",
                &[("status", "running".to_string())],
            )
            .await?;
        Ok(running.into_iter().find(|a| a.command == command))
    }

    fn convert(&self, s: HServer) -> Result<Server> {
        let bad_ip = |ip: &str| Error::Decode {
            provider: self.api.provider(),
            request: format!("GET /servers/{}", s.id),
            message: format!("`{ip}` is not an IPv4 address"),
        };
        let public_ipv4 = match s.public_net.as_ref().and_then(|n| n.ipv4.as_ref()) {
            Some(v4) => Some(v4.ip.parse::<Ipv4Addr>().map_err(|_| bad_ip(&v4.ip))?),
            None => None,
        };
        let private_ipv4 = match s.private_net.first() {
            Some(p) => Some(p.ip.parse::<Ipv4Addr>().map_err(|_| bad_ip(&p.ip))?),
            None => None,
        };
        let status = match s.status.as_str() {
            "running" => ServerStatus::Running,
            "initializing" | "starting" => ServerStatus::Starting,
            "off" | "stopping" => ServerStatus::Off,
            "deleting" => ServerStatus::Deleting,
            other => ServerStatus::Other(other.to_string()),
        };
        let roles = s
            .labels
            .keys()
            .filter_map(|k| k.strip_prefix(LABEL_ROLE_PREFIX))
            .map(str::to_string)
            .collect();
        Ok(Server {
            name: s.name,
            provider: "hetzner".into(),
            id: s.id.to_string(),
            public_ipv4,
            private_ipv4,
            status,
            roles,
            client_token: s.labels.get(LABEL_TOKEN).cloned(),
        })
    }
}

/// A Hetzner server id is a number; anything else would build a different URL path.
fn numeric_id(id: &str) -> Result<u64> {
    id.parse::<u64>().map_err(|_| Error::InvalidSpec {
        name: id.to_string(),
        message: "not a Hetzner server id (a number)".into(),
    })
}

impl Provider for Hetzner {
    fn name(&self) -> &str {
        "hetzner"
    }

    fn create<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Server>> {
        Box::pin(self.create_server(spec))
    }

    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Destroyed>> {
        Box::pin(async move {
            let id = numeric_id(id)?;
            let action = match self
                .api
                .delete_answer::<ActionAnswer>(&format!("/servers/{id}"))
                .await
            {
                Ok(answer) => answer.action,
                Err(e) if e.is_not_found() => return Ok(Destroyed::AlreadyGone),
                // `locked`: an action runs on the server. When it is the delete of an earlier
                // destroy (one that timed out, or was interrupted), follow that one.
                Err(e @ Error::Rejected { status: 423, .. }) => {
                    match self.running_action(id, "delete_server").await? {
                        Some(action) => action,
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            // The DELETE only starts the deletion: the server exists (and is billed) until its
            // `delete_server` action succeeds, and stays if the action fails.
            action::follow(&self.api, &id.to_string(), action).await?;
            Ok(Destroyed::Deleted)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Server>>> {
        Box::pin(self.servers(format!("{LABEL_MANAGED}=true")))
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>> {
        Box::pin(async move {
            let id = numeric_id(id)?;
            self.get_server(id).await
        })
    }

    fn find<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Server>>> {
        Box::pin(self.find_server(name))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>> {
        Box::pin(self.start_server(id))
    }
}

/// A server in the API's answers (only the fields dm uses).
#[derive(Debug, Deserialize)]
struct HServer {
    id: u64,
    name: String,
    status: String,
    public_net: Option<PublicNet>,
    #[serde(default)]
    private_net: Vec<PrivateNet>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PublicNet {
    ipv4: Option<Ipv4>,
}

#[derive(Debug, Deserialize)]
struct Ipv4 {
    ip: String,
}

#[derive(Debug, Deserialize)]
struct PrivateNet {
    ip: String,
}

/// `POST /servers` answer: `{server, action, next_actions, root_password}`; the root password
/// (null when keys are given) is deliberately not read.
#[derive(Debug, Deserialize)]
struct Created {
    server: HServer,
}

#[derive(Debug, Deserialize)]
struct One {
    server: HServer,
}

#[derive(Debug, Deserialize)]
struct SshKey {
    id: u64,
    public_key: String,
}

#[derive(Debug, Deserialize)]
struct SshKeyCreated {
    ssh_key: SshKey,
}
