//! age encryption and decryption of a whole secrets file in memory.
//!
//! Files are written ASCII-armored (`-----BEGIN AGE ENCRYPTED FILE-----`) so that they stay text in
//! version control and show up readably in reviews; binary age files (from `age` without `-a`) are
//! read as well.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::zeroize::Zeroizing;

/// Why a decryption failed, before it is turned into an error naming the file.
#[derive(Debug)]
pub(crate) enum DecryptFailure {
    /// None of the identities is a recipient of the file.
    NoMatchingKey,
    /// The file is not an age file, or its header or data were altered or cut short.
    Corrupt(String),
}

/// Decrypts a whole (armored or binary) age file with the first identity that is a recipient.
pub(crate) fn decrypt(
    ciphertext: &[u8],
    identities: &[&dyn age::Identity],
) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
    if ciphertext.iter().all(u8::is_ascii_whitespace) {
        return Err(DecryptFailure::Corrupt("the file is empty".into()));
    }
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(ciphertext)).map_err(|e| corrupt_header(&e))?;
    if decryptor.is_scrypt() {
        return Err(DecryptFailure::Corrupt(
            "it is encrypted with a passphrase, not to recipients; dm does not use passphrase files"
                .into(),
        ));
    }
    let mut reader = decryptor
        .decrypt(identities.iter().copied())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptFailure::NoMatchingKey,
            other => corrupt_header(&other),
        })?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plaintext).map_err(|e| {
        DecryptFailure::Corrupt(format!("the encrypted data was altered or cut short: {e}"))
    })?;
    Ok(plaintext)
}

fn corrupt_header(e: &age::DecryptError) -> DecryptFailure {
    DecryptFailure::Corrupt(match e {
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            "it is not an age file, or its header is damaged".to_string()
        }
        age::DecryptError::InvalidMac => {
            "its header was altered after it was written (MAC mismatch)".to_string()
        }
        other => other.to_string(),
    })
}

/// Encrypts `plaintext` to every recipient, ASCII-armored.
pub(crate) fn encrypt(
    plaintext: &[u8],
    recipients: &[&dyn age::Recipient],
) -> Result<Vec<u8>, String> {
    let encryptor = age::Encryptor::with_recipients(recipients.iter().copied())
        .map_err(|e| format!("cannot encrypt to these recipients: {e}"))?;
    let io = |e: std::io::Error| format!("cannot encrypt: {e}");
    let mut out = Vec::new();
    let armored = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armored).map_err(io)?;
    writer.write_all(plaintext).map_err(io)?;
    writer.finish().and_then(|a| a.finish()).map_err(io)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_to_an_age_key() {
        let key = age::x25519::Identity::generate();
        let public = key.to_public();
        let sealed = encrypt(b"a = \"b\"\n", &[&public]).expect("encrypt");
        assert!(sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let opened = decrypt(&sealed, &[&key]).expect("decrypt");
        assert_eq!(opened.as_slice(), b"a = \"b\"\n");
    }

    #[test]
    fn another_key_is_no_match_and_garbage_is_corrupt() {
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let sealed = encrypt(b"x", &[&key.to_public()]).expect("encrypt");
        assert!(matches!(
            decrypt(&sealed, &[&other]),
            Err(DecryptFailure::NoMatchingKey)
        ));
        assert!(matches!(
            decrypt(b"not age at all", &[&key]),
            Err(DecryptFailure::Corrupt(_))
        ));
        assert!(matches!(
            decrypt(b"", &[&key]),
            Err(DecryptFailure::Corrupt(_))
        ));
    }
}
