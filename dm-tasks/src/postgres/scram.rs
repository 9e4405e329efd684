//! SCRAM-SHA-256 password verifiers, as PostgreSQL stores them in `pg_authid.rolpassword`.
//!
//! dm computes the verifier on the controlling machine and sends only that to the server
//! (`ALTER ROLE .. PASSWORD 'SCRAM-SHA-256$...'`, which PostgreSQL stores as given), so the
//! plain password never travels, never sits in a server log, and never appears in a process list.
//! Checking whether the stored verifier belongs to the wanted password is done the same way:
//! the verifier is read from the server and the password is tested against it locally.
//!
//! Format (RFC 5802, RFC 7677; PostgreSQL's `scram_build_secret`):
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 for binary fields.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// PostgreSQL's default iteration count (`scram_iterations`).
const ITERATIONS: u32 = 4096;

/// Salt length PostgreSQL uses (`SCRAM_DEFAULT_SALT_LEN`).
const SALT_LEN: usize = 16;

/// A new verifier for `password`, with a fresh random salt.
pub(crate) fn verifier(password: &str) -> std::io::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt)?;
    Ok(verifier_with_salt(password, &salt, ITERATIONS))
}

/// The verifier for `password` with a given salt and iteration count.
fn verifier_with_salt(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored_key, server_key) = keys(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

/// Whether `stored` (a `pg_authid.rolpassword` value) is a SCRAM verifier of `password`.
/// Anything else (no password, an md5 hash, a damaged value) does not match: the password is
/// then set again.
pub(crate) fn matches(stored: &str, password: &str) -> bool {
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((iterations_salt, keys_part)) = rest.split_once('$') else {
        return false;
    };
    let Some((iterations, salt)) = iterations_salt.split_once(':') else {
        return false;
    };
    let Some((stored_key, server_key)) = keys_part.split_once(':') else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(stored_key), Ok(server_key)) = (
        iterations.parse::<u32>(),
        BASE64.decode(salt),
        BASE64.decode(stored_key),
        BASE64.decode(server_key),
    ) else {
        return false;
    };
    if iterations == 0 {
        return false;
    }
    let (want_stored, want_server) = keys(password, &salt, iterations);
    want_stored.as_slice() == stored_key.as_slice()
        && want_server.as_slice() == server_key.as_slice()
}

/// StoredKey and ServerKey of RFC 5802 for `password`.
fn keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    let salted: [u8; 32] =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac(&salted, b"Server Key");
    (stored_key, server_key)
}

/// HMAC-SHA-256 of `message` under a 32-byte `key` (RFC 2104, written out: the `hmac` crate's
/// constructor is fallible for the sake of fixed-key MACs, which would need an error path here
/// that can never be taken).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for (i, byte) in key.iter().enumerate() {
        inner_pad[i] ^= byte;
        outer_pad[i] ^= byte;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Fills `buf` from the operating system's random source.
fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange: password `pencil`, this salt and 4096 iterations give a
    /// ServerKey whose signature of the exchange is the one the RFC prints.
    #[test]
    fn server_key_matches_rfc_7677() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let (_, server_key) = keys("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac(&server_key, auth_message.as_bytes());
        assert_eq!(
            BASE64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let ours = verifier_with_salt("pencil", &salt, 4096);
        assert!(matches(&ours, "pencil"));
        assert!(!matches(&ours, "pencil2"));
    }

    #[test]
    fn a_fresh_verifier_matches_its_password_only() {
        let v = verifier("s3cret pass").expect("random");
        assert!(matches(&v, "s3cret pass"));
        assert!(!matches(&v, "s3cret"));
        let other = verifier("s3cret pass").expect("random");
        assert_ne!(v, other, "every verifier has its own salt");
    }

    #[test]
    fn other_stored_values_do_not_match() {
        assert!(!matches("", "x"));
        assert!(!matches("md5abcdef", "x"));
        assert!(!matches("SCRAM-SHA-256$0:AAAA$AAAA:AAAA", "x"));
        assert!(!matches("SCRAM-SHA-256$4096:!!$AAAA:AAAA", "x"));
    }
}
