//! Callback registration state and event delivery (protocol §1.5–1.6, §2.2–2.3): encrypted
//! pushes signed with the registered token, receive-id = CorpId, retries at +10 s and +30 s
//! (times the configured scale), then the failed-event list.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dingbridge::dingtalk::crypto::{CallbackCrypto, EncryptedReply, SUCCESS};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::envelope::DingError;
use crate::org::OrgEvent;
use crate::state::{KeyCasing, SimState, lock};
use crate::tokens::random_string;

/// DingTalk's retry schedule after a failed push (§1.6), before scaling.
const RETRY_DELAYS_SECS: [f64; 2] = [10.0, 30.0];

/// What `register_call_back` stored for a corp.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub call_back_tag: Vec<String>,
    pub token: String,
    pub aes_key: String,
    pub url: String,
}

/// One corp's callback registration and its failed-event list.
#[derive(Default)]
pub struct CallbackStore {
    pub registration: Mutex<Option<Registration>>,
    pub failed: Mutex<VecDeque<Value>>,
}

/// One push, as `GET /_sim/callbacks` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub corp_id: String,
    pub event_type: String,
    pub payload: Value,
    pub url: String,
    pub attempts: u32,
    /// `pending`, `delivered` or `failed`.
    pub outcome: &'static str,
    pub last_error: Option<String>,
}

/// The HTTP client pushes go through, and the log of every push.
pub struct Delivery {
    client: reqwest::Client,
    pub log: Mutex<Vec<LogEntry>>,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            client: reqwest::Client::new(),
            log: Mutex::default(),
        }
    }
}

/// Why a push was not acknowledged.
#[derive(Debug)]
pub enum PushError {
    /// Connection refused, timeout, non-200 (71012 at registration).
    Unreachable(String),
    /// A reply that is not the encrypted `success` (71009 at registration).
    NotSuccess(String),
}

impl PushError {
    fn text(&self) -> String {
        match self {
            Self::Unreachable(t) | Self::NotSuccess(t) => t.clone(),
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Delivery {
    /// POSTs `{"encrypt":…}` with the signature in the query and checks the encrypted `success`.
    pub async fn push(
        &self,
        reg: &Registration,
        corp_id: &str,
        casing: KeyCasing,
        plaintext: &str,
        timeout: Duration,
    ) -> Result<(), PushError> {
        let crypto = CallbackCrypto::new(reg.token.clone(), &reg.aes_key, corp_id)
            .map_err(|e| PushError::NotSuccess(e.to_string()))?;
        let encrypt = crypto
            .encrypt(plaintext)
            .map_err(|e| PushError::NotSuccess(e.to_string()))?;
        let timestamp = now_ms().to_string();
        let nonce = random_string(16);
        let signature = crypto.signature(&timestamp, &nonce, &encrypt);
        let sig_key = match casing {
            KeyCasing::Legacy => "signature",
            KeyCasing::Current => "msg_signature",
        };
        let query = [
            (sig_key, signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
        ];
        let sep = if reg.url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{sep}{}",
            reg.url,
            serde_urlencoded::to_string(query).unwrap_or_default()
        );
        let response = self
            .client
            .post(url)
            .json(&json!({ "encrypt": encrypt }))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| PushError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(PushError::Unreachable(format!(
                "HTTP {}",
                response.status()
            )));
        }
        let reply: EncryptedReply = response
            .json()
            .await
            .map_err(|_| PushError::NotSuccess("HTTP请求结果校验返回字段值失败".into()))?;
        let text = crypto
            .verify_and_decrypt(
                &reply.msg_signature,
                &reply.time_stamp,
                &reply.nonce,
                &reply.encrypt,
            )
            .map_err(|e| PushError::NotSuccess(e.to_string()))?;
        if text == SUCCESS {
            Ok(())
        } else {
            Err(PushError::NotSuccess("返回文本非success".into()))
        }
    }

    /// The `check_url` handshake of `register_call_back`/`update_call_back`.
    pub async fn check_url(
        &self,
        reg: &Registration,
        corp_id: &str,
        casing: KeyCasing,
        timeout: Duration,
    ) -> Result<(), DingError> {
        // The check event is the fixture itself: what the tests send is what the simulator sends.
        let body = crate::fixtures::fixture("check_url").to_string();
        self.push(reg, corp_id, casing, &body, timeout)
            .await
            .map_err(|e| match e {
                PushError::Unreachable(t) => DingError::new(71012, format!("url地址访问异常: {t}")),
                PushError::NotSuccess(_) => DingError::new(71009, "返回文本非success"),
            })
    }

    fn record(&self, entry: LogEntry) -> usize {
        let mut log = lock(&self.log);
        log.push(entry);
        log.len() - 1
    }

    fn update(&self, index: usize, attempts: u32, outcome: &'static str, error: Option<String>) {
        if let Some(entry) = lock(&self.log).get_mut(index) {
            entry.attempts = attempts;
            entry.outcome = outcome;
            entry.last_error = error;
        }
    }
}

/// Keys (compared ignoring case) whose fixture values are examples: every push sets its own ids,
/// corp, times and event id, so none of the fixture's may survive into it.
const PER_PUSH_KEYS: [&str; 9] = [
    "userid",
    "deptid",
    "corpid",
    "eventcorpid",
    "timestamp",
    "eventtime",
    "eventid",
    "bizid",
    "data",
];

/// The pushed body in the chosen era's key casing (§2.2), built on the fixture of the event's
/// type: what the tests send as DingTalk's event is what the simulator pushes, with this change's
/// ids, corp and times in place of the fixture's examples.
pub fn event_payload(event: &OrgEvent, corp_id: &str, casing: KeyCasing) -> Value {
    let now = now_ms();
    let mut body = match crate::fixtures::fixture(event.tag()) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    body.retain(|key, _| !PER_PUSH_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)));
    let mut set = |key: &str, value: Value| {
        body.insert(key.to_owned(), value);
    };
    set("CorpId", json!(corp_id));
    match casing {
        KeyCasing::Legacy => set("TimeStamp", json!(now)),
        KeyCasing::Current => {
            set("EventTime", json!(now));
            set("BizId", json!(random_string(20)));
            set("eventId", json!(random_string(32).to_lowercase()));
            set("timeStamp", json!(now.to_string()));
        }
    }
    match (event, casing) {
        (
            OrgEvent::UserAdd(u) | OrgEvent::UserModify(u) | OrgEvent::UserLeave(u),
            KeyCasing::Legacy,
        ) => set("UserId", json!([u])),
        (
            OrgEvent::UserAdd(u) | OrgEvent::UserModify(u) | OrgEvent::UserLeave(u),
            KeyCasing::Current,
        ) => set("userId", json!([u])),
        // TopIAM's model of the legacy format has string dept ids; current docs show numbers.
        (
            OrgEvent::DeptCreate(d) | OrgEvent::DeptModify(d) | OrgEvent::DeptRemove(d),
            KeyCasing::Legacy,
        ) => set("DeptId", json!([d.to_string()])),
        (
            OrgEvent::DeptCreate(d) | OrgEvent::DeptModify(d) | OrgEvent::DeptRemove(d),
            KeyCasing::Current,
        ) => set("deptId", json!([d])),
    }
    Value::Object(body)
}

/// An item of `get_call_back_failed_result` (§1.6).
fn failed_item(event: &OrgEvent, corp_id: &str) -> Value {
    let tag = event.tag();
    let data = match event {
        OrgEvent::UserAdd(u) | OrgEvent::UserModify(u) | OrgEvent::UserLeave(u) => {
            json!({ "userid": [u], "corpid": corp_id })
        }
        OrgEvent::DeptCreate(d) | OrgEvent::DeptModify(d) | OrgEvent::DeptRemove(d) => {
            json!({ "deptid": [d], "corpid": corp_id })
        }
    };
    json!({ "call_back_tag": tag, "event_time": now_ms(), tag: data })
}

/// Delivers queued org events in order; retries run on their own tasks.
pub async fn dispatch(sim: Arc<SimState>, mut events: UnboundedReceiver<(usize, OrgEvent)>) {
    while let Some((corp_index, event)) = events.recv().await {
        let Some(corp) = sim.corp(corp_index) else {
            continue;
        };
        let registration = lock(&corp.callbacks.registration).clone();
        let Some(reg) = registration.filter(|r| r.call_back_tag.iter().any(|t| t == event.tag()))
        else {
            continue;
        };
        let settings = sim.settings();
        let payload = event_payload(&event, &corp.corp_id, settings.key_casing);
        let index = sim.delivery.record(LogEntry {
            corp_id: corp.corp_id.clone(),
            event_type: event.tag().into(),
            payload: payload.clone(),
            url: reg.url.clone(),
            attempts: 1,
            outcome: "pending",
            last_error: None,
        });
        let timeout = Duration::from_millis(settings.callback_timeout_ms);
        let text = payload.to_string();
        let first = sim
            .delivery
            .push(&reg, &corp.corp_id, settings.key_casing, &text, timeout)
            .await;
        match first {
            Ok(()) => sim.delivery.update(index, 1, "delivered", None),
            Err(e) => {
                sim.delivery.update(index, 1, "pending", Some(e.text()));
                let sim = Arc::clone(&sim);
                tokio::spawn(async move { retry(sim, corp_index, event, reg, text, index).await });
            }
        }
    }
}

async fn retry(
    sim: Arc<SimState>,
    corp_index: usize,
    event: OrgEvent,
    reg: Registration,
    text: String,
    index: usize,
) {
    let Some(corp) = sim.corp(corp_index) else {
        return;
    };
    let mut attempts = 1;
    for delay in RETRY_DELAYS_SECS {
        let settings = sim.settings();
        let scaled = (delay * settings.callback_time_scale).max(0.0);
        tokio::time::sleep(Duration::from_secs_f64(scaled)).await;
        attempts += 1;
        let timeout = Duration::from_millis(settings.callback_timeout_ms);
        match sim
            .delivery
            .push(&reg, &corp.corp_id, settings.key_casing, &text, timeout)
            .await
        {
            Ok(()) => {
                sim.delivery.update(index, attempts, "delivered", None);
                return;
            }
            Err(e) => sim
                .delivery
                .update(index, attempts, "pending", Some(e.text())),
        }
    }
    lock(&corp.callbacks.failed).push_back(failed_item(&event, &corp.corp_id));
    let error = lock(&sim.delivery.log)
        .get(index)
        .and_then(|e| e.last_error.clone());
    sim.delivery.update(index, attempts, "failed", error);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_casing_follows_the_era() {
        let legacy = event_payload(&OrgEvent::UserAdd("u1".into()), "dingc", KeyCasing::Legacy);
        assert_eq!(legacy["UserId"], json!(["u1"]));
        assert_eq!(legacy["CorpId"], "dingc");
        let current = event_payload(&OrgEvent::DeptRemove(7), "dingc", KeyCasing::Current);
        assert_eq!(current["deptId"], json!([7]));
        assert!(current["eventId"].is_string());
    }

    #[test]
    fn every_pushed_event_is_its_fixture_with_only_this_changes_ids() {
        use dingbridge::dingtalk::events::{EventKind, parse_event};
        let events = [
            OrgEvent::UserAdd("u1".into()),
            OrgEvent::UserModify("u1".into()),
            OrgEvent::UserLeave("u1".into()),
            OrgEvent::DeptCreate(7),
            OrgEvent::DeptModify(7),
            OrgEvent::DeptRemove(7),
        ];
        for event in &events {
            let fixture = crate::fixtures::fixture(event.tag());
            for casing in [KeyCasing::Legacy, KeyCasing::Current] {
                let body = event_payload(event, "dingc", casing);
                // The fixture's documented fields (its event type among them) are pushed as is.
                let documented: Vec<_> = fixture
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| !PER_PUSH_KEYS.iter().any(|p| k.eq_ignore_ascii_case(p)))
                    .collect();
                assert!(!documented.is_empty(), "{fixture}");
                for (key, value) in documented {
                    assert_eq!(body.get(key), Some(value), "{body}");
                }
                let parsed = parse_event(&body.to_string()).unwrap();
                assert_eq!(parsed.event_type, event.tag());
                assert_eq!(parsed.corp_id.as_deref(), Some("dingc"));
                // None of the fixture's example ids or event ids reaches a push.
                match &parsed.kind {
                    EventKind::Users(ids) => {
                        let ids: Vec<_> = ids.iter().map(|i| i.as_str()).collect();
                        assert_eq!(ids, ["u1"], "{body}");
                    }
                    EventKind::Departments(ids) => {
                        let ids: Vec<_> = ids.iter().map(|i| i.get()).collect();
                        assert_eq!(ids, [7], "{body}");
                    }
                    other => panic!("{other:?}"),
                }
                assert_ne!(Some(parsed.key.as_str()), fixture["eventId"].as_str());
            }
        }
    }

    #[test]
    fn a_failed_item_is_keyed_by_its_tag() {
        let item = failed_item(&OrgEvent::UserLeave("u1".into()), "dingc");
        assert_eq!(item["call_back_tag"], "user_leave_org");
        assert_eq!(item["user_leave_org"]["userid"], json!(["u1"]));
    }
}
