//! DigitalOcean droplets over its REST API (`/v2/droplets`, `/v2/account/keys`).
//!
//! dm marks what it creates with tags: `dm`, `dm-name:NAME`, `dm-token:TOKEN` and
//! `dm-role:ROLE` per role. DigitalOcean allows several droplets with one name, so finding by name
//! goes through the `dm-name:` tag, which only dm sets.

use std::net::Ipv4Addr;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::act_once::{look_then_act, power_on};
use crate::action::{self, ActionAnswer};
use crate::error::{Error, Result};
use crate::http::{ApiClient, ApiConfig, Dialect};
use crate::provider::{
    BoxFuture, Destroyed, Provider, Server, ServerSpec, ServerStatus, key_material, key_name,
};
use crate::token::Token;

const TAG_MANAGED: &str = "dm";
const TAG_NAME_PREFIX: &str = "dm-name:";
const TAG_TOKEN_PREFIX: &str = "dm-token:";
const TAG_ROLE_PREFIX: &str = "dm-role:";

/// DigitalOcean droplets.
#[derive(Debug, Clone)]
pub struct DigitalOcean {
    api: ApiClient,
}

impl DigitalOcean {
    /// The public API; tests and examples point [`ApiConfig::base_url`] elsewhere.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.digitalocean.com/v2";
    /// The environment variable holding the API token.
    pub const TOKEN_VAR: &'static str = "DIGITALOCEAN_TOKEN";

    /// A client for the account behind `cfg.token`.
    pub fn new(cfg: ApiConfig) -> Result<DigitalOcean> {
        Ok(DigitalOcean {
            api: ApiClient::new(Dialect::DigitalOcean, cfg)?,
        })
    }

    /// A client for the public API with the token from `DIGITALOCEAN_TOKEN`.
    pub fn from_env() -> Result<DigitalOcean> {
        let token = Token::from_env(Self::TOKEN_VAR, Dialect::DigitalOcean.provider())?;
        DigitalOcean::new(ApiConfig::new(Self::DEFAULT_BASE_URL, token))
    }

    /// The ids of `keys` in the account, registering the ones that are missing.
    async fn ensure_ssh_keys(&self, keys: &[String]) -> Result<Vec<u64>> {
        let known: Vec<SshKey> = self.api.get_all("/account/keys", "ssh_keys", &[]).await?;
        let mut ids = Vec::new();
        for key in keys {
            let Some(material) = key_material(key) else {
                continue;
            };
            let existing = known
                .iter()
                .find(|k| key_material(&k.public_key).as_deref() == Some(material.as_str()));
            if let Some(k) = existing {
                ids.push(k.id);
                continue;
            }
            let body = json!({ "name": key_name(&material), "public_key": material });
            let created: SshKeyCreated = self.api.post("/account/keys", &body).await?;
            ids.push(created.ssh_key.id);
        }
        Ok(ids)
    }

    async fn droplets(&self, tag: String) -> Result<Vec<Server>> {
        let raw: Vec<Droplet> = self
            .api
            .get_all("/droplets", "droplets", &[("tag_name", tag)])
            .await?;
        raw.into_iter().map(|d| self.convert(d)).collect()
    }

    async fn find_droplet(&self, name: &str) -> Result<Option<Server>> {
        let found = self.droplets(format!("{TAG_NAME_PREFIX}{name}")).await?;
        Ok(found.into_iter().find(|s| s.name == name))
    }

    async fn create_droplet(&self, spec: &ServerSpec) -> Result<Server> {
        spec.validate()?;
        let key_ids = self.ensure_ssh_keys(&spec.ssh_keys).await?;
        let mut tags = vec![
            TAG_MANAGED.to_string(),
            format!("{TAG_NAME_PREFIX}{}", spec.name),
        ];
        if let Some(token) = &spec.client_token {
            tags.push(format!("{TAG_TOKEN_PREFIX}{token}"));
        }
        tags.extend(spec.roles.iter().map(|r| format!("{TAG_ROLE_PREFIX}{r}")));
        tags.extend(spec.tags.iter().cloned());
        // An all-digit image is a snapshot or image id, which the API wants as a number.
        let image = match spec.image.parse::<u64>() {
            Ok(id) => Value::from(id),
            Err(_) => Value::from(spec.image.clone()),
        };
        let body = json!({
            "name": spec.name,
            "region": spec.region,
            "size": spec.size,
            "image": image,
            "ssh_keys": key_ids,
            "user_data": spec.effective_user_data(),
            "tags": tags,
        });
        // Idempotent by name: DigitalOcean would happily make a second droplet with the same
        // name, so look first, every attempt.
        look_then_act(
            "create droplet",
            &spec.name,
            self.api.retry(),
            || self.find_droplet(&spec.name),
            || async { self.convert(self.api.post::<One>("/droplets", &body).await?.droplet) },
        )
        .await
    }

    async fn get_droplet(&self, id: u64) -> Result<Server> {
        let one: One = self.api.get(&format!("/droplets/{id}"), &[]).await?;
        self.convert(one.droplet)
    }

    /// `POST /droplets/{id}/actions` with `{"type": "power_on"}` unless the droplet is active or
    /// new, then the droplet as `GET /droplets/{id}` reports it (still `off` while it powers
    /// on: DigitalOcean has no status for that). See [`power_on`].
    async fn start_droplet(&self, id: &str) -> Result<Server> {
        let id = numeric_id(id)?;
        let server_id = id.to_string();
        let path = format!("/droplets/{id}/actions");
        let body = json!({ "type": "power_on" });
        power_on(
            &format!("droplet {id}"),
            self.api.retry(),
            || self.get_droplet(id),
            || self.api.post::<ActionAnswer>(&path, &body),
            |started| action::follow(&self.api, &server_id, started),
        )
        .await
    }

    fn convert(&self, d: Droplet) -> Result<Server> {
        let mut public_ipv4 = None;
        let mut private_ipv4 = None;
        for net in &d.networks.v4 {
            let ip = net
                .ip_address
                .parse::<Ipv4Addr>()
                .map_err(|_| Error::Decode {
                    provider: self.api.provider(),
                    request: format!("GET /droplets/{}", d.id),
                    message: format!("`{}` is not an IPv4 address", net.ip_address),
                })?;
            match net.kind.as_str() {
                "public" if public_ipv4.is_none() => public_ipv4 = Some(ip),
                "private" if private_ipv4.is_none() => private_ipv4 = Some(ip),
                _ => {}
            }
        }
        let status = match d.status.as_str() {
            "active" => ServerStatus::Running,
            "new" => ServerStatus::Starting,
            "off" | "archive" => ServerStatus::Off,
            other => ServerStatus::Other(other.to_string()),
        };
        let roles = d
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix(TAG_ROLE_PREFIX))
            .map(str::to_string)
            .collect();
        let client_token = d
            .tags
            .iter()
            .find_map(|t| t.strip_prefix(TAG_TOKEN_PREFIX))
            .map(str::to_string);
        Ok(Server {
            name: d.name,
            provider: "digitalocean".into(),
            id: d.id.to_string(),
            public_ipv4,
            private_ipv4,
            status,
            roles,
            client_token,
        })
    }
}

/// A droplet id is a number; anything else would build a different URL path.
fn numeric_id(id: &str) -> Result<u64> {
    id.parse::<u64>().map_err(|_| Error::InvalidSpec {
        name: id.to_string(),
        message: "not a DigitalOcean droplet id (a number)".into(),
    })
}

impl Provider for DigitalOcean {
    fn name(&self) -> &str {
        "digitalocean"
    }

    fn create<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Server>> {
        Box::pin(self.create_droplet(spec))
    }

    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Destroyed>> {
        Box::pin(async move {
            let id = numeric_id(id)?;
            match self.api.delete(&format!("/droplets/{id}")).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => return Ok(Destroyed::AlreadyGone),
                Err(e) => return Err(e),
            }
            // The 204 only accepts the deletion; the droplet goes (and stops being billed) some
            // time later, which the API tells by answering 404 for it.
            action::until_gone(&self.api, &id.to_string(), "destroy", || {
                self.get_droplet(id)
            })
            .await?;
            Ok(Destroyed::Deleted)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Server>>> {
        Box::pin(self.droplets(TAG_MANAGED.to_string()))
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>> {
        Box::pin(async move {
            let id = numeric_id(id)?;
            self.get_droplet(id).await
        })
    }

    fn find<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Server>>> {
        Box::pin(self.find_droplet(name))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>> {
        Box::pin(self.start_droplet(id))
    }
}

/// A droplet in the API's answers (only the fields dm uses).
#[derive(Debug, Deserialize)]
struct Droplet {
    id: u64,
    name: String,
    status: String,
    #[serde(default)]
    networks: Networks,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Networks {
    #[serde(default)]
    v4: Vec<Network>,
}

#[derive(Debug, Deserialize)]
struct Network {
    ip_address: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `{droplet: {...}}`: the answer of `POST /droplets` and `GET /droplets/{id}`.
#[derive(Debug, Deserialize)]
struct One {
    droplet: Droplet,
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
