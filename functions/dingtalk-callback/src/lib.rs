//! `POST /dingtalk/callback/{connector_id}`: DingTalk's encrypted event push (protocol reference
//! §1–§2). Verify, decrypt, check the receive-id, deduplicate, queue one sync message per event,
//! and answer the encrypted `success` — or refuse with a generic 4xx and one actionable log line.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use dingbridge::dingtalk::crypto::{CallbackCrypto, CryptoError, EncryptedReply};
use dingbridge::dingtalk::events::{CallbackEvent, EventKind, parse_event};
use dingbridge::domain::connector::{Connector, ReceiveIdMode};
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::{Clock, OutMessage, Queue, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::events::Events;
use dingbridge::web::{ApiError, Json};
use sha2::{Digest, Sha256};

/// Largest request body accepted. A real event is a few hundred bytes; a `user_add_org` of a bulk
/// import with hundreds of ids stays well under this.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The route DingTalk is given when the callback is registered (issue 4 §2).
pub const ROUTE: &str = "/dingtalk/callback/{connector_id}";

/// What the callback reads and writes: connectors (to open the callback secrets), the dedupe keys,
/// and the sync queue. That list is also the function's IAM policy.
#[derive(Clone)]
pub struct Deps {
    pub connectors: Connectors,
    pub events: Events,
    /// The sync queue (`SyncQueue` in `template.yaml`).
    pub queue: Arc<dyn Queue>,
    /// The writes left to finish after a reply (the events' dedupe keys): a process that stops
    /// waits for them (`TaskTracker::wait`), so none holds the store past shutdown.
    pub pending: tokio_util::task::TaskTracker,
}

impl Deps {
    /// The stores over one table, with the deployment's data key to open connector secrets.
    pub fn new(
        table: Arc<dyn Table>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
    ) -> Self {
        Self {
            connectors: Connectors::new(table.clone(), clock.clone(), secrets),
            events: Events::new(table, clock),
            queue,
            pending: tokio_util::task::TaskTracker::new(),
        }
    }
}

pub fn router(deps: Deps) -> Router {
    dingbridge::web::json_errors(
        Router::new()
            .route(ROUTE, post(callback))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(deps),
    )
}

/// The query parameters, in either spelling DingTalk uses (§1.2).
struct Signed {
    signature: String,
    timestamp: String,
    nonce: String,
}

async fn callback(
    State(deps): State<Deps>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EncryptedReply>, ApiError> {
    let raw_id = path.as_ref().map(|Path(p)| p.as_str()).unwrap_or_default();
    let shown = printable(raw_id);
    // Cheap checks first, so garbage costs no table read.
    let Ok(connector_id) = ConnectorId::parse(raw_id) else {
        return Err(refuse(
            &shown,
            "connector",
            "the path holds no connector id",
            ApiError::NotFound,
        ));
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(refuse(
                &shown,
                "body",
                "larger than the 64 KiB limit",
                ApiError::PayloadTooLarge,
            ));
        }
        Err(_) => return Err(refuse(&shown, "body", "unreadable body", bad_request())),
    };
    let Some(signed) = signed_params(query.as_deref()) else {
        return Err(refuse(
            &shown,
            "query",
            "msg_signature/signature, timestamp/timeStamp or nonce missing",
            bad_request(),
        ));
    };
    let Some(encrypt) = encrypt_field(&body) else {
        return Err(refuse(
            &shown,
            "body",
            "not a JSON object with an \"encrypt\" string",
            bad_request(),
        ));
    };

    let connector = match deps.connectors.get(&connector_id).await? {
        Some(c) if c.enabled => c,
        Some(_) => {
            return Err(refuse(
                &shown,
                "connector",
                "connector is disabled",
                ApiError::NotFound,
            ));
        }
        None => {
            return Err(refuse(
                &shown,
                "connector",
                "no such connector",
                ApiError::NotFound,
            ));
        }
    };
    let crypto = crypto_for(&deps.connectors, &connector, &shown)?;
    let plaintext = crypto
        .verify_and_decrypt(
            &signed.signature,
            &signed.timestamp,
            &signed.nonce,
            &encrypt,
        )
        .map_err(|e| refuse_crypto(&shown, &connector, &e))?;
    let event = parse_event(&plaintext).map_err(|e| {
        refuse(
            &shown,
            "payload",
            &format!("authentic, but {e}"),
            bad_request(),
        )
    })?;
    // A connector is one corp: an event naming another corp is misrouted or replayed across corps.
    if let Some(corp) = &event.corp_id
        && corp.as_str() != connector.corp_id.as_str()
    {
        return Err(refuse(
            &shown,
            "corp_id",
            "the event names another CorpId than the connector's corp_id",
            ApiError::Forbidden,
        ));
    }

    accept(&deps, &connector, &event, &shown).await?;
    let reply = crypto
        .success_reply(&signed.timestamp, &signed.nonce)
        .map_err(|e| ApiError::Internal(format!("sealing the success reply failed: {e}")))?;
    Ok(Json(reply))
}

/// Queues what the event asks for, unless it was seen before. An `Err` means nothing is
/// acknowledged: DingTalk retries (+10 s, +30 s) and then lists it as failed.
async fn accept(
    deps: &Deps,
    connector: &Connector,
    event: &CallbackEvent,
    shown: &str,
) -> Result<(), ApiError> {
    let message = match &event.kind {
        EventKind::Check => {
            tracing::info!(connector_id = shown, event_type = %event.event_type, "callback URL check answered");
            return Ok(());
        }
        EventKind::Ignored => {
            tracing::info!(connector_id = shown, event_type = %event.event_type, "event type not synced; acknowledged");
            return Ok(());
        }
        EventKind::Users(ids) if !ids.is_empty() => SyncMessage::Users {
            connector_id: connector.id.clone(),
            user_ids: ids.clone(),
            event_type: event.event_type.clone(),
            event_key: event.key.clone(),
        },
        EventKind::Departments(ids) if !ids.is_empty() => SyncMessage::Departments {
            connector_id: connector.id.clone(),
            dept_ids: ids.clone(),
            event_type: event.event_type.clone(),
            event_key: event.key.clone(),
        },
        EventKind::Users(_) | EventKind::Departments(_) => {
            tracing::warn!(
                connector_id = shown,
                event_type = %event.event_type,
                skipped_ids = event.skipped_ids,
                "event carries no valid id; acknowledged, nothing to sync"
            );
            return Ok(());
        }
    };
    if event.skipped_ids > 0 {
        tracing::warn!(connector_id = shown, event_type = %event.event_type, skipped_ids = event.skipped_ids, "invalid ids left out of the event");
    }
    if deps.events.seen(&connector.id, &event.key).await? {
        tracing::info!(connector_id = shown, event_key = %event.key, "duplicate event; acknowledged again");
        return Ok(());
    }
    let body = serde_json::to_string(&message)
        .map_err(|e| ApiError::Internal(format!("encoding a sync message failed: {e}")))?;
    let out = OutMessage::new(
        connector.id.as_str(),
        queue_dedup_id(&connector.id, &event.key),
        body,
    );
    // Any queue failure is a 503: DingTalk only retries what we did not acknowledge.
    deps.queue.send(out).await.map_err(|e| {
        ApiError::Unavailable(format!(
            "enqueue for connector {} failed: {e}",
            connector.id
        ))
    })?;
    // Remembered only once durably queued, and off the reply's path: losing this write (a crash
    // before it commits, or a Lambda frozen before it runs) costs a duplicate message at worst —
    // the queue's own deduplication covers DingTalk's retries, and the worker is idempotent — so
    // DingTalk need not wait for a second durable write.
    let (events, connector_id, key) =
        (deps.events.clone(), connector.id.clone(), event.key.clone());
    deps.pending.spawn(async move {
        if let Err(e) = events.remember(&connector_id, &key).await {
            tracing::warn!(%connector_id, event_key = %key, error = %e, "event queued but its dedupe key was not stored");
        }
    });
    tracing::debug!(connector_id = shown, event_type = %event.event_type, event_key = %event.key, "event queued");
    Ok(())
}

/// The connector's callback crypto, with the receive-id its `receive_id_mode` names (§1.1).
fn crypto_for(
    connectors: &Connectors,
    connector: &Connector,
    shown: &str,
) -> Result<CallbackCrypto, ApiError> {
    let secrets = connectors.open_secrets(connector)?;
    let (Some(token), Some(aes_key)) = (secrets.callback_token, secrets.callback_aes_key) else {
        return Err(refuse(
            shown,
            "connector",
            "callback_token or callback_aes_key not configured",
            ApiError::NotFound,
        ));
    };
    let receive_id = match connector.receive_id_mode {
        ReceiveIdMode::AppKey => connector.app_key.as_str(),
        ReceiveIdMode::CorpId => connector.corp_id.as_str(),
    };
    // The admin API validates these at save time; failing here means a hand-edited table.
    CallbackCrypto::new(token.expose(), aes_key.expose(), receive_id).map_err(|e| {
        ApiError::Internal(format!(
            "connector {} has unusable callback settings: {e}",
            connector.id
        ))
    })
}

/// Maps a crypto failure to a generic answer and a log line saying what to fix.
fn refuse_crypto(shown: &str, connector: &Connector, e: &CryptoError) -> ApiError {
    match e {
        CryptoError::BadSignature => refuse(
            shown,
            "signature",
            "signature mismatch: a wrong callback_token, or a forged request",
            ApiError::Forbidden,
        ),
        CryptoError::ReceiveIdMismatch { found } => refuse(
            shown,
            "receive_id",
            receive_id_hint(found, connector),
            ApiError::Forbidden,
        ),
        other => refuse(
            shown,
            "decrypt",
            &format!(
                "signature valid but the ciphertext does not open (DingTalk {}: {other}); a wrong callback_aes_key?",
                other.dingtalk_code()
            ),
            ApiError::Forbidden,
        ),
    }
}

/// What an operator should fix when a message was sealed for `found` instead of the receive-id
/// the connector's mode names. A mode set the wrong way round is the usual cause (§1.1, 900010).
fn receive_id_hint(found: &str, connector: &Connector) -> &'static str {
    if found == connector.corp_id.as_str() && found != connector.app_key.as_str() {
        "sealed for the connector's corp_id, but receive_id_mode is app_key: events registered through the API use the CorpId; set receive_id_mode to corp_id"
    } else if found == connector.app_key.as_str() && found != connector.corp_id.as_str() {
        "sealed for the connector's app_key, but receive_id_mode is corp_id: events configured in the developer console use the AppKey; set receive_id_mode to app_key"
    } else {
        "sealed for a receive-id that is neither the connector's app_key nor its corp_id: another app's events, or a mistyped app_key/corp_id"
    }
}

/// One warn line an operator can act on (connector, failed check, hint — never a secret or the
/// plaintext); the caller gets only the generic error.
fn refuse(connector_id: &str, check: &'static str, hint: &str, error: ApiError) -> ApiError {
    tracing::warn!(
        connector_id,
        check,
        hint,
        status = error.status().as_u16(),
        "DingTalk callback refused"
    );
    error
}

fn bad_request() -> ApiError {
    ApiError::BadRequest("invalid callback request".to_owned())
}

/// The signature, timestamp and nonce, accepting `msg_signature`/`signature` and
/// `timestamp`/`timeStamp` (the official sample's fallbacks, §1.2). The first occurrence wins.
fn signed_params(query: Option<&str>) -> Option<Signed> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).ok()?;
    let pick = |names: &[&str]| {
        names.iter().find_map(|name| {
            pairs
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
    };
    Some(Signed {
        signature: pick(&["msg_signature", "signature"])?,
        timestamp: pick(&["timestamp", "timeStamp"])?,
        nonce: pick(&["nonce"])?,
    })
}

/// The `encrypt` string of the body DingTalk sends, `{"encrypt":"…"}` (§1.2). A JSON object is
/// required: serde would also take `["…"]` for a one-field struct. The Content-Type is not checked:
/// DingTalk sends JSON, and a proxy relabelling it should not break event delivery.
fn encrypt_field(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        serde_json::Value::Object(mut map) => match map.remove("encrypt")? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// The queue's deduplication id: scoped to the connector (two connectors of one corp receive the
/// same legacy payloads, and SQS deduplicates per queue), always 64 hex characters.
pub fn queue_dedup_id(connector: &ConnectorId, event_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(connector.as_str().as_bytes());
    h.update(b"\n");
    h.update(event_key.as_bytes());
    hex::encode(h.finalize())
}

/// The path segment as logs may show it: bounded and escaped, since anyone can send it.
fn printable(raw: &str) -> String {
    raw.chars().take(64).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests;
