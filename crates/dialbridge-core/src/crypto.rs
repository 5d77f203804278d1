//! Secrets at rest: AES-256-GCM under the master key with a fresh random nonce per value,
//! SHA-256 hashes for admin API keys, and random tokens for links, states and keys.
//!
//! A sealed value is `nonce ‖ ciphertext ‖ tag`, with no key id: while the master key is being
//! rotated a `Cipher` also holds the previous key and opens a value with whichever of the two
//! authenticates it (AES-GCM's tag makes a wrong key fail, never decrypt to garbage), and seals
//! with the current one only. The format is the one every database was written with.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes written as 64 hex characters or as base64")]
    BadMasterKey,
    #[error("a stored secret could not be decrypted: is this the master key the database was created with?")]
    Undecryptable,
}

/// The 32-byte key that encrypts every secret at rest.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Accepts 64 hex characters or standard/URL-safe base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .ok()
        };
        let bytes: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(CryptoError::BadMasterKey)?;
        Ok(MasterKey(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    pub fn to_hex(&self) -> Secret {
        Secret::new(hex::encode(self.0))
    }
}

/// An encrypted value as stored: nonce followed by ciphertext and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

/// Encrypts secrets under the master key, and decrypts them under it or, during a rotation,
/// under the previous one.
#[derive(Clone)]
pub struct Cipher {
    current: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

impl Cipher {
    pub fn new(key: &MasterKey) -> Self {
        Cipher {
            current: aes(key),
            previous: None,
        }
    }

    /// Also opens values sealed under `previous` (the key being rotated away from).
    pub fn with_previous(mut self, previous: &MasterKey) -> Self {
        self.previous = Some(aes(previous));
        self
    }

    /// Seals under the current key, with a fresh random nonce.
    pub fn seal(&self, plaintext: &str) -> Sealed {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .current
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Sealed(out)
    }

    /// Opens a value sealed under the current key or the previous one.
    pub fn open(&self, sealed: &Sealed) -> Result<Secret, CryptoError> {
        open_with(&self.current, sealed).or_else(|e| match &self.previous {
            Some(previous) => open_with(previous, sealed),
            None => Err(e),
        })
    }
}

fn aes(key: &MasterKey) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0))
}

fn open_with(aes: &Aes256Gcm, sealed: &Sealed) -> Result<Secret, CryptoError> {
    if sealed.0.len() < NONCE_LEN {
        return Err(CryptoError::Undecryptable);
    }
    let (nonce, ciphertext) = sealed.0.split_at(NONCE_LEN);
    let plaintext = aes
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| CryptoError::Undecryptable)?;
    String::from_utf8(plaintext)
        .map(Secret::new)
        .map_err(|_| CryptoError::Undecryptable)
}

/// How admin API keys are stored: they are long random strings, so a plain SHA-256 suffices.
pub fn hash_api_key(key: &str) -> String {
    sha256_hex(key)
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `bytes` random bytes as URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_with_fresh_nonces() {
        let cipher = Cipher::new(&MasterKey::generate());
        let a = cipher.seal("refresh-token-value");
        let b = cipher.seal("refresh-token-value");
        assert_ne!(a, b, "each seal must use a fresh nonce");
        assert_eq!(cipher.open(&a).unwrap().expose(), "refresh-token-value");
        assert!(!String::from_utf8_lossy(&a.0).contains("refresh-token-value"));
    }

    #[test]
    fn a_different_key_or_tampering_is_refused() {
        let sealed = Cipher::new(&MasterKey::generate()).seal("x");
        assert!(Cipher::new(&MasterKey::generate()).open(&sealed).is_err());
        let key = MasterKey::generate();
        let cipher = Cipher::new(&key);
        let mut sealed = cipher.seal("x");
        let last = sealed.0.len() - 1;
        sealed.0[last] ^= 1;
        assert!(cipher.open(&sealed).is_err());
        // Shorter than a nonce (a truncated column): refused, not a panic.
        for length in [0, 3, NONCE_LEN - 1] {
            assert!(cipher.open(&Sealed(vec![7; length])).is_err(), "{length}");
        }
    }

    #[test]
    fn during_a_rotation_both_keys_open_and_only_the_new_one_seals() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let before = Cipher::new(&old).seal("hook-secret");
        let both = Cipher::new(&new).with_previous(&old);
        assert_eq!(both.open(&before).unwrap().expose(), "hook-secret");
        let after = both.seal("hook-secret");
        assert_eq!(
            Cipher::new(&new).open(&after).unwrap().expose(),
            "hook-secret"
        );
        assert!(Cipher::new(&old).open(&after).is_err());
        let stranger = Cipher::new(&MasterKey::generate()).seal("x");
        assert!(both.open(&stranger).is_err());
    }

    /// Admin keys are stored as their SHA-256 (FIPS 180-2's "abc" vector), one hash per key:
    /// a constant hash would let any key in (found by cargo-mutants).
    #[test]
    fn api_keys_hash_to_their_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(hash_api_key("key-one"), hash_api_key("key-two"));
    }

    #[test]
    fn master_key_parses_hex_and_base64() {
        let hex_key = "00".repeat(32);
        assert!(MasterKey::parse(&hex_key).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&"zz".repeat(32)).is_err());
    }
}
