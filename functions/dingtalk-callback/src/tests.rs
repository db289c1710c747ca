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
    CheckedConnector, Connector, EmailField, LeaverPolicy, PullMode, ReceiveIdMode,
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
        corp_id: CORP_ID.into(),
        app_key: APP_KEY.into(),
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
        pull_schedule: "0 2 * * *".into(),
        mass_delete_max_share: 0.1,
        mass_delete_max_count: 100,
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
        other.app_key = format!("{APP_KEY}-{}", OrgUnitId::generate());
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

#[tokio::test]
async fn check_url_is_answered_with_encrypted_success_and_queues_nothing() {
    let h = harness().await;
    let (status, body) = h.send(h.request(r#"{"EventType":"check_url"}"#)).await;
    h.assert_success(status, &body);
    assert_eq!(body["timeStamp"], "1685501863357");
    assert_eq!(body["nonce"], "nEXhMP4r");
    let (status, body) = h
        .send(h.request(r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF"}"#))
        .await;
    h.assert_success(status, &body);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn the_legacy_query_spelling_is_accepted() {
    let h = harness().await;
    let encrypt = h.crypto.encrypt(r#"{"EventType":"check_url"}"#).unwrap();
    let (status, body) = h
        .send(signed_request(&h.path(), &h.crypto, &encrypt, true))
        .await;
    h.assert_success(status, &body);
}

#[tokio::test]
async fn a_legacy_user_event_queues_one_users_message() {
    let h = harness().await;
    let plaintext = format!(
        r#"{{"EventType":"user_add_org","TimeStamp":43535463645,"UserId":["zhangsan","lisi"],"CorpId":"{CORP_ID}"}}"#
    );
    let (status, body) = h.send(h.request(&plaintext)).await;
    h.assert_success(status, &body);
    let messages = h.drain().await;
    assert_eq!(messages.len(), 1);
    let (group, message) = &messages[0];
    assert_eq!(group, h.connector.id.as_str());
    assert_eq!(
        *message,
        SyncMessage::Users {
            connector_id: h.connector.id.clone(),
            user_ids: vec![user("zhangsan"), user("lisi")],
            event_type: "user_add_org".into(),
            event_key: hex::encode(Sha256::digest(plaintext.as_bytes())),
        }
    );
}

#[tokio::test]
async fn a_current_department_event_queues_one_departments_message() {
    let h = harness().await;
    let plaintext = format!(
        r#"{{"EventType":"org_dept_create","CorpId":"{CORP_ID}","eventId":"e-77","timeStamp":"1685501863357","deptId":[432825033,"12"]}}"#
    );
    let (status, body) = h.send(h.request(&plaintext)).await;
    h.assert_success(status, &body);
    let messages = h.drain().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].1,
        SyncMessage::Departments {
            connector_id: h.connector.id.clone(),
            dept_ids: vec![DeptId::new(432_825_033).unwrap(), DeptId::new(12).unwrap()],
            event_type: "org_dept_create".into(),
            event_key: "e-77".into(),
        }
    );
}

#[tokio::test]
async fn camel_case_user_events_and_admin_events_are_queued() {
    let h = harness().await;
    for (t, id) in [
        ("user_modify_org", "u1"),
        ("org_admin_add", "u2"),
        ("user_active_org", "u3"),
    ] {
        let plaintext = format!(r#"{{"eventType":"{t}","corpId":"{CORP_ID}","userId":["{id}"]}}"#);
        let (status, body) = h.send(h.request(&plaintext)).await;
        h.assert_success(status, &body);
    }
    let ids: Vec<_> = h
        .drain()
        .await
        .into_iter()
        .map(|(_, m)| match m {
            SyncMessage::Users { user_ids, .. } => user_ids,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [vec![user("u1")], vec![user("u2")], vec![user("u3")]]);
}

#[tokio::test]
async fn a_replayed_event_is_acknowledged_and_queues_nothing_new() {
    let h = harness().await;
    let plaintext = r#"{"EventType":"user_leave_org","UserId":["gone"]}"#;
    let request = || h.request(plaintext);
    let (status, body) = h.send(request()).await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
    // DingTalk's retry re-encrypts the same plaintext (a new random prefix): still a duplicate.
    for _ in 0..2 {
        let (status, body) = h.send(request()).await;
        h.assert_success(status, &body);
    }
    // The very same bytes again, as a replay would send them.
    let encrypt = h.crypto.encrypt(plaintext).unwrap();
    for _ in 0..2 {
        let (status, body) = h
            .send(signed_request(&h.path(), &h.crypto, &encrypt, false))
            .await;
        h.assert_success(status, &body);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn events_with_the_same_event_id_are_one_event() {
    let h = harness().await;
    for ts in ["1", "2"] {
        let plaintext = format!(
            r#"{{"EventType":"org_dept_modify","eventId":"same","timeStamp":"{ts}","deptId":[5]}}"#
        );
        let (status, body) = h.send(h.request(&plaintext)).await;
        h.assert_success(status, &body);
    }
    assert_eq!(h.drain().await.len(), 1);
}

#[tokio::test]
async fn unsynced_event_types_and_id_less_events_are_acknowledged_only() {
    let h = harness().await;
    for plaintext in [
        r#"{"EventType":"label_user_change","userIdList":["a"],"action":"add"}"#,
        r#"{"EventType":"org_change"}"#,
        r#"{"EventType":"user_add_org","UserId":[]}"#,
        r#"{"EventType":"org_dept_remove","DeptId":[0,"x"]}"#,
    ] {
        let (status, body) = h.send(h.request(plaintext)).await;
        h.assert_success(status, &body);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn the_corp_id_receive_mode_uses_the_corp_id() {
    let h = harness_with(ReceiveIdMode::CorpId, 0).await;
    let (status, body) = h
        .send(h.request(r#"{"EventType":"user_add_org","UserId":["a"]}"#))
        .await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
}

#[tokio::test]
async fn an_enqueue_failure_is_a_503_and_the_retry_succeeds() {
    let h = harness_with(ReceiveIdMode::AppKey, 2).await;
    let plaintext = r#"{"EventType":"user_modify_org","UserId":["u1"],"eventId":"ev-retry"}"#;
    for _ in 0..2 {
        let (status, body) = h.send(h.request(plaintext)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["message"], "temporarily unavailable, retry later");
        assert!(
            !h.deps
                .events
                .seen(&h.connector.id, "ev-retry")
                .await
                .unwrap()
        );
    }
    assert!(h.drain().await.is_empty());
    let (status, body) = h.send(h.request(plaintext)).await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
    assert!(
        h.deps
            .events
            .seen(&h.connector.id, "ev-retry")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let h = harness().await;
    let encrypt = h
        .crypto
        .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
        .unwrap();
    let sig = h.crypto.signature("1", "n", &encrypt);
    let mut tampered = sig.clone().into_bytes();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (s, ts) in [(tampered.as_str(), "1"), (sig.as_str(), "2")] {
        let uri = format!("{}?msg_signature={s}&timestamp={ts}&nonce=n", h.path());
        let (status, body) = h
            .send(post(
                &uri,
                serde_json::json!({"encrypt": encrypt}).to_string(),
            ))
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    // A ciphertext altered after signing.
    let altered = format!("A{}", &encrypt[1..]);
    let uri = format!("{}?msg_signature={sig}&timestamp=1&nonce=n", h.path());
    let (status, body) = h
        .send(post(
            &uri,
            serde_json::json!({"encrypt": altered}).to_string(),
        ))
        .await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_wrong_receive_id_is_refused() {
    let h = harness().await; // expects the AppKey
    for receive_id in [CORP_ID, "suite4xxxxxxxxxxxxxxx"] {
        let other = CallbackCrypto::new(TOKEN, AES_KEY, receive_id).unwrap();
        let encrypt = other
            .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
            .unwrap();
        let (status, body) = h
            .send(signed_request(&h.path(), &other, &encrypt, false))
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn an_event_of_another_corp_is_refused() {
    let h = harness().await;
    let (status, body) = h
        .send(h.request(r#"{"EventType":"user_add_org","UserId":["a"],"CorpId":"dingother"}"#))
        .await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_our_format() {
    let h = harness().await;
    let big = "A".repeat(MAX_BODY_BYTES + 1);
    let body = serde_json::json!({ "encrypt": big }).to_string();
    let uri = format!("{}?msg_signature=x&timestamp=1&nonce=n", h.path());
    let (status, json) = h.send(post(&uri, body.clone())).await;
    assert_refused(status, &json, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"], "payload_too_large");
    // Without a Content-Length (a streamed body), the limit holds too.
    let stream = futures_body(body);
    let (status, json) = h.send(Request::post(&uri).body(stream).unwrap()).await;
    assert_refused(status, &json, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.drain().await.is_empty());
}

/// A body of unknown length, as a chunked request has.
fn futures_body(text: String) -> Body {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = text
        .into_bytes()
        .chunks(4096)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn invalid_json_bodies_are_refused() {
    let h = harness().await;
    let uri = format!("{}?msg_signature=x&timestamp=1&nonce=n", h.path());
    for body in [
        "",
        "not json",
        "{}",
        r#"{"encrypt":5}"#,
        "[\"encrypt\"]",
        "{\"encrypt\":\"x\"",
    ] {
        let (status, json) = h.send(post(&uri, body)).await;
        assert_refused(status, &json, StatusCode::BAD_REQUEST);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn missing_query_parameters_are_refused() {
    let h = harness().await;
    let encrypt = h.crypto.encrypt(r#"{"EventType":"check_url"}"#).unwrap();
    let sig = h.crypto.signature("1", "n", &encrypt);
    for query in [
        String::new(),
        format!("?msg_signature={sig}&timestamp=1"),
        format!("?msg_signature={sig}&nonce=n"),
        "?timestamp=1&nonce=n".to_owned(),
        format!("?msg_signature={sig}&timestamp=&nonce=n"),
    ] {
        let uri = format!("{}{query}", h.path());
        let (status, body) = h
            .send(post(
                &uri,
                serde_json::json!({"encrypt": encrypt}).to_string(),
            ))
            .await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
    }
}

/// Sends `ciphertext` (raw bytes) with a valid signature: only the decryptor can refuse it.
async fn send_signed_ciphertext(h: &Harness, encrypt: &str) -> (StatusCode, serde_json::Value) {
    h.send(signed_request(&h.path(), &h.crypto, encrypt, false))
        .await
}

#[tokio::test]
async fn invalid_base64_is_refused_even_when_signed() {
    let h = harness().await;
    for encrypt in ["not base64!", "QUJD", "QUJDRA", "====", "QUJDRA==\n"] {
        let (status, body) = send_signed_ciphertext(&h, encrypt).await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_ciphertext_of_a_bad_length_is_refused() {
    let h = harness().await;
    for len in [1, 15, 17, 40] {
        let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(vec![7u8; len])).await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn bad_padding_is_refused() {
    let h = harness().await;
    let mut raw = STANDARD
        .decode(
            h.crypto
                .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
                .unwrap(),
        )
        .unwrap();
    // In CBC, flipping a bit of the second-to-last block flips the same bit of the last plaintext
    // block: the final (padding) byte becomes > 32.
    let at = raw.len() - 17;
    raw[at] ^= 0x80;
    let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(&raw)).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    // A key other than the connector's: the padding does not check out either.
    let wrong = CallbackCrypto::new(
        TOKEN,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        APP_KEY,
    )
    .unwrap();
    let encrypt = wrong
        .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
        .unwrap();
    let (status, body) = send_signed_ciphertext(&h, &encrypt).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_bad_length_prefix_is_refused() {
    let h = harness().await;
    let mut raw = STANDARD
        .decode(
            h.crypto
                .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
                .unwrap(),
        )
        .unwrap();
    // Plaintext bytes 16..20 (the big-endian length) are block 2 XOR ciphertext block 1: flipping
    // the top bit of ciphertext byte 0 adds 2^31 to the declared length.
    raw[0] ^= 0x80;
    let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(&raw)).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_signed_plaintext_that_is_no_event_is_refused() {
    let h = harness().await;
    for plaintext in ["success", "[]", r#"{"UserId":["a"]}"#] {
        let (status, body) = h.send(h.request(plaintext)).await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_the_json_error_body() {
    let h = harness().await;
    for (request, status, code) in [
        (
            Request::post("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::get(h.path()).body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let response = router(h.deps.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(response.headers()[header::ALLOW], "POST");
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], code, "{body}");
    }
}

#[tokio::test]
async fn unknown_disabled_and_unconfigured_connectors_are_refused_alike() {
    let h = harness().await;
    let disabled = h.other_connector(false, true).await;
    let unconfigured = h.other_connector(true, false).await;
    let encrypt = h
        .crypto
        .encrypt(r#"{"EventType":"user_add_org","UserId":["a"]}"#)
        .unwrap();
    for id in [
        dingbridge::domain::ids::ConnectorId::generate().to_string(),
        disabled.id.to_string(),
        unconfigured.id.to_string(),
        "not-a-uuid".to_owned(),
        "%FF%FE".to_owned(),
    ] {
        let path = format!("/dingtalk/callback/{id}");
        let (status, body) = h
            .send(signed_request(&path, &h.crypto, &encrypt, false))
            .await;
        assert_refused(status, &body, StatusCode::NOT_FOUND);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_connector_under_another_data_key_is_an_internal_error_not_a_leak() {
    let h = harness().await;
    let other_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let deps = Deps::new(h.table.clone(), h.queue.clone(), h.clock.clone(), other_key);
    let response = router(deps)
        .oneshot(h.request(r#"{"EventType":"check_url"}"#))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["message"],
        "internal error"
    );
}

#[tokio::test]
async fn a_receive_id_mix_up_names_the_mode_to_set() {
    let h = harness().await;
    assert!(receive_id_hint(CORP_ID, &h.connector).contains("set receive_id_mode to corp_id"));
    let mut corp_mode = h.connector.clone();
    corp_mode.receive_id_mode = ReceiveIdMode::CorpId;
    assert!(receive_id_hint(APP_KEY, &corp_mode).contains("set receive_id_mode to app_key"));
    assert!(receive_id_hint("suite4xxxxxxxxxxxxxxx", &h.connector).contains("neither"));
}

#[test]
fn queue_dedup_ids_are_per_connector_and_fit_sqs() {
    let a = dingbridge::domain::ids::ConnectorId::generate();
    let b = dingbridge::domain::ids::ConnectorId::generate();
    let id = queue_dedup_id(&a, "ev");
    assert_eq!(id.len(), 64);
    assert_ne!(id, queue_dedup_id(&b, "ev"));
    assert_eq!(id, queue_dedup_id(&a, "ev"));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn cases(n: u32) -> Config {
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any bytes and any query string: a 4xx, never a panic or a 5xx.
#[test]
fn arbitrary_requests_are_refused_without_panic() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let param = prop_oneof![
        Just("msg_signature".to_owned()),
        Just("signature".to_owned()),
        Just("timestamp".to_owned()),
        Just("timeStamp".to_owned()),
        Just("nonce".to_owned()),
        "\\PC{0,8}",
    ];
    let query = prop::collection::vec((param, "\\PC{0,48}"), 0..6);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,200}".prop_map(|s| serde_json::json!({ "encrypt": s }).to_string().into_bytes()),
    ];
    TestRunner::new(cases(256))
        .run(&(query, body, any::<bool>()), |(pairs, body, raw_query)| {
            let query = if raw_query {
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}&"))
                    .collect::<String>()
            } else {
                serde_urlencoded::to_string(&pairs).unwrap()
            };
            let Ok(request) = Request::post(format!("{}?{query}", h.path())).body(Body::from(body))
            else {
                return Ok(()); // not a URI a client could send
            };
            let (status, _) = rt.block_on(h.send(request));
            prop_assert!(status.is_client_error(), "{status}");
            Ok(())
        })
        .unwrap();
    assert!(rt.block_on(h.drain()).is_empty());
}

/// Any ciphertext bytes under a valid signature: the decryptor refuses, never panics.
#[test]
fn arbitrary_signed_ciphertexts_are_refused_without_panic() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (1usize..12).prop_flat_map(|blocks| prop::collection::vec(any::<u8>(), blocks * 16)),
    ];
    TestRunner::new(cases(256))
        .run(&strategy, |raw| {
            let (status, _) = rt.block_on(send_signed_ciphertext(&h, &STANDARD.encode(&raw)));
            prop_assert!(status.is_client_error(), "{status}");
            Ok(())
        })
        .unwrap();
    assert!(rt.block_on(h.drain()).is_empty());
}

/// Any authentic plaintext: answered (200) or refused (400), never a panic or a 5xx.
#[test]
fn arbitrary_authentic_plaintexts_never_fail_the_server() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let event_type = prop_oneof![
        Just("user_add_org"),
        Just("org_dept_modify"),
        Just("check_url"),
        Just("label_user_change"),
    ];
    let id = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,70}".prop_map(serde_json::Value::from),
    ];
    let json_event = (
        event_type,
        "(UserId|userId|userid|DeptId|deptId)",
        prop::collection::vec(id, 0..4),
    )
        .prop_map(|(t, key, ids)| serde_json::json!({ "EventType": t, key: ids }).to_string());
    let strategy = prop_oneof![json_event, "\\PC{0,200}"];
    TestRunner::new(cases(128))
        .run(&strategy, |plaintext| {
            let (status, _) = rt.block_on(h.send(h.request(&plaintext)));
            prop_assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "{status} for {plaintext}"
            );
            Ok(())
        })
        .unwrap();
}
