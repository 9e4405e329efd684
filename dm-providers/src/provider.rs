//! The provider trait: what dm asks of any place servers come from (a cloud, or local machines),
//! and the specs and server descriptions that pass through it.

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::time::Instant;

/// Where a server is in its life: part of the state file's schema, defined in dm-core.
pub use dm_core::inventory::state_file::ServerStatus;

use crate::error::{Error, Result};
use crate::ready::{self, Wait};

/// A boxed future, so that [`Provider`] can be used as `dyn Provider` (the provider is chosen
/// from configuration at run time).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to boot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSpec {
    /// The server's name, also its hostname (`appnode2`). Unique per provider: creating a name
    /// that exists adopts the existing server.
    pub name: String,
    /// The provider's size / server type, e.g. `cx22` or `s-1vcpu-1gb`.
    pub size: String,
    /// The image name, slug or id, e.g. `debian-12`.
    pub image: String,
    /// The location / region, e.g. `fsn1` or `fra1`.
    pub region: String,
    /// Public keys (`ssh-ed25519 AAAA... comment` lines) allowed to log in as root.
    pub ssh_keys: Vec<String>,
    /// Extra tags (DigitalOcean tags, Hetzner labels with an empty value).
    pub tags: Vec<String>,
    /// The server's roles in the inventory (`appnode`); recorded at the provider so an adopted
    /// server keeps them.
    pub roles: Vec<String>,
    /// cloud-init user data; `None` for dm's own ([`crate::cloud_init::user_data`]: the SSH keys
    /// for root and the hostname).
    pub user_data: Option<String>,
    /// A token identifying one create attempt, recorded at the provider (label/tag) and in the
    /// state file, so a later run can tell its own half-created server from a stranger's.
    /// Set by [`crate::State::create`]; `None` is fine when calling a provider directly.
    pub client_token: Option<String>,
    /// The inventory environment the server is booted for; recorded in the state file only.
    pub environment: Option<String>,
}

impl ServerSpec {
    /// A spec with a name, size, image and region; keys, tags and roles empty.
    pub fn new(
        name: impl Into<String>,
        size: impl Into<String>,
        image: impl Into<String>,
        region: impl Into<String>,
    ) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            size: size.into(),
            image: image.into(),
            region: region.into(),
            ..ServerSpec::default()
        }
    }

    /// Checks what can be checked before calling an API: the name is a valid hostname, the
    /// keys look like OpenSSH public keys, size, image and region are given.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Error::InvalidSpec {
            name: self.name.clone(),
            message,
        };
        if !is_hostname(&self.name) {
            return Err(invalid(
                "the name must be a valid hostname: letters, digits and `-`, at most 63 \
                 characters, not starting or ending with `-`"
                    .into(),
            ));
        }
        for (what, value) in [
            ("size", &self.size),
            ("image", &self.image),
            ("region", &self.region),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("no {what} given")));
            }
        }
        if self.ssh_keys.is_empty() {
            return Err(invalid(
                "no SSH public key given: without one nobody could log in".into(),
            ));
        }
        for key in &self.ssh_keys {
            if key_material(key).is_none() {
                return Err(invalid(format!(
                    "`{}` is not an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)",
                    key.chars().take(40).collect::<String>()
                )));
            }
        }
        Ok(())
    }

    /// The user data to send: the spec's own, or dm's cloud-init.
    pub fn effective_user_data(&self) -> String {
        self.user_data
            .clone()
            .unwrap_or_else(|| crate::cloud_init::user_data(&self.name, &self.ssh_keys))
    }
}

/// `type base64` of a public key line, without the comment: how keys are compared.
pub(crate) fn key_material(line: &str) -> Option<String> {
    let mut parts = line.split_whitespace();
    let kind = parts.next()?;
    let data = parts.next()?;
    let known = kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
    let base64 = data
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    (known && base64 && data.len() > 16).then(|| format!("{kind} {data}"))
}

/// The name dm registers a public key under at a provider: `dm-` and a hash of the key material,
/// so the same key always gets the same name and a second run finds it.
pub(crate) fn key_name(material: &str) -> String {
    // FNV-1a: stable across Rust versions, unlike the standard hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in material.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("dm-{hash:016x}")
}

pub(crate) fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A server as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its name (hostname).
    pub name: String,
    /// The provider's short name: `hetzner`, `digitalocean`, `local`.
    pub provider: String,
    /// The provider's id for it (Hetzner server id, DigitalOcean droplet id), as text.
    pub id: String,
    /// Public IPv4 address, once assigned.
    pub public_ipv4: Option<Ipv4Addr>,
    /// Private network IPv4 address, if it has one.
    pub private_ipv4: Option<Ipv4Addr>,
    /// Current status.
    pub status: ServerStatus,
    /// Roles recorded at the provider when it was created.
    pub roles: Vec<String>,
    /// The create attempt's token recorded at the provider, if any.
    pub client_token: Option<String>,
}

impl Server {
    /// The address to connect to: public if it has one, else private.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.public_ipv4.or(self.private_ipv4)
    }
}

/// What [`Provider::destroy`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destroyed {
    /// The server existed and the provider says it is deleted now (its delete finished).
    Deleted,
    /// There was no such server (already destroyed): nothing to do.
    AlreadyGone,
}

/// A place servers come from.
///
/// Implementations make `create` idempotent by name (an existing server with that name, made by
/// dm, is returned instead of creating a second one) and `destroy` idempotent by id (a server
/// that is gone already is [`Destroyed::AlreadyGone`], not an error), so that a run that was
/// interrupted can simply be repeated.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The short name recorded in the state file: `hetzner`, `digitalocean`, `local`.
    fn name(&self) -> &str;

    /// Creates a server from `spec` (or adopts the one that exists by that name) and returns it
    /// as the provider reports it right after creation, usually still starting.
    fn create<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Server>>;

    /// Destroys the server with this provider id, returning once the provider says it is gone
    /// (a delete the API carries out later is followed to its end; one that fails is an error,
    /// and the server is then still there).
    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Destroyed>>;

    /// Every server of this provider account that dm created.
    fn list(&self) -> BoxFuture<'_, Result<Vec<Server>>>;

    /// The server with this provider id, as it is now; [`Error::NotFound`] if it does not exist.
    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>>;

    /// The server dm created under this name, if there is one.
    fn find<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Server>>>;

    /// Powers on the server with this provider id, which is off (a local machine after this host
    /// rebooted, a cloud server shut down), keeping its disk, addresses and host key; returns it
    /// as the provider reports it right after, usually still starting. A server that runs
    /// already is returned as it is.
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Server>>;

    /// Waits until the provider says the server is running and its SSH port accepts TCP
    /// connections; returns it as last seen. See [`Wait`] for the timeout and the port.
    fn wait_ready<'a>(&'a self, id: &'a str, wait: &'a Wait) -> BoxFuture<'a, Result<Server>> {
        Box::pin(wait_ready(self, id, wait))
    }
}

/// The body of [`Provider::wait_ready`]: polls the provider until the server runs and its SSH port
/// answers ([`ready::probe`]).
async fn wait_ready<P: Provider + ?Sized>(provider: &P, id: &str, wait: &Wait) -> Result<Server> {
    let start = Instant::now();
    let mut name = id.to_string();
    loop {
        // A missing server will not appear by waiting; other errors (after the client's own
        // retries) end the wait too, with their own message.
        let server = provider.status(id).await?;
        name.clone_from(&server.name);
        let last = if server.status != ServerStatus::Running {
            format!("the provider says `{}`", server.status)
        } else {
            match server.address() {
                None => "running, but it has no IPv4 address yet".to_string(),
                Some(ip) => match ready::probe(ip, wait).await {
                    Ok(()) => {
                        tracing::debug!(server = %server.name, %ip, "SSH port answers");
                        return Ok(server);
                    }
                    Err(why) => format!(
                        "the provider says running, but port {} on {ip} {why}",
                        wait.ssh_port
                    ),
                },
            }
        };
        let elapsed = start.elapsed();
        if elapsed >= wait.timeout {
            return Err(Error::NotReady {
                provider: provider.name().to_string(),
                name,
                waited: elapsed,
                last,
            });
        }
        tracing::trace!(server = %name, %last, "not ready yet");
        tokio::time::sleep(wait.poll_interval.min(wait.timeout - elapsed)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServerSpec {
        let mut s = ServerSpec::new("appnode2", "cx22", "debian-12", "fsn1");
        s.ssh_keys
            .push("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0xcNz0ylMx op@laptop".into());
        s
    }

    #[test]
    fn a_good_spec_validates() {
        assert!(spec().validate().is_ok());
    }

    #[test]
    fn bad_names_and_keys_are_refused_before_any_call() {
        let mut s = spec();
        s.name = "app_node".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("valid hostname")
        );
        let mut s = spec();
        s.ssh_keys = vec!["not a key".into()];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("OpenSSH public key")
        );
        let mut s = spec();
        s.ssh_keys.clear();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("no SSH public key")
        );
    }

    #[test]
    fn status_round_trips() {
        for s in [
            "creating",
            "starting",
            "running",
            "off",
            "deleting",
            "migrating",
        ] {
            assert_eq!(ServerStatus::parse(s).as_str(), s);
        }
    }
}
