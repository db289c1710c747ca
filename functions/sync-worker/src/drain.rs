//! The failed-push drain (protocol §1.6): DingTalk keeps the events it gave up pushing in a list
//! that each read clears, so every page is enqueued durably (or parked) before the next is read.

use std::time::Duration;

use dingbridge::dingtalk::{DeptId, DingUserId, FailedEvent};
use dingbridge::domain::connector::Connector;
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::OutMessage;
use dingbridge::sync::SyncError;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Deps;

/// A bound on pages per run: DingTalk returns ≤ 200 events per read, so 500 pages is 100,000
/// events; the rest waits for the next scheduled run instead of outliving the Lambda.
const MAX_PAGES: usize = 500;
/// Attempts at enqueueing one page before its messages are parked instead.
const SEND_ATTEMPTS: u32 = 3;

/// User events whose payload lists userids (protocol §2.1).
const USER_TAGS: &[&str] = &[
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "user_active_org",
    "org_admin_add",
    "org_admin_remove",
];
/// Department events whose payload lists department ids.
const DEPT_TAGS: &[&str] = &["org_dept_create", "org_dept_modify", "org_dept_remove"];

/// What draining one connector did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    pub connector_id: Option<ConnectorId>,
    /// Failed events read from DingTalk.
    pub events: usize,
    /// Sync messages enqueued.
    pub enqueued: usize,
    /// Events that are not contact events (approvals, chats …) or name no id.
    pub ignored: usize,
    /// Messages parked because the queue refused them.
    pub parked: usize,
}

/// Every connector's drain, and the connectors whose drain failed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DrainSummary {
    pub reports: Vec<DrainReport>,
    pub failures: Vec<(ConnectorId, String)>,
}

/// Drains every enabled connector that registers callbacks. One connector's failure does not
/// stop the others; it is reported and the next scheduled run tries again.
pub async fn drain_all(deps: &Deps) -> Result<DrainSummary, SyncError> {
    let mut summary = DrainSummary::default();
    let mut cursor = None;
    loop {
        let page = deps
            .connectors
            .list(100, cursor)
            .await
            .map_err(|e| SyncError::directory(e, "listing connectors"))?;
        for c in page
            .items
            .iter()
            .filter(|c| c.enabled && c.register_callback)
        {
            match drain_failed(deps, c).await {
                Ok(report) => summary.reports.push(report),
                Err(e) => {
                    tracing::warn!(connector_id = %c.id, error = %e, "failed-list drain failed");
                    summary.failures.push((c.id.clone(), e.reason().to_owned()));
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(summary),
        }
    }
}

/// Drains one connector's failed-event list into the sync queue.
pub async fn drain_failed(deps: &Deps, connector: &Connector) -> Result<DrainReport, SyncError> {
    let what = format!("connector {}", connector.id);
    let app = deps
        .connectors
        .app(connector)
        .map_err(|e| SyncError::directory(e, &what))?;
    let mut report = DrainReport {
        connector_id: Some(connector.id.clone()),
        ..DrainReport::default()
    };
    for _ in 0..MAX_PAGES {
        let batch = deps
            .dingtalk
            .failed_events_page(&app)
            .await
            .map_err(|e| SyncError::dingtalk(&e, "reading DingTalk's failed-push list"))?;
        report.events += batch.events.len();
        let mut messages = Vec::new();
        for event in &batch.events {
            match message_for(&connector.id, event) {
                Some(m) => messages.push(m),
                None => report.ignored += 1,
            }
        }
        // This page is already gone from DingTalk: it must be in the queue (or parked) before
        // the next read clears more.
        let count = messages.len();
        if enqueue(deps, &connector.id, messages, &mut report).await {
            report.enqueued += count;
        }
        if !batch.has_more || batch.events.is_empty() {
            break;
        }
    }
    tracing::info!(connector_id = %connector.id, events = report.events,
        enqueued = report.enqueued, ignored = report.ignored, parked = report.parked,
        "failed-push list drained");
    Ok(report)
}

/// Sends with a few retries; parks every message when the queue keeps refusing. Returns whether
/// the messages were enqueued.
async fn enqueue(
    deps: &Deps,
    connector: &ConnectorId,
    messages: Vec<OutMessage>,
    report: &mut DrainReport,
) -> bool {
    if messages.is_empty() {
        return true;
    }
    let mut last = String::new();
    for attempt in 0..SEND_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        // Re-sending after a partial failure is safe: the deduplication ids are the same.
        match deps.queue.send_batch(messages.clone()).await {
            Ok(()) => return true,
            Err(e) => last = e.to_string(),
        }
    }
    let reason = format!("drained from DingTalk's failed-push list but not enqueued: {last}");
    for m in messages {
        match deps.events.park(connector, &m.body, &reason, 0).await {
            Ok(_) => report.parked += 1,
            Err(e) => {
                tracing::error!(connector_id = %connector, dedup_id = %m.dedup_id, error = %e,
                    "a drained event could be neither enqueued nor parked");
            }
        }
    }
    false
}

/// The sync message for one failed event: user events become `Users`, department events
/// `Departments`; anything else (approvals, chats, roles) is not ours and yields `None`. The
/// deduplication id is a digest of the item, so reading the same item twice enqueues it once.
pub fn message_for(connector: &ConnectorId, event: &FailedEvent) -> Option<OutMessage> {
    let digest = hex::encode(Sha256::digest(
        format!(
            "{connector}\n{}\n{}\n{}",
            event.tag,
            event.event_time_ms.unwrap_or_default(),
            event.payload
        )
        .as_bytes(),
    ));
    let event_key = format!("failed:{digest}");
    let message = if USER_TAGS.contains(&event.tag.as_str()) {
        let user_ids: Vec<DingUserId> = ids(&event.payload, &["userid", "UserId", "userId"])
            .filter_map(|id| DingUserId::parse(id).ok())
            .collect();
        if user_ids.is_empty() {
            return None;
        }
        SyncMessage::Users {
            connector_id: connector.clone(),
            user_ids,
            event_type: event.tag.clone(),
            event_key,
        }
    } else if DEPT_TAGS.contains(&event.tag.as_str()) {
        let dept_ids: Vec<DeptId> = ids(&event.payload, &["deptid", "DeptId", "deptId"])
            .filter_map(|id| DeptId::parse(&id).ok())
            .collect();
        if dept_ids.is_empty() {
            return None;
        }
        SyncMessage::Departments {
            connector_id: connector.clone(),
            dept_ids,
            event_type: event.tag.clone(),
            event_key,
        }
    } else {
        return None;
    };
    let body = serde_json::to_string(&message).ok()?;
    Some(OutMessage::new(connector.as_str(), digest, body))
}

/// The ids under the first present key, as strings (DingTalk sends strings or numbers, one id
/// or a list; protocol §2.2).
fn ids(payload: &Value, keys: &[&str]) -> impl Iterator<Item = String> {
    let value = keys.iter().find_map(|k| payload.get(*k)).cloned();
    let list = match value {
        Some(Value::Array(items)) => items,
        Some(single) => vec![single],
        None => Vec::new(),
    };
    list.into_iter().filter_map(|v| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(tag: &str, payload: Value) -> FailedEvent {
        FailedEvent {
            tag: tag.into(),
            event_time_ms: Some(1_606_126_433_000),
            payload,
        }
    }

    #[test]
    fn user_and_department_events_become_sync_messages_with_stable_dedup_ids() {
        let c = ConnectorId::generate();
        let users = event(
            "user_add_org",
            json!({"userid": ["zhangsan", "lisi"], "corpid": "ding1"}),
        );
        let m = message_for(&c, &users).unwrap();
        assert_eq!(m.group, c.as_str());
        assert_eq!(m.dedup_id, message_for(&c, &users).unwrap().dedup_id);
        let parsed: SyncMessage = serde_json::from_str(&m.body).unwrap();
        assert!(matches!(parsed, SyncMessage::Users { ref user_ids, .. } if user_ids.len() == 2));
        let depts = event("org_dept_remove", json!({"deptid": [7, "8"]}));
        let parsed: SyncMessage =
            serde_json::from_str(&message_for(&c, &depts).unwrap().body).unwrap();
        assert!(
            matches!(parsed, SyncMessage::Departments { ref dept_ids, .. } if dept_ids.len() == 2)
        );
        assert_ne!(
            message_for(&c, &users).unwrap().dedup_id,
            message_for(&c, &depts).unwrap().dedup_id
        );
    }

    #[test]
    fn other_events_and_empty_id_lists_are_ignored() {
        let c = ConnectorId::generate();
        assert!(message_for(&c, &event("bpms_task_change", json!({"x": 1}))).is_none());
        assert!(message_for(&c, &event("user_add_org", json!({"userid": []}))).is_none());
    }
}
