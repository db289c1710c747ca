//! The deployment's token-signing keys: an RS256 key pair made at first need, its private half
//! sealed with the data key and its public half readable by any function with the table (JWKS,
//! bearer checks). It signs SCIM access tokens, id_tokens and JWT-app tokens. A rotation
//! publishes the next key before it signs and keeps the old one until its tokens have expired.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
    RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::connector::Sealed;
use crate::ports::{Clock, Cond, Index, Item, Key, Query, Table, TableError, TxOp};
use crate::secrets::SecretBox;

/// The one signing key's item (`docs/table-design.md`): the public part in clear, the private
/// part sealed.
fn key_item() -> Key {
    Key::new("SIGNKEY", "RS256")
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// No key has been made yet (a verifier never makes one).
    #[error("no signing key exists yet")]
    NoKey,
    /// A rotation's next key is already published and waits for its time.
    #[error("a rotation is already under way: its key signs from its time on")]
    RotationPending,
    #[error("the stored signing key cannot be used: {0}")]
    Corrupt(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Storage(#[from] TableError),
}

/// A token a [`Verifier`] refused, with the reason (never the token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Refused(pub String);

/// The stored key: what every function may read (`kid`, `n`, `e`) and what only holders of the
/// data key can open (`private`, PKCS#8 DER in base64, sealed).
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// RSA modulus and public exponent, base64url without padding (as in a JWK).
    n: String,
    e: String,
    private: Sealed,
    created_ms: i64,
    /// A next key signs from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signs_from_ms: Option<i64>,
    /// A retired key verifies until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until_ms: Option<i64>,
}

/// The public half of a signing key: a JWK and a verification key.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    n: String,
    e: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    fn new(kid: &str, n: &str, e: &str) -> Result<Self, SigningError> {
        let decoding = DecodingKey::from_rsa_components(n, e)
            .map_err(|err| SigningError::Corrupt(format!("public key: {err}")))?;
        Ok(Self {
            kid: kid.to_owned(),
            n: n.to_owned(),
            e: e.to_owned(),
            decoding,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as a JWK (RFC 7517) for signature verification with RS256.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(self.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: self.n.clone(),
                e: self.e.clone(),
            }),
        }
    }
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of an RSA public key: its `kid`.
fn thumbprint(n: &str, e: &str) -> String {
    // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The key pair that signs: only a function holding the data key gets one.
#[derive(Clone)]
pub struct SigningKey {
    public: PublicKey,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// A compact JWS (RS256, `kid` and `typ` in the header) over `claims`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SigningError> {
        self.sign_typed(claims, "JWT")
    }

    /// As [`sign`](Self::sign) with another `typ` (RFC 9068 access tokens are `at+jwt`).
    pub fn sign_typed<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.public.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| SigningError::Sign(e.to_string()))
    }

    fn from_stored(stored: &StoredKey, secrets: &SecretBox) -> Result<Self, SigningError> {
        let public = PublicKey::new(&stored.kid, &stored.n, &stored.e)?;
        let pkcs8 = secrets
            .open(&stored.private)
            .map_err(|e| SigningError::Corrupt(e.to_string()))?;
        let pkcs8 = STANDARD
            .decode(pkcs8.expose())
            .map_err(|_| SigningError::Corrupt("private key is not base64".to_owned()))?;
        let pkcs1 = pkcs1_of_pkcs8(&pkcs8)
            .ok_or_else(|| SigningError::Corrupt("private key is not RSA PKCS#8".to_owned()))?;
        Ok(Self {
            public,
            encoding: EncodingKey::from_rsa_der(pkcs1),
        })
    }

    /// A fresh 2048-bit key pair and its item (private part sealed).
    fn generate(secrets: &SecretBox, now_ms: i64) -> Result<StoredKey, SigningError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| SigningError::Sign("RSA key generation failed".to_owned()))?;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let pkcs8 = pair
            .as_der()
            .map_err(|_| SigningError::Sign("the key pair cannot be encoded".to_owned()))?;
        Ok(StoredKey {
            kid: thumbprint(&n, &e),
            private: secrets.seal(&STANDARD.encode(pkcs8.as_ref())),
            n,
            e,
            created_ms: now_ms,
            signs_from_ms: None,
            until_ms: None,
        })
    }
}

/// The RSAPrivateKey (RFC 8017) inside a PKCS#8 PrivateKeyInfo (RFC 5208), which is what
/// aws-lc-rs generates and jsonwebtoken's RSA signer does not read.
fn pkcs1_of_pkcs8(der: &[u8]) -> Option<&[u8]> {
    /// One DER TLV: the tag, its contents, and what follows it.
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, rest)
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    // 1.2.840.113549.1.1.1 (rsaEncryption)
    const RSA_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    let (tag, info, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _version, rest) = tlv(info)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, algorithm, rest) = tlv(rest)?;
    if tag != SEQUENCE || !algorithm.starts_with(RSA_OID) {
        return None;
    }
    let (tag, key, _) = tlv(rest)?;
    (tag == OCTET_STRING).then_some(key)
}

/// A new key is in the JWKS this long before it signs: longer than the JWKS's `max-age` (300 s)
/// and the verifiers' reload interval, so every relying party knows it before it meets a token
/// signed with it.
pub const PUBLISH_LEAD_MS: i64 = 10 * 60 * 1000;
/// A retired key stays in the JWKS this long: longer than the longest token it signed (a SCIM
/// access token lives at most a day).
pub const RETIRED_KEPT_MS: i64 = 25 * 60 * 60 * 1000;
/// Processes read the keys again this often (a rotation reaches warm processes).
const RELOAD_MS: i64 = 60 * 1000;
/// An unknown `kid` makes a verifier read the keys again, at most this often.
const UNKNOWN_KID_RELOAD_MS: i64 = 5 * 1000;

const PARTITION: &str = "SIGNKEY";
const NEXT_SK: &str = "RS256#next";

fn next_item() -> Key {
    Key::new(PARTITION, NEXT_SK)
}

fn retired_item(kid: &str) -> Key {
    Key::new(PARTITION, format!("RS256#retired#{kid}"))
}

/// Where a key stands in its rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Signs.
    Current,
    /// Published, signs from `signs_from_ms`.
    Next,
    /// Signed before; verifies until `until_ms`.
    Retired,
}

/// A key as an admin sees it (no private part).
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub state: KeyState,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signs_from_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
}

/// Every key of the partition, as stored: (state, item version, key, until).
struct Stored {
    current: Option<(u64, StoredKey)>,
    next: Option<(u64, StoredKey)>,
    retired: Vec<(StoredKey, i64)>,
}

async fn read_all(table: &dyn Table) -> Result<Stored, SigningError> {
    let mut out = Stored {
        current: None,
        next: None,
        retired: Vec::new(),
    };
    let mut cursor = None;
    loop {
        let page = table
            .query(&Query::partition(Index::Primary, PARTITION).after(cursor))
            .await?;
        for item in &page.items {
            let key: StoredKey = serde_json::from_value(item.data.clone())
                .map_err(|e| SigningError::Corrupt(e.to_string()))?;
            match item.key.sk.as_str() {
                "RS256" => out.current = Some((item.version, key)),
                NEXT_SK => out.next = Some((item.version, key)),
                _ => {
                    let until = key.until_ms.unwrap_or(i64::MAX);
                    out.retired.push((key, until));
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The signing key of the deployment, for a function that holds the data key: made at first
/// need (two cold starts racing: the `Cond::Absent` put decides, the loser reads the winner's
/// key), read again every minute, and replaced by the published next key once its time comes
/// (whichever process signs first then makes the switch, in one transaction).
#[derive(Clone)]
pub struct SigningKeys {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    secrets: SecretBox,
    loaded: Arc<tokio::sync::Mutex<Option<(SigningKey, i64)>>>,
}

impl SigningKeys {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, secrets: SecretBox) -> Self {
        Self {
            table,
            clock,
            secrets,
            loaded: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The key that signs now, made when none exists yet.
    pub async fn get_or_create(&self) -> Result<SigningKey, SigningError> {
        let now = self.clock.now_millis();
        let mut loaded = self.loaded.lock().await;
        if let Some((key, at)) = loaded.as_ref() {
            if now - at < RELOAD_MS {
                return Ok(key.clone());
            }
        }
        let key = self.load_or_create(now).await?;
        *loaded = Some((key.clone(), now));
        Ok(key)
    }

    async fn load_or_create(&self, now: i64) -> Result<SigningKey, SigningError> {
        for _ in 0..3 {
            let stored = read_all(self.table.as_ref()).await?;
            match (stored.current, stored.next) {
                (Some((cv, current)), Some((nv, next)))
                    if next.signs_from_ms.is_some_and(|t| now >= t) =>
                {
                    match self.promote(cv, current, nv, &next, now).await {
                        Ok(()) => return SigningKey::from_stored(&next, &self.secrets),
                        // Another process promoted it first: read again.
                        Err(SigningError::Storage(
                            TableError::TransactionCancelled { .. } | TableError::ConditionFailed,
                        )) => continue,
                        Err(e) => return Err(e),
                    }
                }
                (Some((_, current)), _) => {
                    return SigningKey::from_stored(&current, &self.secrets);
                }
                (None, _) => return self.create(now).await,
            }
        }
        let stored = read_all(self.table.as_ref()).await?;
        let (_, current) = stored.current.ok_or(SigningError::NoKey)?;
        SigningKey::from_stored(&current, &self.secrets)
    }

    /// The next key becomes current; the current one is kept, retired, until its tokens expire.
    async fn promote(
        &self,
        current_version: u64,
        mut current: StoredKey,
        next_version: u64,
        next: &StoredKey,
        now: i64,
    ) -> Result<(), SigningError> {
        let until = now + RETIRED_KEPT_MS;
        current.until_ms = Some(until);
        let data = |k: &StoredKey| {
            serde_json::to_value(k).map_err(|e| SigningError::Corrupt(e.to_string()))
        };
        self.table
            .transact(vec![
                TxOp::Put {
                    item: Item::new(retired_item(&current.kid), 1, data(&current)?)
                        .with_ttl(until.div_euclid(1000) + 1),
                    cond: Cond::None,
                },
                TxOp::Put {
                    item: Item::new(key_item(), current_version + 1, data(next)?),
                    cond: Cond::Version(current_version),
                },
                TxOp::Delete {
                    key: next_item(),
                    cond: Cond::Version(next_version),
                },
            ])
            .await?;
        tracing::info!(kid = %next.kid, retired = %current.kid, "the next signing key signs from now on");
        Ok(())
    }

    async fn create(&self, now: i64) -> Result<SigningKey, SigningError> {
        let fresh = SigningKey::generate(&self.secrets, now)?;
        let data =
            serde_json::to_value(&fresh).map_err(|e| SigningError::Corrupt(e.to_string()))?;
        match self
            .table
            .put(Item::new(key_item(), 1, data), Cond::Absent)
            .await
        {
            Ok(()) => {
                tracing::info!(kid = %fresh.kid, "made the deployment's signing key");
                SigningKey::from_stored(&fresh, &self.secrets)
            }
            Err(TableError::ConditionFailed) => {
                let stored = read_stored(self.table.as_ref())
                    .await?
                    .ok_or(SigningError::NoKey)?;
                SigningKey::from_stored(&stored, &self.secrets)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts a rotation: a new key, published at once, that signs from `PUBLISH_LEAD_MS` on
    /// (the current key then stays published for `RETIRED_KEPT_MS`). One rotation at a time:
    /// [`SigningError::RotationPending`] while a next key waits.
    pub async fn rotate(&self) -> Result<KeyInfo, SigningError> {
        self.get_or_create().await?;
        let now = self.clock.now_millis();
        let mut fresh = SigningKey::generate(&self.secrets, now)?;
        fresh.signs_from_ms = Some(now + PUBLISH_LEAD_MS);
        let data =
            serde_json::to_value(&fresh).map_err(|e| SigningError::Corrupt(e.to_string()))?;
        match self
            .table
            .put(Item::new(next_item(), 1, data), Cond::Absent)
            .await
        {
            Ok(()) => {
                tracing::info!(kid = %fresh.kid, "published the next signing key");
                Ok(KeyInfo {
                    kid: fresh.kid,
                    state: KeyState::Next,
                    created_ms: now,
                    signs_from_ms: fresh.signs_from_ms,
                    until_ms: None,
                })
            }
            Err(TableError::ConditionFailed) => Err(SigningError::RotationPending),
            Err(e) => Err(e.into()),
        }
    }
}

/// Every key, current first, then the next one, then the retired ones still kept.
pub async fn key_infos(table: &dyn Table, now_ms: i64) -> Result<Vec<KeyInfo>, SigningError> {
    let stored = read_all(table).await?;
    let mut out = Vec::new();
    if let Some((_, k)) = stored.current {
        out.push(KeyInfo {
            kid: k.kid,
            state: KeyState::Current,
            created_ms: k.created_ms,
            signs_from_ms: None,
            until_ms: None,
        });
    }
    if let Some((_, k)) = stored.next {
        out.push(KeyInfo {
            kid: k.kid,
            state: KeyState::Next,
            created_ms: k.created_ms,
            signs_from_ms: k.signs_from_ms,
            until_ms: None,
        });
    }
    for (k, until) in stored.retired {
        if until > now_ms {
            out.push(KeyInfo {
                kid: k.kid,
                state: KeyState::Retired,
                created_ms: k.created_ms,
                signs_from_ms: None,
                until_ms: Some(until),
            });
        }
    }
    Ok(out)
}

async fn read_stored(table: &dyn Table) -> Result<Option<StoredKey>, SigningError> {
    match table.get(&key_item()).await? {
        Some(item) => serde_json::from_value(item.data)
            .map(Some)
            .map_err(|e| SigningError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// The public keys a verifier read, and when.
type Loaded = (Arc<Vec<PublicKey>>, i64);

/// The public keys, for a function with the table only: JWKS and token verification. Read again
/// every minute (a rotation's next key reaches warm processes before it signs), and at once —
/// at most every few seconds — when a token names a key not yet read.
#[derive(Clone)]
pub struct Verifier {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    loaded: Arc<tokio::sync::Mutex<Option<Loaded>>>,
}

impl Verifier {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self::with_clock(table, Arc::new(crate::ports::SystemClock))
    }

    /// As [`Verifier::new`] on the given clock (which decides reloads and retired keys' ends).
    pub fn with_clock(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self {
            table,
            clock,
            loaded: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The published keys (current, next, retired-but-kept), read at most `max_age_ms` ago;
    /// [`SigningError::NoKey`] when none was made yet.
    async fn keys_within(&self, max_age_ms: i64) -> Result<Arc<Vec<PublicKey>>, SigningError> {
        let now = self.clock.now_millis();
        let mut loaded = self.loaded.lock().await;
        if let Some((keys, at)) = loaded.as_ref() {
            if now - at < max_age_ms {
                return Ok(keys.clone());
            }
        }
        let stored = read_all(self.table.as_ref()).await?;
        let mut keys = Vec::new();
        for k in stored
            .current
            .map(|(_, k)| k)
            .into_iter()
            .chain(stored.next.map(|(_, k)| k))
            .chain(
                stored
                    .retired
                    .into_iter()
                    .filter(|(_, until)| *until > now)
                    .map(|(k, _)| k),
            )
        {
            keys.push(PublicKey::new(&k.kid, &k.n, &k.e)?);
        }
        if keys.is_empty() {
            return Err(SigningError::NoKey);
        }
        let keys = Arc::new(keys);
        *loaded = Some((keys.clone(), now));
        Ok(keys)
    }

    /// The published keys; [`SigningError::NoKey`] when none was made yet.
    pub async fn keys(&self) -> Result<Arc<Vec<PublicKey>>, SigningError> {
        self.keys_within(RELOAD_MS).await
    }

    /// The JWKS document (RFC 7517 §5); empty while no key exists.
    pub async fn jwks(&self) -> Result<JwkSet, SigningError> {
        match self.keys().await {
            Ok(keys) => Ok(JwkSet {
                keys: keys.iter().map(PublicKey::jwk).collect(),
            }),
            Err(SigningError::NoKey) => Ok(JwkSet::default()),
            Err(e) => Err(e),
        }
    }

    /// The claims of `token` when its signature is one of ours (RS256 only, by `kid`) and
    /// `validation` holds (issuer, audience, expiry: the caller pins them).
    /// `Ok(Err(_))` is a refused token; `Err(_)` is a key that cannot be read.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<Result<T, Refused>, SigningError> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(h) => h,
            Err(_) => return Ok(Err(Refused("not a JWT".to_owned()))),
        };
        if header.alg != Algorithm::RS256 || validation.algorithms != [Algorithm::RS256] {
            return Ok(Err(Refused("the algorithm is not RS256".to_owned())));
        }
        let known = |keys: &[PublicKey]| {
            keys.iter()
                .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
                .cloned()
        };
        let mut found = None;
        // A kid not read yet may be a key published since: read again, not too often.
        for max_age in [RELOAD_MS, UNKNOWN_KID_RELOAD_MS] {
            let keys = match self.keys_within(max_age).await {
                Ok(keys) => keys,
                // No key: no token can be ours.
                Err(SigningError::NoKey) => {
                    return Ok(Err(Refused("no signing key yet".to_owned())));
                }
                Err(e) => return Err(e),
            };
            found = known(&keys);
            if found.is_some() {
                break;
            }
        }
        let Some(key) = found else {
            return Ok(Err(Refused("unknown key id".to_owned())));
        };
        Ok(jsonwebtoken::decode::<T>(token, &key.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| Refused(describe(&e))))
    }
}

/// A short reason for a refused token: what a log line or a 401's description may say.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".to_owned(),
        ErrorKind::InvalidSignature => "the signature does not verify".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidAlgorithm => "the algorithm is not RS256".to_owned(),
        _ => "malformed token".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::EmbeddedStore;
    use crate::ports::SystemClock;
    use jsonwebtoken::jwk::ThumbprintHash;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        iss: String,
        aud: String,
        sub: String,
        exp: i64,
    }

    fn table() -> (Arc<dyn Table>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        (Arc::new(store.table(Arc::new(SystemClock))), dir)
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&["https://idm.example"]);
        v.set_audience(&["https://idm.example/scim/v2"]);
        v
    }

    /// RFC 7638 thumbprint as jsonwebtoken computes it: the cross-check of our `kid`.
    fn jwk_thumbprint(jwk: &Jwk) -> Option<String> {
        jwk.thumbprint(ThumbprintHash::SHA256).ok()
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "https://idm.example".into(),
            aud: "https://idm.example/scim/v2".into(),
            sub: "dbscim_x".into(),
            exp,
        }
    }

    #[tokio::test]
    async fn the_key_is_made_once_and_verifies_without_the_data_key() {
        let (table, _dir) = table();
        let data_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let verifier = Verifier::new(table.clone());
        assert!(verifier.jwks().await.unwrap().keys.is_empty());
        // Two processes racing to make the key end with one key.
        let a = SigningKeys::new(table.clone(), clock.clone(), data_key.clone());
        let b = SigningKeys::new(table.clone(), clock.clone(), data_key.clone());
        let (ka, kb) = tokio::join!(a.get_or_create(), b.get_or_create());
        let (ka, kb) = (ka.unwrap(), kb.unwrap());
        assert_eq!(ka.kid(), kb.kid());
        let stored = table.get(&key_item()).await.unwrap().unwrap();
        let text = stored.data.to_string();
        assert!(!text.contains("PRIVATE"), "the private key is sealed");

        let token = ka.sign(&claims(SystemClock.now_seconds() + 60)).unwrap();
        let fresh_verifier = Verifier::new(table.clone());
        let got: Claims = fresh_verifier
            .verify(&token, &validation())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.sub, "dbscim_x");
        let jwks = fresh_verifier.jwks().await.unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(
            jwk_thumbprint(&jwks.keys[0]).as_deref(),
            Some(ka.kid()),
            "kid is the RFC 7638 thumbprint"
        );
        // Independently: the JWK alone verifies the token.
        let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let data = jsonwebtoken::decode::<Claims>(&token, &key, &validation()).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(ka.kid()));

        // Another data key cannot open the private half.
        let other = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let err = SigningKeys::new(table, clock, other)
            .get_or_create()
            .await
            .unwrap_err();
        assert!(matches!(err, SigningError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn expired_tampered_and_foreign_tokens_are_refused() {
        let (table, _dir) = table();
        let data_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let keys = SigningKeys::new(table.clone(), Arc::new(SystemClock), data_key);
        let key = keys.get_or_create().await.unwrap();
        let verifier = Verifier::new(table);
        let now = SystemClock.now_seconds();
        let expired = key.sign(&claims(now - 3600)).unwrap();
        let refused = verifier
            .verify::<Claims>(&expired, &validation())
            .await
            .unwrap();
        assert_eq!(refused, Err(Refused("the token has expired".into())));

        let good = key.sign(&claims(now + 60)).unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut forged = claims(now + 60);
        forged.sub = "dbscim_other".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let refused = verifier
            .verify::<Claims>(&parts.join("."), &validation())
            .await
            .unwrap();
        assert_eq!(
            refused,
            Err(Refused("the signature does not verify".into()))
        );

        let mut other_issuer = claims(now + 60);
        other_issuer.iss = "https://evil.example".into();
        let token = key.sign(&other_issuer).unwrap();
        let refused = verifier
            .verify::<Claims>(&token, &validation())
            .await
            .unwrap();
        assert_eq!(refused, Err(Refused("wrong issuer".into())));

        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(now + 60),
            &EncodingKey::from_secret(b"guess").unwrap(),
        )
        .unwrap();
        let refused = verifier.verify::<Claims>(&hs, &validation()).await.unwrap();
        assert_eq!(refused, Err(Refused("the algorithm is not RS256".into())));
        let refused = verifier
            .verify::<Claims>("garbage", &validation())
            .await
            .unwrap();
        assert!(refused.is_err());
    }

    #[test]
    fn pkcs8_unwrapping_refuses_what_is_not_rsa_pkcs8() {
        assert_eq!(pkcs1_of_pkcs8(&[]), None);
        assert_eq!(pkcs1_of_pkcs8(&[0x30, 0x82, 0xff]), None);
        assert_eq!(pkcs1_of_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
    }

    /// A clock the test moves by hand.
    struct SetClock(std::sync::atomic::AtomicI64);

    impl Clock for SetClock {
        fn now_millis(&self) -> i64 {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_rotation_publishes_first_signs_later_and_keeps_the_old_key_until_its_tokens_expire()
    {
        let (table, _dir) = table();
        let data_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let clock = Arc::new(SetClock(SystemClock.now_millis().into()));
        let advance = |ms: i64| {
            clock.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
        };
        let keys = SigningKeys::new(table.clone(), clock.clone(), data_key.clone());
        let verifier = Verifier::with_clock(table.clone(), clock.clone());
        let old = keys.get_or_create().await.unwrap();
        let old_token = old.sign(&claims(SystemClock.now_seconds() + 3600)).unwrap();

        let next = keys.rotate().await.unwrap();
        assert_eq!(next.state, KeyState::Next);
        assert_ne!(next.kid, old.kid());
        assert!(matches!(
            keys.rotate().await,
            Err(SigningError::RotationPending)
        ));
        // Published at once (a fresh verifier: another process), not signing yet.
        let published = Verifier::with_clock(table.clone(), clock.clone())
            .jwks()
            .await
            .unwrap();
        let kids: Vec<_> = published
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids, vec![old.kid().to_owned(), next.kid.clone()]);
        advance(RELOAD_MS);
        assert_eq!(keys.get_or_create().await.unwrap().kid(), old.kid());

        // Its time comes: it signs; the old key still verifies what it signed.
        advance(PUBLISH_LEAD_MS);
        let new = keys.get_or_create().await.unwrap();
        assert_eq!(new.kid(), next.kid);
        let other_process = SigningKeys::new(table.clone(), clock.clone(), data_key);
        assert_eq!(other_process.get_or_create().await.unwrap().kid(), next.kid);
        let got: Claims = verifier
            .verify(&old_token, &validation())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.sub, "dbscim_x");
        let new_token = new.sign(&claims(SystemClock.now_seconds() + 60)).unwrap();
        assert!(
            verifier
                .verify::<Claims>(&new_token, &validation())
                .await
                .unwrap()
                .is_ok()
        );
        let states: Vec<_> = key_infos(table.as_ref(), clock.now_millis())
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.kid, k.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (next.kid.clone(), KeyState::Current),
                (old.kid().to_owned(), KeyState::Retired)
            ]
        );

        // Once its tokens have expired, the old key leaves the JWKS.
        advance(RETIRED_KEPT_MS + RELOAD_MS);
        let jwks = verifier.jwks().await.unwrap();
        let kids: Vec<_> = jwks
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids, vec![next.kid.clone()]);
    }
}
