//! Cloud API tokens: from the environment variable when it is set, else from the secrets store
//! of the run's environment, so a team can keep the token encrypted next to the inventory
//! instead of in every operator's shell.

use dm_core::Ctx;
use dm_providers::Token;

/// Where a provider's token is looked for: its environment variable, then a secret.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenSource {
    /// What the token is for, in messages (`Hetzner Cloud`, `DigitalOcean DNS`).
    pub label: &'static str,
    /// The environment variable tried first (`HCLOUD_TOKEN`).
    pub var: &'static str,
    /// The secret read when the variable is unset and the settings name no other (`hcloud_token`).
    pub default_secret: &'static str,
}

/// Hetzner Cloud: `HCLOUD_TOKEN`, else the secret `hcloud_token`.
pub(crate) const HETZNER: TokenSource = TokenSource {
    label: "Hetzner Cloud",
    var: dm_providers::Hetzner::TOKEN_VAR,
    default_secret: "hcloud_token",
};

/// DigitalOcean (droplets): `DIGITALOCEAN_TOKEN`, else the secret `digitalocean_token`.
pub(crate) const DIGITALOCEAN: TokenSource = TokenSource {
    label: "DigitalOcean",
    var: dm_providers::DigitalOcean::TOKEN_VAR,
    default_secret: "digitalocean_token",
};

/// DigitalOcean's Domains API: the same account token as the droplets.
pub(crate) const DIGITALOCEAN_DNS: TokenSource = TokenSource {
    label: "DigitalOcean DNS",
    ..DIGITALOCEAN
};

/// The token of `source`: the environment variable when set and not empty, else the secret
/// named by `settings`' `token_secret` (default `source.default_secret`), read with
/// [`Ctx::secret`]. Either way the value is registered for redaction, so no output of the run
/// can show it. `table` names the settings in messages (`provider`, `[dns]`).
pub(crate) fn token(
    ctx: &Ctx,
    source: TokenSource,
    settings: &toml::Table,
    table: &str,
) -> anyhow::Result<Token> {
    if let Ok(value) = std::env::var(source.var)
        && !value.trim().is_empty()
    {
        let token = Token::new(value);
        dm_core::redact::register(token.expose());
        return Ok(token);
    }
    let key = match settings.get("token_secret") {
        None => source.default_secret,
        Some(toml::Value::String(key)) if !key.trim().is_empty() => key.trim(),
        Some(other) => anyhow::bail!(
            "{table} setting token_secret = {other} is not a secret's name; write e.g. \
             token_secret = \"{}\"",
            source.default_secret
        ),
    };
    match ctx.secret(key) {
        Ok(value) if !value.trim().is_empty() => {
            let token = Token::new(value);
            dm_core::redact::register(token.expose());
            Ok(token)
        }
        Ok(_) => anyhow::bail!(
            "{}: no API token: {} is not set and the secret `{key}` is empty; set one of them to \
             a token with read/write access",
            source.label,
            source.var
        ),
        Err(why) => anyhow::bail!(
            "{}: no API token: set the environment variable {} or store the token in the \
             secrets (`secrets set ENV {key}`); the secret could not be read: {why:#}",
            source.label,
            source.var
        ),
    }
}
