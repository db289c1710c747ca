//! DingTalk contact events as the callback receives them, decrypted (protocol reference §2.1–§2.2):
//! a pure parser that accepts every key casing DingTalk has used (`UserId`/`userId`/`userid`, …),
//! ids as strings or numbers, and the Stream-style `data` wrapper.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{DeptId, DingUserId};

/// Longest `eventId` used as is for deduplication; longer ones (never seen) fall back to the digest,
/// so every key fits an SQS deduplication id and a table key.
const MAX_EVENT_ID_LEN: usize = 128;

/// URL verification events: answered with `success`, nothing else (§1.5, §1.6).
const CHECK_EVENTS: [&str; 3] = [
    "check_url",
    "check_create_suite_url",
    "check_update_suite_url",
];
/// Events whose ids are users to re-read (§2.1). Admin grants and activations change what DingTalk
/// returns for the user, so they are reconciled like any other user change.
const USER_EVENTS: [&str; 6] = [
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "user_active_org",
    "org_admin_add",
    "org_admin_remove",
];
/// Events whose ids are departments to re-read (§2.1).
const DEPT_EVENTS: [&str; 3] = ["org_dept_create", "org_dept_modify", "org_dept_remove"];

/// What the callback has to do with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// URL verification: answer, enqueue nothing.
    Check,
    /// Re-read these users (in payload order, duplicates removed).
    Users(Vec<DingUserId>),
    /// Re-read these departments (in payload order, duplicates removed).
    Departments(Vec<DeptId>),
    /// An event dingbridge does not act on (roles, org info, …): acknowledged only.
    Ignored,
}

/// One decrypted callback event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackEvent {
    /// DingTalk's `EventType`, lowercased (`user_add_org`, …).
    pub event_type: String,
    pub kind: EventKind,
    /// The `CorpId` the event names, when it names one.
    pub corp_id: Option<String>,
    /// The deduplication key: `eventId` when present, else the hex SHA-256 of the decrypted body
    /// (the legacy format has no `eventId`, and DingTalk's retries re-send the same plaintext).
    pub key: String,
    /// Ids present in the payload but not valid DingTalk ids (left out of `kind`).
    pub skipped_ids: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the decrypted event is not a JSON object")]
    NotAnObject,
    #[error("the decrypted event has no EventType")]
    MissingType,
}

/// Parses a decrypted callback body. Never panics; unknown event types are `Ignored`, not errors.
pub fn parse_event(body: &str) -> Result<CallbackEvent, EventError> {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(body) else {
        return Err(EventError::NotAnObject);
    };
    // Stream-style pushes nest the ids under `data` (§2.2); the envelope keys stay on top.
    let nested = match field(&top, "data") {
        Some(Value::Object(data)) => Some(data),
        _ => None,
    };
    let scopes: Vec<&Map<String, Value>> = std::iter::once(&top).chain(nested).collect();
    let lookup = |names: &[&str]| {
        scopes
            .iter()
            .find_map(|scope| names.iter().find_map(|n| field(scope, n)))
    };

    let event_type = lookup(&["eventtype"])
        .and_then(scalar_text)
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .ok_or(EventError::MissingType)?;
    let corp_id = lookup(&["corpid", "eventcorpid"])
        .and_then(scalar_text)
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let key = lookup(&["eventid"])
        .and_then(scalar_text)
        .filter(|id| usable_event_id(id))
        .unwrap_or_else(|| hex::encode(Sha256::digest(body.as_bytes())));

    let mut skipped_ids = 0;
    let kind = if CHECK_EVENTS.contains(&event_type.as_str()) {
        EventKind::Check
    } else if USER_EVENTS.contains(&event_type.as_str()) {
        let raw = ids_of(&scopes, "userid");
        let mut ids: Vec<DingUserId> = Vec::with_capacity(raw.len());
        for value in raw {
            match scalar_text(value).map(DingUserId::parse) {
                Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
                Some(Ok(_)) => {}
                _ => skipped_ids += 1,
            }
        }
        EventKind::Users(ids)
    } else if DEPT_EVENTS.contains(&event_type.as_str()) {
        let raw = ids_of(&scopes, "deptid");
        let mut ids: Vec<DeptId> = Vec::with_capacity(raw.len());
        for value in raw {
            match dept_id(value) {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => skipped_ids += 1,
            }
        }
        EventKind::Departments(ids)
    } else {
        EventKind::Ignored
    };

    Ok(CallbackEvent {
        event_type,
        kind,
        corp_id,
        key,
        skipped_ids,
    })
}

/// The value of the first key equal to `lower` ignoring ASCII case.
fn field<'a>(map: &'a Map<String, Value>, lower: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(lower))
        .map(|(_, v)| v)
}

/// Every id under every casing of `lower` in every scope: lists are flattened, a lone id counts.
fn ids_of<'a>(scopes: &[&'a Map<String, Value>], lower: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for scope in scopes {
        for (k, v) in scope.iter() {
            if !k.eq_ignore_ascii_case(lower) {
                continue;
            }
            match v {
                Value::Array(items) => out.extend(items.iter()),
                Value::Null => {}
                other => out.push(other),
            }
        }
    }
    out
}

/// Strings as they are, integers as decimal text; anything else is not an id.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

fn dept_id(value: &Value) -> Option<DeptId> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|v| DeptId::new(v).ok()),
        Value::String(s) => DeptId::parse(s).ok(),
        _ => None,
    }
}

/// Usable as a deduplication key as is: printable ASCII (what SQS allows in a deduplication id).
fn usable_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(ids: &[&str]) -> EventKind {
        EventKind::Users(ids.iter().map(|i| DingUserId::parse(*i).unwrap()).collect())
    }

    fn depts(ids: &[u64]) -> EventKind {
        EventKind::Departments(ids.iter().map(|i| DeptId::new(*i).unwrap()).collect())
    }

    /// The shared DingTalk payloads (`infra/dingtalk-sim/fixtures/dingtalk`, see its README),
    /// byte for byte: the simulator's test kit serves the same files to the other crates' tests.
    /// Read by path because this crate cannot depend on the simulator (which depends on it).
    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../../infra/dingtalk-sim/fixtures/dingtalk/",
                $name,
                ".json"
            ))
            .trim_end()
        };
    }

    #[test]
    fn the_legacy_pascal_case_format_is_parsed() {
        let body = fixture!("user_add_org");
        let e = parse_event(body).unwrap();
        assert_eq!(e.event_type, "user_add_org");
        assert_eq!(e.kind, users(&["zhangsan", "lisi"]));
        assert_eq!(e.corp_id.as_deref(), Some("dingcorp"));
        assert_eq!(e.key, hex::encode(Sha256::digest(body.as_bytes())));
        assert_eq!(e.key.len(), 64);
    }

    #[test]
    fn the_current_camel_case_format_uses_the_event_id_as_key() {
        let body = fixture!("org_dept_modify");
        let e = parse_event(body).unwrap();
        assert_eq!(e.kind, depts(&[432_825_033, 7]));
        assert_eq!(e.key, "ev-42");
    }

    #[test]
    fn lower_case_userid_and_numeric_user_ids_are_accepted() {
        let e = parse_event(fixture!("user_modify_org.camel")).unwrap();
        assert_eq!(e.kind, users(&["123", "abc"]));
    }

    #[test]
    fn stream_style_data_is_looked_into() {
        let body = fixture!("user_leave_org.camel");
        let e = parse_event(body).unwrap();
        assert_eq!(e.kind, users(&["u9"]));
        assert_eq!(e.corp_id.as_deref(), Some("dingcorp"));
    }

    #[test]
    fn admin_and_activation_events_carry_users() {
        for t in ["org_admin_add", "org_admin_remove", "user_active_org"] {
            let e = parse_event(&format!(r#"{{"EventType":"{t}","UserId":["a"]}}"#)).unwrap();
            assert_eq!(e.kind, users(&["a"]), "{t}");
        }
    }

    #[test]
    fn check_events_and_unknown_events_are_classified() {
        for t in [
            "check_url",
            "check_create_suite_url",
            "check_update_suite_url",
        ] {
            let e = parse_event(&format!(r#"{{"EventType":"{t}"}}"#)).unwrap();
            assert_eq!(e.kind, EventKind::Check);
        }
        for t in [
            "label_user_change",
            "org_change",
            "label_conf_add",
            "bpms_task_change",
        ] {
            let e = parse_event(&format!(r#"{{"EventType":"{t}","UserId":["a"]}}"#)).unwrap();
            assert_eq!(e.kind, EventKind::Ignored, "{t}");
        }
    }

    #[test]
    fn duplicates_are_dropped_and_invalid_ids_counted() {
        let body = r#"{"EventType":"org_dept_remove","DeptId":[5,"5",0,-3,"x",{"a":1},1.5,6]}"#;
        let e = parse_event(body).unwrap();
        assert_eq!(e.kind, depts(&[5, 6]));
        assert_eq!(e.skipped_ids, 5);
        let e = parse_event(r#"{"EventType":"user_add_org","UserId":["a","a"," b",""]}"#).unwrap();
        assert_eq!(e.kind, users(&["a"]));
        assert_eq!(e.skipped_ids, 2);
    }

    #[test]
    fn a_lone_id_counts_as_a_list_of_one() {
        let e = parse_event(r#"{"EventType":"user_add_org","UserId":"solo"}"#).unwrap();
        assert_eq!(e.kind, users(&["solo"]));
    }

    #[test]
    fn an_unusable_event_id_falls_back_to_the_digest() {
        let long = "x".repeat(200);
        let body = format!(r#"{{"EventType":"user_add_org","eventId":"{long}","UserId":["a"]}}"#);
        assert_eq!(parse_event(&body).unwrap().key.len(), 64);
        let body = r#"{"EventType":"user_add_org","eventId":"has space","UserId":["a"]}"#;
        assert_eq!(parse_event(body).unwrap().key.len(), 64);
    }

    #[test]
    fn non_objects_and_missing_types_are_errors() {
        assert_eq!(parse_event("[1]"), Err(EventError::NotAnObject));
        assert_eq!(parse_event("not json"), Err(EventError::NotAnObject));
        assert_eq!(
            parse_event(r#"{"UserId":["a"]}"#),
            Err(EventError::MissingType)
        );
        assert_eq!(
            parse_event(r#"{"EventType":"  "}"#),
            Err(EventError::MissingType)
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(body in ".{0,300}") {
            let _ = parse_event(&body);
        }

        #[test]
        fn parsing_json_shaped_input_never_panics(
            t in "(user_add_org|org_dept_create|check_url|[a-z_]{0,12})",
            key in "(UserId|userId|userid|DeptId|deptId|data|eventId)",
            v in proptest::prelude::any::<i64>(),
            s in "\\PC{0,20}",
        ) {
            let body = serde_json::json!({"EventType": t, key.clone(): [v, s, null, [v]], "data": {key: v}});
            let _ = parse_event(&body.to_string());
        }
    }
}
