//! age encryption and decryption of whole in-memory buffers: the vault image and
//! passphrase-wrapped identity files. Kept in one place so that the format choices (binary
//! for the vault, armored for identity files, the scrypt bounds) are made once.

use std::io::{Read, Write};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

/// The first bytes of a binary age file and of an armored one.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
pub const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// The most scrypt work accepted when unwrapping a passphrase-protected identity: 2^22 is
/// ~4 GiB·s of work, enough for any passphrase file a person made on purpose, and a bound on
/// what a malicious file can make us spend.
const MAX_SCRYPT_LOG_N: u8 = 22;

pub fn looks_like_age(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC) || bytes.starts_with(ARMOR_MAGIC)
}

/// Why a decryption failed, in terms the caller can turn into the right user error.
#[derive(Debug)]
pub enum DecryptFailure {
    /// Well-formed, but none of our keys is a recipient (someone else's file, or our key was
    /// removed), or the passphrase is wrong.
    NotForUs,
    /// The header or payload is damaged, truncated or was tampered with.
    Damaged(String),
}

pub fn encrypt_to(
    recipients: &[age::x25519::Recipient],
    plaintext: &[u8],
) -> std::io::Result<Vec<u8>> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 512);
    let mut writer = encryptor.wrap_output(&mut out)?;
    writer.write_all(plaintext)?;
    writer.finish()?;
    Ok(out)
}

pub fn decrypt_with(
    identity: &dyn age::Identity,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
    let reader = age::armor::ArmoredReader::new(ciphertext);
    let decryptor = age::Decryptor::new_buffered(reader).map_err(map_decrypt_error)?;
    let mut stream = decryptor
        .decrypt(std::iter::once(identity))
        .map_err(map_decrypt_error)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    stream
        .read_to_end(&mut plain)
        .map_err(|e| DecryptFailure::Damaged(e.to_string()))?;
    Ok(plain)
}

/// Encrypts with a passphrase (scrypt, calibrated by age to about a second on this machine),
/// ASCII-armored so the result is a text file like an ordinary identity file.
pub fn encrypt_with_passphrase(
    passphrase: SecretString,
    plaintext: &[u8],
) -> std::io::Result<Vec<u8>> {
    use age::armor::{ArmoredWriter, Format};
    let encryptor = age::Encryptor::with_user_passphrase(passphrase);
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armor)?;
    writer.write_all(plaintext)?;
    // Two finishes: the age stream, then the armor around it.
    writer.finish()?.finish()?;
    Ok(out)
}

pub fn decrypt_with_passphrase(
    passphrase: SecretString,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
    let mut identity = age::scrypt::Identity::new(passphrase);
    identity.set_max_work_factor(MAX_SCRYPT_LOG_N);
    decrypt_with(&identity, ciphertext)
}

fn map_decrypt_error(e: age::DecryptError) -> DecryptFailure {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys | D::KeyDecryptionFailed => DecryptFailure::NotForUs,
        D::DecryptionFailed => DecryptFailure::NotForUs,
        D::ExcessiveWork { required, target } => DecryptFailure::Damaged(format!(
            "it asks for scrypt work 2^{required}, more than the accepted 2^{target}"
        )),
        other => DecryptFailure::Damaged(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let ct = encrypt_to(&[a.to_public()], b"hello").unwrap();
        assert!(looks_like_age(&ct));
        assert_eq!(&decrypt_with(&a, &ct).unwrap()[..], b"hello");
        assert!(matches!(
            decrypt_with(&b, &ct),
            Err(DecryptFailure::NotForUs)
        ));
        let mut bad = ct.clone();
        let n = bad.len() - 3;
        bad[n] ^= 1;
        assert!(matches!(
            decrypt_with(&a, &bad),
            Err(DecryptFailure::Damaged(_))
        ));
        assert!(matches!(
            decrypt_with(&a, &ct[..ct.len() - 10]),
            Err(DecryptFailure::Damaged(_))
        ));
    }
}
