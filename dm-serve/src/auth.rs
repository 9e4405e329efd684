//! API tokens: `dm_<id>_<secret>`, with 256 random bits of secret, shown once when created and
//! stored only as the SHA-256 of the secret. The public id finds the stored row; the secret's
//! hash is compared in constant time, so neither the database nor the timing of a refusal gives
//! a token away.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, now_ms};

/// What every token starts with (so secret scanners and people recognise one).
const PREFIX: &str = "dm_";

/// A freshly made token: the whole text (shown once) and what the store keeps of it.
#[derive(Debug)]
pub struct NewToken {
    /// The token as the client sends it: `dm_<id>_<secret>`.
    pub token: String,
    /// Its public id.
    pub id: String,
    /// SHA-256 of its secret part, hex.
    pub secret_sha256: String,
}

/// The hex SHA-256 of a token's secret part.
fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Makes a new random token.
pub fn generate() -> Result<NewToken, getrandom::Error> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    Ok(NewToken {
        token: format!("{PREFIX}{id}_{secret}"),
        secret_sha256: hash(&secret),
        id,
    })
}

/// A token's public id and secret part, if it has the shape of one.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Why a request's token was refused (each says what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a token of this server, or a wrong secret.
    Invalid,
    /// Expired.
    Expired,
    /// Revoked.
    Revoked,
}

impl Refused {
    /// The message of the 401 response.
    pub fn message(&self) -> &'static str {
        match self {
            Refused::Missing => {
                "no API token: send `Authorization: Bearer TOKEN` (`serve token create USER` makes one)"
            }
            Refused::Invalid => "the API token is not valid for this server",
            Refused::Expired => {
                "the API token has expired: `serve token create USER` makes a new one"
            }
            Refused::Revoked => "the API token was revoked",
        }
    }
}

/// The user a presented token belongs to, or why it is refused.
pub async fn verify(
    store: &Store,
    presented: Option<&str>,
) -> Result<Result<String, Refused>, StoreError> {
    let Some(presented) = presented else {
        return Ok(Err(Refused::Missing));
    };
    let Some((id, secret)) = split(presented) else {
        return Ok(Err(Refused::Invalid));
    };
    let Some(row) = store.token(id).await? else {
        return Ok(Err(Refused::Invalid));
    };
    let matches: bool = hash(secret)
        .as_bytes()
        .ct_eq(row.secret_sha256.as_bytes())
        .into();
    Ok(if !matches {
        Err(Refused::Invalid)
    } else if row.revoked_at.is_some() {
        Err(Refused::Revoked)
    } else if row.expires_at.is_some_and(|at| at <= now_ms()) {
        Err(Refused::Expired)
    } else {
        Ok(row.user)
    })
}

/// Reads a lifetime such as `30d`, `12h`, `90m` or `3600s` into milliseconds.
pub fn parse_lifetime(text: &str) -> Result<i64, String> {
    let refuse =
        || format!("--expires {text}: give a number and a unit, e.g. 30d, 12h, 90m or 3600s");
    let split = text.len().checked_sub(1).ok_or_else(refuse)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| refuse())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(refuse()),
    };
    if number <= 0 {
        return Err(refuse());
    }
    number.checked_mul(unit_ms).ok_or_else(refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a.token, b.token);
        let (id, secret) = split(&a.token).unwrap();
        assert_eq!(id, a.id);
        assert_eq!(secret.len(), 64, "256 bits, hex");
        assert!(!a.secret_sha256.contains(secret));
        assert_eq!(hash(secret), a.secret_sha256);
        assert_eq!(split("dm_x"), None);
        assert_eq!(split("Bearer"), None);
    }

    #[test]
    fn lifetimes_read_with_their_unit() {
        assert_eq!(parse_lifetime("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_lifetime("90m"), Ok(90 * 60_000));
        assert!(parse_lifetime("30").is_err());
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("").is_err());
        assert!(parse_lifetime("1y").is_err());
    }

    #[tokio::test]
    async fn a_token_works_until_revoked_and_a_wrong_secret_never() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.sqlite")).await.unwrap();
        assert!(store.add_user("ann").await.unwrap());
        let new = generate().unwrap();
        assert!(
            store
                .add_token("ann", &new.id, &new.secret_sha256, None)
                .await
                .unwrap()
        );
        assert_eq!(
            verify(&store, Some(&new.token)).await.unwrap(),
            Ok("ann".into())
        );
        let forged = format!("dm_{}_{}", new.id, "0".repeat(64));
        assert_eq!(
            verify(&store, Some(&forged)).await.unwrap(),
            Err(Refused::Invalid)
        );
        assert_eq!(verify(&store, None).await.unwrap(), Err(Refused::Missing));
        assert!(store.revoke_token(&new.id).await.unwrap());
        assert_eq!(
            verify(&store, Some(&new.token)).await.unwrap(),
            Err(Refused::Revoked)
        );
        let old = generate().unwrap();
        store
            .add_token("ann", &old.id, &old.secret_sha256, Some(1))
            .await
            .unwrap();
        assert_eq!(
            verify(&store, Some(&old.token)).await.unwrap(),
            Err(Refused::Expired)
        );
    }
}
