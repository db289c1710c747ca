//! The app-token cache (protocol reference §3.2): one token per credential, refreshed a safety margin
//! before it expires, one refresh at a time per credential (single flight), and invalidated only if
//! it is still the token that DingTalk refused, so concurrent failures cause one refresh, not a
//! stampede. A credential is everything that obtained the token and where it goes (`CredentialKey`).

use super::error::DingTalkError;
use super::types::{AppToken, DingApp, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Refresh this long before expiry by default (tokens live 7200 s).
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// What a cached token belongs to: the hosts it is sent to, the corp, the app key and a digest of
/// the secret. Two connectors that share an app key but differ in any of these never share a token,
/// so a token only ever reaches the hosts configured with the credential that obtained it, and a
/// wrong secret is always tried (and refused) at its own host.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialKey([u8; 32]);

impl CredentialKey {
    pub fn of(app: &DingApp) -> Self {
        let secret = Sha256::digest(app.app_secret.expose().as_bytes());
        let mut hash = Sha256::new();
        // Length-prefixed, so that no two different field lists hash the same bytes.
        for field in [
            app.endpoints.oapi.as_bytes(),
            app.endpoints.api.as_bytes(),
            app.endpoints.login.as_bytes(),
            app.corp_id.as_bytes(),
            app.app_key.as_bytes(),
            secret.as_slice(),
        ] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field);
        }
        Self(hash.finalize().into())
    }
}

impl std::fmt::Debug for CredentialKey {
    /// Short on purpose: it is a digest of a secret's digest, but nothing needs more to tell two apart.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "CredentialKey({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

#[derive(Debug)]
pub struct TokenCache {
    margin: Duration,
    slots: Mutex<HashMap<CredentialKey, Slot>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_MARGIN)
    }
}

impl TokenCache {
    pub fn new(margin: Duration) -> Self {
        Self {
            margin,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: CredentialKey) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(key).or_default().clone()
    }

    /// The cached token, or a fresh one from `fetch`. Callers arriving during a refresh wait for it.
    pub async fn get<F, Fut>(
        &self,
        key: CredentialKey,
        fetch: F,
    ) -> Result<SecretString, DingTalkError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AppToken, DingTalkError>>,
    {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = fetch().await?;
        let ttl = Duration::from_secs(fresh.expires_in_secs);
        // A short-lived token (tests, or a server that says so) still gets half its life.
        let margin = self.margin.min(ttl / 2);
        *cached = Some(Cached {
            token: fresh.token.clone(),
            refresh_at: Instant::now() + ttl.saturating_sub(margin),
        });
        Ok(fresh.token)
    }

    /// Forgets `refused` if it is still the cached token of `key`.
    pub async fn invalidate(&self, key: CredentialKey, refused: &SecretString) {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == refused) {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn app(base: &str, secret: &str) -> DingApp {
        DingApp {
            corp_id: "dingcorp".into(),
            app_key: "dingappkey".into(),
            app_secret: SecretString::new(secret),
            agent_id: None,
            endpoints: super::super::types::Endpoints::single(base),
        }
    }

    fn key() -> CredentialKey {
        CredentialKey::of(&app("https://oapi.example", "s3cret"))
    }

    fn token(s: &str) -> AppToken {
        AppToken {
            token: SecretString::new(s),
            expires_in_secs: 7200,
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tokio::spawn(async move {
                    cache
                        .get(key(), || async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(token("t1"))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().expose(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidating_a_stale_token_keeps_the_newer_one() {
        let cache = TokenCache::default();
        let t1 = cache
            .get(key(), || async { Ok(token("t1")) })
            .await
            .unwrap();
        cache.invalidate(key(), &t1).await;
        let t2 = cache
            .get(key(), || async { Ok(token("t2")) })
            .await
            .unwrap();
        assert_eq!(t2.expose(), "t2");
        // A second task that also saw t1 refused must not throw t2 away.
        cache.invalidate(key(), &t1).await;
        let again = cache
            .get(key(), || async { Ok(token("t3")) })
            .await
            .unwrap();
        assert_eq!(again.expose(), "t2");
    }

    #[tokio::test]
    async fn tokens_inside_the_margin_are_refreshed() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let short = AppToken {
            token: SecretString::new("short"),
            expires_in_secs: 0,
        };
        cache.get(key(), || async { Ok(short) }).await.unwrap();
        let next = cache
            .get(key(), || async { Ok(token("long")) })
            .await
            .unwrap();
        assert_eq!(next.expose(), "long");
    }

    #[test]
    fn credentials_differing_in_host_corp_key_or_secret_have_different_keys() {
        let base = app("https://oapi.example", "s3cret");
        let mut other_host = base.clone();
        other_host.endpoints.api = "https://elsewhere.example".into();
        let mut other_corp = base.clone();
        other_corp.corp_id = "dingothercorp".into();
        let mut other_key = base.clone();
        other_key.app_key = "dingotherkey".into();
        let keys = [
            CredentialKey::of(&base),
            CredentialKey::of(&app("http://127.0.0.1:9", "s3cret")),
            CredentialKey::of(&other_host),
            CredentialKey::of(&other_corp),
            CredentialKey::of(&other_key),
            CredentialKey::of(&app("https://oapi.example", "wrong")),
        ];
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert_eq!(CredentialKey::of(&base.clone()), keys[0]);
        assert!(!format!("{:?}", keys[0]).contains("s3cret"));
    }

    #[tokio::test]
    async fn a_token_is_not_shared_with_a_credential_for_another_host() {
        let cache = TokenCache::default();
        let first = CredentialKey::of(&app("https://oapi.example", "s3cret"));
        let elsewhere = CredentialKey::of(&app("http://127.0.0.1:9", "wrong"));
        cache
            .get(first, || async { Ok(token("t1")) })
            .await
            .unwrap();
        let fetched = AtomicUsize::new(0);
        let other = cache
            .get(elsewhere, || async {
                fetched.fetch_add(1, Ordering::SeqCst);
                Ok(token("t2"))
            })
            .await
            .unwrap();
        assert_eq!(other.expose(), "t2");
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
    }
}
