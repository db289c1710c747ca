//! Call limits of protocol §5.1 and the per-API call counters: a token bucket per app × API
//! (90018 beyond it), 10,000 calls per 20 s per source IP (then a 5-minute block).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::state::{AppRef, lock};

const IP_WINDOW: Duration = Duration::from_secs(20);
const IP_BLOCK: Duration = Duration::from_secs(300);

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct IpWindow {
    start: Instant,
    calls: u32,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiCounter {
    pub calls: u64,
    /// Most calls seen inside one wall-clock second.
    pub max_qps: u64,
    /// Calls answered 90018.
    pub throttled: u64,
    #[serde(skip)]
    second: u64,
    #[serde(skip)]
    in_second: u64,
}

pub struct Limits {
    epoch: Instant,
    buckets: Mutex<HashMap<(AppRef, &'static str), Bucket>>,
    ips: Mutex<HashMap<IpAddr, IpWindow>>,
    counters: Mutex<HashMap<&'static str, ApiCounter>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            buckets: Mutex::default(),
            ips: Mutex::default(),
            counters: Mutex::default(),
        }
    }
}

impl Limits {
    pub fn count(&self, api: &'static str) {
        let second = self.epoch.elapsed().as_secs();
        let mut counters = lock(&self.counters);
        let c = counters.entry(api).or_default();
        c.calls += 1;
        if c.second != second {
            c.second = second;
            c.in_second = 0;
        }
        c.in_second += 1;
        c.max_qps = c.max_qps.max(c.in_second);
    }

    pub fn counters(&self) -> HashMap<String, ApiCounter> {
        lock(&self.counters)
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    pub fn reset_counters(&self) {
        lock(&self.counters).clear();
    }

    /// Takes one token from the app × API bucket (capacity and refill = `qps` per second).
    pub fn take(&self, app: AppRef, api: &'static str, qps: u32) -> bool {
        if qps == 0 {
            return true;
        }
        let now = Instant::now();
        let capacity = f64::from(qps);
        let mut buckets = lock(&self.buckets);
        let bucket = buckets.entry((app, api)).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * capacity;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            drop(buckets);
            if let Some(c) = lock(&self.counters).get_mut(api) {
                c.throttled += 1;
            }
            false
        }
    }

    /// Counts a call from `ip`; false while the IP is over the limit or blocked.
    pub fn ip_allows(&self, ip: IpAddr, per_20s: u32) -> bool {
        if per_20s == 0 {
            return true;
        }
        let now = Instant::now();
        let mut ips = lock(&self.ips);
        let w = ips.entry(ip).or_insert(IpWindow {
            start: now,
            calls: 0,
            blocked_until: None,
        });
        if let Some(until) = w.blocked_until {
            if now < until {
                return false;
            }
            *w = IpWindow {
                start: now,
                calls: 0,
                blocked_until: None,
            };
        }
        if now.duration_since(w.start) >= IP_WINDOW {
            w.start = now;
            w.calls = 0;
        }
        w.calls += 1;
        if w.calls > per_20s {
            w.blocked_until = Some(now + IP_BLOCK);
            return false;
        }
        true
    }

    pub fn unblock_ips(&self) {
        lock(&self.ips).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_bucket_is_refused() {
        let limits = Limits::default();
        let app = AppRef { corp: 0, app: 0 };
        let granted = (0..30).filter(|_| limits.take(app, "/x", 20)).count();
        assert_eq!(granted, 20);
        assert!(limits.take(AppRef { corp: 0, app: 1 }, "/x", 20));
    }

    #[test]
    fn an_ip_over_its_window_is_blocked() {
        let limits = Limits::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!((0..5).all(|_| limits.ip_allows(ip, 5)));
        assert!(!limits.ip_allows(ip, 5));
        assert!(!limits.ip_allows(ip, 5));
    }
}
