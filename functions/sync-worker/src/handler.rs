//! The batch handler: each message names DingTalk ids of one connector; each id is re-read and
//! reconciled. Transient failures return the message for a retry; permanent ones are parked with
//! their reason and acknowledged; nothing is dropped silently.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::Received;
use dingbridge::store::Actor;
use dingbridge::store::events::parked_under;
use dingbridge::sync::{Outcome, SyncError, SyncTarget};
use dingbridge::worker::BatchHandler;
use futures::future::join_all;

use crate::Deps;

#[async_trait]
impl BatchHandler for Deps {
    async fn handle(&self, batch: Vec<Received>) -> Vec<String> {
        // One connector's messages share a group and are handled in order; groups run side by
        // side (different DingTalk apps, different rate limits).
        let mut groups: Vec<(String, Vec<Received>)> = Vec::new();
        for m in batch {
            match groups.iter_mut().find(|(g, _)| *g == m.group) {
                Some((_, list)) => list.push(m),
                None => groups.push((m.group.clone(), vec![m])),
            }
        }
        let failed = join_all(groups.into_iter().map(|(_, messages)| async move {
            let mut targets = HashMap::new();
            let mut failed = Vec::new();
            for m in messages {
                if !self.process(&m, &mut targets).await {
                    failed.push(m.id);
                }
            }
            failed
        }))
        .await;
        failed.concat()
    }
}

/// One id's failure, with the single-id message an admin can re-drive on its own.
struct Failure {
    body: String,
    error: SyncError,
}

impl Deps {
    /// Handles one message; true = acknowledge it.
    async fn process(
        &self,
        m: &Received,
        targets: &mut HashMap<ConnectorId, Arc<SyncTarget>>,
    ) -> bool {
        let message: SyncMessage = match serde_json::from_str(&m.body) {
            Ok(message) => message,
            Err(e) => {
                let Ok(connector) = parked_under(&m.group) else {
                    return false;
                };
                let reason = format!("unreadable sync message: {e}");
                return self.park(m, &connector, &m.body, &reason).await;
            }
        };
        let connector = message.connector_id().clone();
        let target = match targets.get(&connector) {
            Some(t) => t.clone(),
            None => match self.reconciler.target(&connector).await {
                Ok(t) => {
                    let t = Arc::new(t);
                    targets.insert(connector.clone(), t.clone());
                    t
                }
                Err(e) => {
                    let failure = Failure {
                        body: m.body.clone(),
                        error: e,
                    };
                    return self.settle(m, &message, vec![failure]).await;
                }
            },
        };
        let actor = Actor::new(Origin::DingtalkEvent, connector.as_str());
        let mut failures = Vec::new();
        let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
        for part in split(&message) {
            let result = match &part {
                SyncMessage::Users { user_ids, .. } => match user_ids.first() {
                    Some(id) => self.reconciler.reconcile_user(&target, id, &actor).await,
                    None => Ok(Outcome::Absent),
                },
                SyncMessage::Departments { dept_ids, .. } => match dept_ids.first() {
                    Some(id) => {
                        self.reconciler
                            .reconcile_department(&target, *id, &actor)
                            .await
                    }
                    None => Ok(Outcome::Absent),
                },
            };
            match result {
                Ok(outcome) => *outcomes.entry(outcome_name(outcome)).or_default() += 1,
                Err(error) => failures.push(Failure {
                    body: serde_json::to_string(&part).unwrap_or_else(|_| m.body.clone()),
                    error,
                }),
            }
        }
        tracing::info!(
            message_id = %m.id,
            connector_id = %connector,
            event_type = event_type(&message),
            event_key = message.event_key(),
            receive_count = m.receive_count,
            ?outcomes,
            failures = failures.len(),
            "sync message handled"
        );
        self.settle(m, &message, failures).await
    }

    /// Decides a message's fate from its failures. While any is transient and deliveries remain,
    /// the whole message is retried and nothing is parked yet (reconciling again is idempotent,
    /// and parking now would park the permanent ones once per delivery). Otherwise every failure
    /// is parked — transient ones too, on the last delivery — and the message acknowledged.
    async fn settle(&self, m: &Received, message: &SyncMessage, failures: Vec<Failure>) -> bool {
        let retry = failures.iter().any(|f| f.error.is_transient());
        let last = m.receive_count >= self.settings.max_receives;
        if retry && !last {
            tracing::warn!(message_id = %m.id, connector_id = %message.connector_id(),
                receive_count = m.receive_count, "transient failure; message returned for retry");
            return false;
        }
        let mut parked_all = true;
        for f in failures {
            let reason = if f.error.is_transient() {
                format!(
                    "still failing after {} deliveries: {}",
                    m.receive_count,
                    f.error.reason()
                )
            } else {
                f.error.reason().to_owned()
            };
            parked_all &= self.park(m, message.connector_id(), &f.body, &reason).await;
        }
        parked_all
    }

    /// Parks one body with its reason; false (retry the message) when even that cannot be
    /// written, so nothing is lost.
    async fn park(&self, m: &Received, connector: &ConnectorId, body: &str, reason: &str) -> bool {
        match self
            .events
            .park(connector, body, reason, m.receive_count)
            .await
        {
            Ok(parked) => {
                // The reason may quote values (a mobile in a conflict): it stays in the table,
                // visible to admins, and out of the logs.
                tracing::warn!(message_id = %m.id, connector_id = %connector,
                    parked_id = %parked.id, "sync message parked");
                true
            }
            Err(e) => {
                tracing::error!(message_id = %m.id, error = %e,
                    "could not park a sync message; returning it for retry");
                false
            }
        }
    }
}

/// One message per id, so a failure parks only the id that failed and a re-drive retries it alone.
fn split(message: &SyncMessage) -> Vec<SyncMessage> {
    match message {
        SyncMessage::Users {
            connector_id,
            user_ids,
            event_type,
            event_key,
        } => user_ids
            .iter()
            .map(|id| SyncMessage::Users {
                connector_id: connector_id.clone(),
                user_ids: vec![id.clone()],
                event_type: event_type.clone(),
                event_key: event_key.clone(),
            })
            .collect(),
        SyncMessage::Departments {
            connector_id,
            dept_ids,
            event_type,
            event_key,
        } => dept_ids
            .iter()
            .map(|id| SyncMessage::Departments {
                connector_id: connector_id.clone(),
                dept_ids: vec![*id],
                event_type: event_type.clone(),
                event_key: event_key.clone(),
            })
            .collect(),
    }
}

fn event_type(message: &SyncMessage) -> &str {
    match message {
        SyncMessage::Users { event_type, .. } | SyncMessage::Departments { event_type, .. } => {
            event_type
        }
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::Disabled => "disabled",
        Outcome::Deleted => "deleted",
        Outcome::Removed => "removed",
        Outcome::Absent => "absent",
    }
}
