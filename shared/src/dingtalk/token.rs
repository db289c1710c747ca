//! The app-token cache (protocol reference §3.2): one token per app, refreshed a safety margin before
//! it expires, one refresh at a time per app (single flight), and invalidated only if it is still
//! the token that DingTalk refused, so concurrent failures cause one refresh, not a stampede.

use super::error::DingTalkError;
use super::types::{AppToken, SecretString};
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

#[derive(Debug)]
pub struct TokenCache {
    margin: Duration,
    slots: Mutex<HashMap<String, Slot>>,
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

    fn slot(&self, app_key: &str) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(app_key.to_owned()).or_default().clone()
    }

    /// The cached token, or a fresh one from `fetch`. Callers arriving during a refresh wait for it.
    pub async fn get<F, Fut>(&self, app_key: &str, fetch: F) -> Result<SecretString, DingTalkError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AppToken, DingTalkError>>,
    {
        let slot = self.slot(app_key);
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

    /// Forgets `refused` if it is still the cached token of `app_key`.
    pub async fn invalidate(&self, app_key: &str, refused: &SecretString) {
        let slot = self.slot(app_key);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == refused) {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
                        .get("app", || async {
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
            .get("app", || async { Ok(token("t1")) })
            .await
            .unwrap();
        cache.invalidate("app", &t1).await;
        let t2 = cache
            .get("app", || async { Ok(token("t2")) })
            .await
            .unwrap();
        assert_eq!(t2.expose(), "t2");
        // A second task that also saw t1 refused must not throw t2 away.
        cache.invalidate("app", &t1).await;
        let again = cache
            .get("app", || async { Ok(token("t3")) })
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
        cache.get("app", || async { Ok(short) }).await.unwrap();
        let next = cache
            .get("app", || async { Ok(token("long")) })
            .await
            .unwrap();
        assert_eq!(next.expose(), "long");
    }
}
