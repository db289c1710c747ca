//! A process-wide client-side rate limiter per app × API (protocol reference §5.1: 20 QPS per app
//! per API). Every task of the process shares one, so together they stay under DingTalk's limit
//! instead of bouncing off it with 90018.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// DingTalk's standard-edition limit per app × API.
pub const DEFAULT_QPS: f64 = 20.0;

/// A limit: sustained `per_second`, with up to `burst` calls back to back after a pause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    /// Evenly spaced calls (burst 1): the safest shape against a server that counts per second.
    pub fn per_second(per_second: f64) -> Self {
        Self {
            per_second,
            burst: 1,
        }
    }

    fn interval(self) -> Duration {
        if self.per_second.is_finite() && self.per_second > 0.0 {
            Duration::from_secs_f64(1.0 / self.per_second)
        } else {
            Duration::ZERO
        }
    }
}

/// GCRA per key: each caller reserves the next free slot under a short lock and then sleeps until
/// it, so callers are served in arrival order and nobody spins.
#[derive(Debug)]
pub struct RateLimiter {
    default: Rate,
    overrides: HashMap<String, Rate>,
    /// (app budget — the app key at one host —, api path) → theoretical arrival time of the next call.
    slots: Mutex<HashMap<(String, String), Instant>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(Rate::per_second(DEFAULT_QPS))
    }
}

impl RateLimiter {
    pub fn new(default: Rate) -> Self {
        Self {
            default,
            overrides: HashMap::new(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// A different limit for one API path (e.g. after buying DingTalk's 60 QPS add-on).
    pub fn with_limit(mut self, api: impl Into<String>, rate: Rate) -> Self {
        self.overrides.insert(api.into(), rate);
        self
    }

    pub fn rate_for(&self, api: &str) -> Rate {
        self.overrides.get(api).copied().unwrap_or(self.default)
    }

    /// Waits until a call to `api` by `app_key` fits the limit, and takes that slot.
    pub async fn acquire(&self, app_key: &str, api: &str) {
        let wait = self.reserve(app_key, api, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes the next slot at or after `now` and returns how long to wait for it.
    fn reserve(&self, app_key: &str, api: &str, now: Instant) -> Duration {
        let rate = self.rate_for(api);
        let interval = rate.interval();
        if interval.is_zero() {
            return Duration::ZERO;
        }
        let tolerance = interval * rate.burst.saturating_sub(1);
        // A poisoned lock only means another task panicked mid-update; the map is still usable.
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = slots
            .entry((app_key.to_owned(), api.to_owned()))
            .or_insert(now);
        let start = (*tat).max(now);
        *tat = start + interval;
        (start.checked_sub(tolerance).unwrap_or(now)).saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_interval_per_app_and_api() {
        let limiter = RateLimiter::new(Rate::per_second(20.0));
        let now = Instant::now();
        let waits: Vec<_> = (0..5).map(|_| limiter.reserve("a", "/x", now)).collect();
        assert_eq!(waits[0], Duration::ZERO);
        assert_eq!(waits[4], Duration::from_millis(200));
        // Another API and another app have their own buckets.
        assert_eq!(limiter.reserve("a", "/y", now), Duration::ZERO);
        assert_eq!(limiter.reserve("b", "/x", now), Duration::ZERO);
    }

    #[test]
    fn burst_lets_the_first_calls_through_at_once() {
        let limiter = RateLimiter::new(Rate {
            per_second: 10.0,
            burst: 3,
        });
        let now = Instant::now();
        let waits: Vec<_> = (0..4).map(|_| limiter.reserve("a", "/x", now)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(100));
    }

    #[test]
    fn overrides_apply_to_their_api_only() {
        let limiter =
            RateLimiter::new(Rate::per_second(20.0)).with_limit("/fast", Rate::per_second(60.0));
        assert_eq!(limiter.rate_for("/fast").per_second, 60.0);
        assert_eq!(limiter.rate_for("/other").per_second, 20.0);
    }

    #[tokio::test]
    async fn concurrent_tasks_share_one_budget() {
        let limiter = std::sync::Arc::new(RateLimiter::new(Rate::per_second(200.0)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.acquire("a", "/x").await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 40 calls at 200/s: the last starts 195 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(195));
    }
}
