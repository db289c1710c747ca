//! The callback through its router, on the embedded engines in a temporary directory, with
//! requests sealed by a real `CallbackCrypto` — the security tests of issue 4 included.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::crypto::{CallbackCrypto, EncryptedReply};
use dingbridge::dingtalk::{DeptId, DingUserId};
use dingbridge::domain::connector::{
    AppKey, CheckedConnector, Connector, CorpId, EmailField, LeaverPolicy, PullMode, PullSchedule,
    ReceiveIdMode,
};
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::{Clock, OutMessage, Queue, QueueConsumer, QueueError, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "tok123";
/// The EncodingAESKey of protocol vector V1 (its last character has trailing bits: §1.1).
const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
const CORP_ID: &str = "dingcorp0001";
const APP_KEY: &str = "dingappkey0001";

/// A DingTalk payload from the shared fixtures as this harness's corp sends it: the corp id (in
/// the fixture's own casing, where it has one) is ours, then `fields` replace their keys — a
/// variation is made in code, never as a new literal.
fn event(name: &str, fields: &[(&str, serde_json::Value)]) -> String {
    let mut value = dingtalk_sim::fixtures::fixture(name);
    for key in ["CorpId", "corpId", "eventCorpId"] {
        if value.get(key).is_some() {
            value[key] = CORP_ID.into();
        }
    }
    for (key, field) in fields {
        value[*key] = field.clone();
    }
    value.to_string()
}

/// The plain user event most refusal tests seal and then break: one user added.
fn one_user_event() -> String {
    event("user_add_org", &[("UserId", serde_json::json!(["a"]))])
}

/// That event sealed for the harness's connector, as raw ciphertext bytes to tamper with.
fn ciphertext_bytes(h: &Harness) -> Vec<u8> {
    STANDARD
        .decode(h.crypto.encrypt(&one_user_event()).unwrap())
        .unwrap()
}

/// A queue that fails its first `failures` sends, then forwards to a real queue.
struct FlakyQueue {
    inner: Arc<EmbeddedQueue>,
    failures: AtomicUsize,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, message: OutMessage) -> Result<(), QueueError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::Transient("throttled".into()));
        }
        self.inner.send(message).await
    }
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), QueueError> {
        for m in messages {
            self.send(m).await?;
        }
        Ok(())
    }
    fn engine(&self) -> &'static str {
        "flaky"
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    deps: Deps,
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    queue: Arc<EmbeddedQueue>,
    connector: Connector,
    /// Seals as DingTalk does for this connector (receive-id per its mode).
    crypto: CallbackCrypto,
}

fn settings(enabled: bool, mode: ReceiveIdMode, callback: bool) -> CheckedConnector {
    CheckedConnector {
        name: "acme".into(),
        corp_id: CorpId::parse(CORP_ID).unwrap(),
        app_key: AppKey::parse(APP_KEY).unwrap(),
        app_secret: Some("app-secret-value".into()),
        agent_id: Some(1),
        enabled,
        email_field: EmailField::Email,
        register_callback: false,
        callback_token: callback.then(|| TOKEN.into()),
        callback_aes_key: callback.then(|| AES_KEY.into()),
        receive_id_mode: mode,
        root_org_unit_id: None,
        default_password: None,
        leaver_policy: LeaverPolicy::Disable,
        pull_mode: PullMode::Review,
        pull_schedule: PullSchedule::parse("0 2 * * *").unwrap(),
        mass_delete_max_share: 0.1,
        mass_delete_max_count: 100,
        push: Default::default(),
        oapi_base: "http://127.0.0.1:1".into(),
        api_base: "http://127.0.0.1:1".into(),
        login_base: "http://127.0.0.1:1".into(),
    }
}

async fn harness_with(mode: ReceiveIdMode, failures: usize) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let queue = Arc::new(store.queue("sync", QueueSettings::default(), clock.clone()));
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let flaky: Arc<dyn Queue> = Arc::new(FlakyQueue {
        inner: queue.clone(),
        failures: AtomicUsize::new(failures),
    });
    let deps = Deps::new(table.clone(), flaky, clock.clone(), secrets);
    let connector = deps
        .connectors
        .create(
            settings(true, mode, true),
            OrgUnitId::generate(),
            &Actor::new(Origin::Admin, "test"),
        )
        .await
        .unwrap();
    let receive_id = match mode {
        ReceiveIdMode::AppKey => APP_KEY,
        ReceiveIdMode::CorpId => CORP_ID,
    };
    Harness {
        _dir: dir,
        crypto: CallbackCrypto::new(TOKEN, AES_KEY, receive_id).unwrap(),
        deps,
        table,
        clock,
        queue,
        connector,
    }
}

async fn harness() -> Harness {
    harness_with(ReceiveIdMode::AppKey, 0).await
}

impl Harness {
    /// Another connector in the same table (disabled, or without callback settings), for
    /// another app of the corp (one connector per DingTalk app).
    async fn other_connector(&self, enabled: bool, callback: bool) -> Connector {
        let mut other = settings(enabled, ReceiveIdMode::AppKey, callback);
        other.app_key = AppKey::parse(&format!("{APP_KEY}-{}", OrgUnitId::generate())).unwrap();
        self.deps
            .connectors
            .create(
                other,
                OrgUnitId::generate(),
                &Actor::new(Origin::Admin, "test"),
            )
            .await
            .unwrap()
    }

    fn path(&self) -> String {
        format!("/dingtalk/callback/{}", self.connector.id)
    }

    /// A request as DingTalk's current docs send it (`msg_signature`, `timestamp`).
    fn request(&self, plaintext: &str) -> Request<Body> {
        signed_request(
            &self.path(),
            &self.crypto,
            &self.crypto.encrypt(plaintext).unwrap(),
            false,
        )
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, serde_json::Value) {
        let response = router(self.deps.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Everything queued so far (received and acknowledged, so each call sees only new messages).
    async fn drain(&self) -> Vec<(String, SyncMessage)> {
        let received = self
            .queue
            .receive(100, Duration::from_secs(30))
            .await
            .unwrap();
        let mut out = Vec::new();
        for r in received {
            self.queue.ack(&r.receipt).await.unwrap();
            out.push((r.group, serde_json::from_str(&r.body).unwrap()));
        }
        out
    }

    /// The reply is DingTalk's format, signed with our token, and opens to `success` (§1.5).
    fn assert_success(&self, status: StatusCode, body: &serde_json::Value) {
        assert_eq!(status, StatusCode::OK, "{body}");
        let object = body.as_object().unwrap();
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["encrypt", "msg_signature", "nonce", "timeStamp"]);
        let reply: EncryptedReply = serde_json::from_value(body.clone()).unwrap();
        self.crypto
            .verify_signature(
                &reply.msg_signature,
                &reply.time_stamp,
                &reply.nonce,
                &reply.encrypt,
            )
            .unwrap();
        assert_eq!(self.crypto.decrypt(&reply.encrypt).unwrap(), "success");
    }
}

fn signed_request(
    path: &str,
    crypto: &CallbackCrypto,
    encrypt: &str,
    legacy: bool,
) -> Request<Body> {
    let (ts, nonce) = ("1685501863357", "nEXhMP4r");
    let sig = crypto.signature(ts, nonce, encrypt);
    let query = if legacy {
        format!("signature={sig}&timeStamp={ts}&nonce={nonce}")
    } else {
        format!("msg_signature={sig}&timestamp={ts}&nonce={nonce}")
    };
    post(
        &format!("{path}?{query}"),
        serde_json::json!({ "encrypt": encrypt }).to_string(),
    )
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn user(id: &str) -> DingUserId {
    DingUserId::parse(id).unwrap()
}

/// A refusal: a 4xx whose body says nothing beyond the generic category.
fn assert_refused(status: StatusCode, body: &serde_json::Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        [
            "bad request: invalid callback request",
            "forbidden",
            "not found",
            "payload too large"
        ]
        .contains(&message),
        "{body}"
    );
    assert!(body.get("field").is_none());
}

/// Sends `ciphertext` (raw bytes) with a valid signature: only the decryptor can refuse it.
async fn send_signed_ciphertext(h: &Harness, encrypt: &str) -> (StatusCode, serde_json::Value) {
    h.send(signed_request(&h.path(), &h.crypto, encrypt, false))
        .await
}

mod events;
mod fuzz;
mod refusals;
