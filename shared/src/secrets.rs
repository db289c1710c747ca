//! Secrets at rest: connector secrets sealed with AES-256-GCM under the deployment's data key
//! (DESIGN.md §4), and passwords and tokens hashed with argon2 or SHA-256.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::dingtalk::SecretString;
use crate::domain::connector::Sealed;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the data key must be the base64 of 32 bytes, or a secret of at least 32 characters")]
    BadKey,
    /// Wrong key, or the sealed value was altered.
    #[error("a sealed secret cannot be opened with this data key")]
    CannotOpen,
    #[error("password hashing failed")]
    Hashing,
}

/// The data key. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(…)")
    }
}

const NONCE_LEN: usize = 12;

impl SecretBox {
    /// From `DINGBRIDGE_DATA_KEY`: the base64 of a 32-byte key, or a random secret of at least 32
    /// characters (what AWS Secrets Manager generates), from which the key is derived by SHA-256.
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let key = key.trim();
        match STANDARD.decode(key) {
            Ok(bytes) if bytes.len() == 32 => Self::from_bytes(&bytes),
            _ if key.chars().count() >= 32 => Self::from_bytes(&Sha256::digest(key.as_bytes())),
            _ => Err(SecretError::BadKey),
        }
    }

    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| SecretError::BadKey)?;
        Ok(Self { cipher })
    }

    /// A box under a random key that is never stored or shown: for a function that reads records
    /// with sealed fields (connectors) but never opens one, and so has no data key.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// A fresh random key, base64 (for the local data directory and first deployments).
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    pub fn seal(&self, plaintext: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail for inputs this small.
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Sealed(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &Sealed) -> Result<SecretString, SecretError> {
        let bytes = STANDARD
            .decode(&sealed.0)
            .map_err(|_| SecretError::CannotOpen)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(SecretError::CannotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::CannotOpen)?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| SecretError::CannotOpen)
    }
}

/// An argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| SecretError::Hashing)
}

/// A PHC string with the same argon2 parameters as real hashes: verifying a secret of an unknown
/// client or account against it costs what a real check costs, so timing does not tell which
/// ones exist (it matches no password).
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// True when `password` matches the PHC string (false for a malformed hash too).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether two tokens (CSRF tokens, digests) are equal, in time that does not depend on where
/// they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Lower-case hex SHA-256: how high-entropy bearer tokens are stored and looked up (a random
/// 256-bit token needs no slow hash; a lookup by hash must be deterministic).
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh high-entropy token (256 bits, URL-safe).
pub fn generate_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_unaltered() {
        let a = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let b = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = a.seal("app-secret-值");
        assert!(!sealed.0.contains("app-secret"));
        assert_eq!(a.open(&sealed).unwrap().expose(), "app-secret-值");
        assert_eq!(b.open(&sealed), Err(SecretError::CannotOpen));
        let mut bytes = STANDARD.decode(&sealed.0).unwrap();
        bytes[20] ^= 1;
        assert_eq!(
            a.open(&Sealed(STANDARD.encode(bytes))),
            Err(SecretError::CannotOpen)
        );
        assert_eq!(
            a.open(&Sealed("garbage".into())),
            Err(SecretError::CannotOpen)
        );
        assert_ne!(a.seal("x"), a.seal("x"), "nonces must differ");
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
        let generated = "kP3vXq9LmZ2wR8tY5uB1nC4dF7gH0jK6sA2eD9fG";
        let derived = SecretBox::from_base64(generated).unwrap();
        assert_eq!(derived.open(&derived.seal("x")).unwrap().expose(), "x");
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let phc = hash_password("Correct-Horse-1").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-1", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("Correct-Horse-1", "not-a-hash"));
    }

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let t = generate_token("dbt_");
        assert!(t.starts_with("dbt_") && t.len() > 40);
        assert_ne!(t, generate_token("dbt_"));
        assert_eq!(token_digest("x"), token_digest("x"));
        assert_eq!(token_digest("abc").len(), 64);
    }
}
