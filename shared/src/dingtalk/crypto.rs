//! DingTalk callback crypto (protocol reference §1): the SHA-1 signature, the AES-256-CBC envelope
//! with its byte-length prefix and receive-id, and the encrypted `success` reply. Pure functions:
//! no I/O, no clock; randomness only where a caller does not inject it.

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Length of an EncodingAESKey (§1.1): the Base64 of 32 bytes without its final `=`.
pub const ENCODING_AES_KEY_LEN: usize = 43;
/// DingTalk pads to 32-byte blocks, not AES's 16 (§1.4, official Java `BLOCK_SIZE = 32`).
pub const PAD_BLOCK: usize = 32;
/// Length of the random prefix of every plaintext (§1.4).
pub const RANDOM_LEN: usize = 16;
/// The plaintext DingTalk expects back, encrypted, from every callback (§1.5).
pub const SUCCESS: &str = "success";

const AES_BLOCK: usize = 16;
const PREFIX_LEN: usize = RANDOM_LEN + 4;
/// Longest token we accept: the legacy `register_call_back` allows fewer than 64 chars (§1.1).
const MAX_TOKEN_LEN: usize = 64;
/// How much of a foreign receive-id an error keeps: enough to tell a CorpId from an AppKey.
const MAX_REPORTED_ID: usize = 64;

/// The key decoder DingTalk's keys need: their 43rd character often carries non-zero trailing bits,
/// which the strict engine rejects (§1.1 "Rust gotcha").
const LENIENT_KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

type Enc = cbc::Encryptor<Aes256>;
type Dec = cbc::Decryptor<Aes256>;

/// Why a callback could not be verified, opened or sealed. Messages never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]` (DingTalk 900004).
    #[error("the EncodingAESKey must be exactly 43 letters or digits")]
    BadKey,
    /// The token is empty, too long, or not printable ASCII.
    #[error("the callback token must be 1 to 64 printable ASCII characters")]
    BadToken,
    /// The receive-id (AppKey, CorpId or SuiteKey) is empty or not printable ASCII.
    #[error("the receive-id must be non-empty printable ASCII")]
    BadReceiveId,
    /// The signature does not match the token, timestamp, nonce and ciphertext (DingTalk 900005).
    #[error("callback signature mismatch")]
    BadSignature,
    /// `encrypt` is not standard padded Base64.
    #[error("ciphertext is not valid Base64")]
    BadBase64,
    /// The ciphertext is empty or not a whole number of AES blocks.
    #[error("ciphertext length {len} is not a positive multiple of 16")]
    BadLength { len: usize },
    /// The padding byte is outside 1..=32, or the padding bytes disagree (DingTalk 900008).
    #[error("bad padding after decryption")]
    BadPadding,
    /// The length prefix points outside the plaintext (DingTalk 900009).
    #[error("message length prefix {declared} exceeds the {available} bytes available")]
    BadLengthPrefix { declared: u64, available: usize },
    /// The message or the receive-id is not UTF-8 (DingTalk 900001).
    #[error("decrypted text is not UTF-8")]
    BadUtf8,
    /// The message was sealed for another receiver (DingTalk 900010: an AppKey/CorpId mix-up, §1.1).
    #[error("receive-id mismatch: the message was sealed for {found:?}")]
    ReceiveIdMismatch { found: String },
    /// The message does not fit the 32-bit length prefix.
    #[error("message of {len} bytes is too large to seal")]
    MessageTooLarge { len: usize },
}

impl CryptoError {
    /// The code DingTalk's official library uses for this outcome (§1.4), for logs and support.
    pub fn dingtalk_code(&self) -> u32 {
        match self {
            Self::BadKey => 900_004,
            Self::BadToken | Self::BadReceiveId => 900_006,
            Self::BadSignature => 900_005,
            Self::BadBase64 | Self::BadLength { .. } | Self::BadPadding => 900_008,
            Self::BadLengthPrefix { .. } => 900_009,
            Self::BadUtf8 => 900_001,
            Self::ReceiveIdMismatch { .. } => 900_010,
            Self::MessageTooLarge { .. } => 900_007,
        }
    }
}

/// The JSON body of the reply to a callback (§1.5). Note the camelCase `timeStamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedReply {
    pub msg_signature: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// A decrypted envelope before its receive-id is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub message: String,
    pub receive_id: String,
}

/// One app's callback credentials: the signing token, the AES key and the expected receive-id.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl CallbackCrypto {
    /// Validates all three values; the EncodingAESKey must be the console's 43 characters.
    pub fn new(
        token: impl Into<String>,
        encoding_aes_key: &str,
        receive_id: impl Into<String>,
    ) -> Result<Self, CryptoError> {
        let token = token.into();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !is_printable_ascii(&token) {
            return Err(CryptoError::BadToken);
        }
        let receive_id = receive_id.into();
        if receive_id.is_empty() || !is_printable_ascii(&receive_id) {
            return Err(CryptoError::BadReceiveId);
        }
        let key = decode_aes_key(encoding_aes_key)?;
        Ok(Self {
            token,
            key,
            receive_id,
        })
    }

    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The signature DingTalk would send for these values.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Checks a received `msg_signature`/`signature` in constant time.
    pub fn verify_signature(
        &self,
        received: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        verify_signature(&self.token, received, timestamp, nonce, encrypt)
    }

    /// Decrypts and checks the receive-id; does not look at any signature.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let opened = open(&self.key, encrypt)?;
        if opened.receive_id != self.receive_id {
            return Err(CryptoError::ReceiveIdMismatch {
                found: opened.receive_id.chars().take(MAX_REPORTED_ID).collect(),
            });
        }
        Ok(opened.message)
    }

    /// What a callback handler needs: signature first (so tampering is caught before any
    /// decryption), then decryption and the receive-id check.
    pub fn verify_and_decrypt(
        &self,
        received_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, CryptoError> {
        self.verify_signature(received_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// Encrypts with a fresh random prefix of 16 alphanumerics, as DingTalk's own messages have.
    pub fn encrypt(&self, message: &str) -> Result<String, CryptoError> {
        self.encrypt_with_random(message, &random_prefix())
    }

    /// Encrypts with an injected prefix: deterministic, for tests and vectors.
    pub fn encrypt_with_random(
        &self,
        message: &str,
        random: &[u8; RANDOM_LEN],
    ) -> Result<String, CryptoError> {
        seal(&self.key, random, message, &self.receive_id)
    }

    /// The encrypted reply carrying `message`, signed over the given timestamp and nonce.
    pub fn reply(
        &self,
        message: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<EncryptedReply, CryptoError> {
        self.reply_with_random(message, timestamp, nonce, &random_prefix())
    }

    /// [`Self::reply`] with an injected random prefix.
    pub fn reply_with_random(
        &self,
        message: &str,
        timestamp: &str,
        nonce: &str,
        random: &[u8; RANDOM_LEN],
    ) -> Result<EncryptedReply, CryptoError> {
        let encrypt = self.encrypt_with_random(message, random)?;
        Ok(EncryptedReply {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            time_stamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            encrypt,
        })
    }

    /// The encrypted `success` every callback must be answered with (§1.5). Reusing the inbound
    /// timestamp and nonce is what the official receive sample does.
    pub fn success_reply(
        &self,
        timestamp: &str,
        nonce: &str,
    ) -> Result<EncryptedReply, CryptoError> {
        self.reply(SUCCESS, timestamp, nonce)
    }
}

/// `hex(sha1(concat(sort([token, timestamp, nonce, encrypt]))))`, lowercase (§1.3).
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Constant-time comparison of a received signature (either hex case) against the expected one.
pub fn verify_signature(
    token: &str,
    received: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> Result<(), CryptoError> {
    let expected = signature(token, timestamp, nonce, encrypt);
    let received = received.to_ascii_lowercase();
    // Lengths are public (always 40 for a genuine signature); only the contents are compared in
    // constant time, which `ct_eq` does after its own length check.
    if bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// `Base64Decode(EncodingAESKey + "=")`, tolerating the trailing bits of the 43rd character.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if encoding_aes_key.len() != ENCODING_AES_KEY_LEN
        || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(CryptoError::BadKey);
    }
    let bytes = LENIENT_KEY_ENGINE
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| CryptoError::BadKey)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey)
}

/// Builds `random || be_u32(len) || message || receive_id`, pads it to 32 and encrypts (§1.4).
pub fn seal(
    key: &[u8; 32],
    random: &[u8; RANDOM_LEN],
    message: &str,
    receive_id: &str,
) -> Result<String, CryptoError> {
    let len = u32::try_from(message.len())
        .map_err(|_| CryptoError::MessageTooLarge { len: message.len() })?;
    let unpadded = PREFIX_LEN + message.len() + receive_id.len();
    let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
    let mut buf = Vec::with_capacity(unpadded + pad);
    buf.extend_from_slice(random);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(message.as_bytes());
    buf.extend_from_slice(receive_id.as_bytes());
    // pad ∈ 1..=32, so the cast cannot truncate.
    buf.resize(unpadded + pad, pad as u8);
    let cipher = Enc::new_from_slices(key, &key[..AES_BLOCK]).map_err(|_| CryptoError::BadKey)?;
    let total = buf.len();
    let sealed = cipher
        .encrypt_padded_mut::<NoPadding>(&mut buf, total)
        .map_err(|_| CryptoError::BadLength { len: total })?;
    Ok(STANDARD.encode(sealed))
}

/// Decrypts and parses an envelope; every malformed input is an error, never a panic.
pub fn open(key: &[u8; 32], encrypt: &str) -> Result<Opened, CryptoError> {
    let mut buf = STANDARD
        .decode(encrypt.as_bytes())
        .map_err(|_| CryptoError::BadBase64)?;
    if buf.is_empty() || buf.len() % AES_BLOCK != 0 {
        return Err(CryptoError::BadLength { len: buf.len() });
    }
    let cipher = Dec::new_from_slices(key, &key[..AES_BLOCK]).map_err(|_| CryptoError::BadKey)?;
    let len = buf.len();
    let plain = cipher
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::BadLength { len })?;
    let plain = unpad(plain)?;
    let (prefix, rest) =
        plain
            .split_at_checked(PREFIX_LEN)
            .ok_or(CryptoError::BadLengthPrefix {
                declared: 0,
                available: 0,
            })?;
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&prefix[RANDOM_LEN..]);
    let declared = u32::from_be_bytes(len_bytes);
    let (message, receive_id) = usize::try_from(declared)
        .ok()
        .and_then(|n| rest.split_at_checked(n))
        .ok_or(CryptoError::BadLengthPrefix {
            declared: u64::from(declared),
            available: rest.len(),
        })?;
    let message = std::str::from_utf8(message).map_err(|_| CryptoError::BadUtf8)?;
    let receive_id = std::str::from_utf8(receive_id).map_err(|_| CryptoError::BadUtf8)?;
    Ok(Opened {
        message: message.to_owned(),
        receive_id: receive_id.to_owned(),
    })
}

/// Strips the PKCS#7-style padding of block size 32. Stricter than the official Java (which treats
/// an out-of-range byte as "no padding"): every pad byte must equal the count.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// 16 ASCII alphanumerics, like the prefixes in DingTalk's own messages (§1.4).
fn random_prefix() -> [u8; RANDOM_LEN] {
    let mut rng = rand::rng();
    std::array::from_fn(|_| rng.sample(rand::distr::Alphanumeric))
}

/// A fresh nonce for replies that do not reuse the inbound one (the official library uses 16 chars).
pub fn random_nonce() -> String {
    random_prefix().iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests;
