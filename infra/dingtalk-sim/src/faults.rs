//! Injectable faults per API: an error code, an HTTP 5xx, a hang or malformed JSON, for the next
//! N calls or a fraction of calls (or both), optionally for one app only; with `lose_answer`, the
//! call takes effect first and only its answer is replaced (a timeout after DingTalk wrote).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::state::lock;

/// The body of `POST /_sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultSpec {
    /// An API path such as `/topapi/v2/user/get`, or `*` for every API.
    pub api: String,
    #[serde(default)]
    pub app_key: Option<String>,
    #[serde(default)]
    pub errcode: Option<i64>,
    /// With `errcode` 88: the code carried in `sub_code`.
    #[serde(default)]
    pub sub_code: Option<i64>,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub hang_ms: Option<u64>,
    #[serde(default)]
    pub malformed: bool,
    /// Run the call (a write takes effect, its events fire), then answer with the fault instead
    /// of the result: what a caller sees when the connection drops after DingTalk wrote. Without
    /// an error code, status or malformed body, the lost answer is a 502. Honoured by the `topapi`
    /// APIs (the writes); elsewhere the call is answered normally.
    #[serde(default)]
    pub lose_answer: bool,
    /// Fire on at most this many calls, then disappear.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fire on this share of matching calls.
    #[serde(default)]
    pub fraction: Option<f64>,
}

/// What a matching fault does to one call.
#[derive(Debug, Clone, Default)]
pub struct Firing {
    pub hang_ms: Option<u64>,
    pub errcode: Option<(i64, Option<i64>)>,
    pub http_status: Option<u16>,
    pub malformed: bool,
    /// Applied after the handler ran, in place of its answer.
    pub lose_answer: bool,
}

#[derive(Default)]
pub struct Faults {
    active: AtomicUsize,
    list: Mutex<Vec<FaultSpec>>,
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) -> usize {
        let mut list = lock(&self.list);
        list.push(spec);
        self.active.store(list.len(), Ordering::Relaxed);
        list.len()
    }

    pub fn clear(&self) {
        lock(&self.list).clear();
        self.active.store(0, Ordering::Relaxed);
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        lock(&self.list).clone()
    }

    /// The first fault matching this call, consuming one of its `count`.
    pub fn fire(&self, api: &str, app_key: Option<&str>) -> Option<Firing> {
        if self.active.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut list = lock(&self.list);
        let index = list.iter().position(|f| {
            (f.api == api || f.api == "*")
                && f.app_key
                    .as_deref()
                    .is_none_or(|want| Some(want) == app_key)
        })?;
        let fault = list.get_mut(index)?;
        if let Some(share) = fault.fraction {
            if !rand::rng().random_bool(share.clamp(0.0, 1.0)) {
                return None;
            }
        }
        let firing = Firing {
            hang_ms: fault.hang_ms,
            errcode: fault.errcode.map(|c| (c, fault.sub_code)),
            http_status: fault.http_status,
            malformed: fault.malformed,
            lose_answer: fault.lose_answer,
        };
        if let Some(n) = fault.count.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                list.remove(index);
                self.active.store(list.len(), Ordering::Relaxed);
            }
        }
        Some(firing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_fires_n_times_then_disappears() {
        let faults = Faults::default();
        faults.add(FaultSpec {
            api: "/gettoken".into(),
            errcode: Some(-1),
            count: Some(2),
            ..FaultSpec::default()
        });
        assert!(faults.fire("/topapi/v2/user/get", None).is_none());
        assert!(faults.fire("/gettoken", None).is_some());
        assert!(faults.fire("/gettoken", None).is_some());
        assert!(faults.fire("/gettoken", None).is_none());
    }

    #[test]
    fn an_app_scoped_fault_spares_other_apps() {
        let faults = Faults::default();
        faults.add(FaultSpec {
            api: "*".into(),
            app_key: Some("a".into()),
            ..FaultSpec::default()
        });
        assert!(faults.fire("/x", Some("b")).is_none());
        assert!(faults.fire("/x", Some("a")).is_some());
    }
}
