//! The servers state file's schema (`servers.state.toml`, next to the inventory): what dm booted.
//! One definition of its records and its layout, written by dm-providers' `State` (which adds
//! the lock, the atomic writes and the reconciling) and read by inventory loading
//! ([`super::booted`]), so the two cannot drift apart.
//!
//! Format version 2 keys the record of a server booted for an environment `NAME@ENV`; version 1
//! files (keyed by the name alone, the environment inside the record) still load.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The state file's name, in the inventory's directory.
pub const FILE_NAME: &str = "servers.state.toml";

/// The format version written; a writer refuses a file from a newer dm rather than misread it.
pub const VERSION: u32 = 2;

/// `servers.state.toml` in the directory of `inventory` (the `dm.toml` path).
pub fn path_next_to(inventory: &Path) -> PathBuf {
    inventory
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(FILE_NAME)
}

/// The state file key of server `name` booted for `environment`: `NAME`, or `NAME@ENV`.
pub fn key_of(name: &str, environment: Option<&str>) -> String {
    match environment {
        Some(environment) => format!("{name}@{environment}"),
        None => name.to_string(),
    }
}

/// The file's layout.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    /// The format version it was written in ([`VERSION`] by this dm).
    pub version: u32,
    /// The records, by key ([`key_of`]).
    #[serde(default)]
    pub servers: BTreeMap<String, Record>,
}

impl StateFile {
    /// Parses the text of a state file (records as written: see [`StateFile::into_records`]).
    pub fn parse(text: &str) -> Result<StateFile, toml::de::Error> {
        toml::from_str(text)
    }

    /// The file as written, [`VERSION`], holding `records` (keyed by [`Record::key`]).
    pub fn render(records: &BTreeMap<String, Record>) -> Result<String, toml::ser::Error> {
        toml::to_string(&StateFile {
            version: VERSION,
            servers: records.clone(),
        })
    }

    /// The records keyed by [`Record::key`], each with its name and environment taken from the
    /// key it was written under: `NAME@ENV` (version 2), or `NAME` with the environment in the
    /// record (version 1, rewritten under its version 2 key by the next change).
    pub fn into_records(self) -> BTreeMap<String, Record> {
        self.servers
            .into_iter()
            .map(|(key, mut r)| {
                match key.split_once('@') {
                    Some((name, environment)) => {
                        r.name = name.to_string();
                        r.environment = Some(environment.to_string());
                    }
                    None => r.name = key,
                }
                (r.key(), r)
            })
            .collect()
    }
}

/// One server in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The server's name (the key of its table in the file).
    #[serde(skip)]
    pub name: String,
    /// The provider's short name (`hetzner`, `digitalocean`, `local`).
    pub provider: String,
    /// The provider's id; `None` while `creating` and the provider has not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Public IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ipv4: Option<Ipv4Addr>,
    /// Private IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ipv4: Option<Ipv4Addr>,
    /// Roles in the inventory.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Last known status (`creating` and `deleting` are dm's own, see [`ServerStatus`]).
    pub status: ServerStatus,
    /// When the record was first written, RFC 3339 UTC.
    pub created_at: String,
    /// The token of the create attempt, also recorded at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// The inventory environment it was booted for (`-E`): the server is used by runs of that
    /// environment only (and by another one whose `servers` list names it); `None`: booted in a
    /// run without an environment, used by every run (as format version 1 records were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The server's name at the provider when it is not `name`: a server booted for one
    /// environment under a name another environment's server already has at the provider
    /// (`lb1-staging`). Read it with [`Record::provider_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_at_provider: Option<String>,
}

impl Record {
    /// The key of the record in the state file: `NAME`, or `NAME@ENV` for a server booted for
    /// an environment.
    pub fn key(&self) -> String {
        key_of(&self.name, self.environment.as_deref())
    }

    /// The server's name at its provider (a local machine's hostname, a cloud server's name).
    pub fn provider_name(&self) -> &str {
        self.name_at_provider.as_deref().unwrap_or(&self.name)
    }

    /// The address to connect to: public if known, else private.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.public_ipv4.or(self.private_ipv4)
    }
}

/// Where a server is in its life, in dm's words (each provider maps its own statuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Only in the state file: dm is about to ask (or asked) the provider to create it and has
    /// not heard back.
    Creating,
    /// Created, booting (Hetzner `initializing`/`starting`, DigitalOcean `new`).
    Starting,
    /// Running (Hetzner `running`, DigitalOcean `active`). SSH may still take a moment.
    Running,
    /// Powered off (Hetzner `off`/`stopping`, DigitalOcean `off`/`archive`).
    Off,
    /// Only in the state file: dm asked the provider to destroy it and has not heard back.
    Deleting,
    /// Any other status, as the provider spells it.
    Other(String),
}

impl ServerStatus {
    /// The status as written in the state file and shown in tables.
    pub fn as_str(&self) -> &str {
        match self {
            ServerStatus::Creating => "creating",
            ServerStatus::Starting => "starting",
            ServerStatus::Running => "running",
            ServerStatus::Off => "off",
            ServerStatus::Deleting => "deleting",
            ServerStatus::Other(s) => s,
        }
    }

    /// The inverse of [`ServerStatus::as_str`].
    pub fn parse(s: &str) -> ServerStatus {
        match s {
            "creating" => ServerStatus::Creating,
            "starting" => ServerStatus::Starting,
            "running" => ServerStatus::Running,
            "off" => ServerStatus::Off,
            "deleting" => ServerStatus::Deleting,
            other => ServerStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ServerStatus {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServerStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ServerStatus::parse(&s))
    }
}
