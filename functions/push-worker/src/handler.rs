//! The batch handler: each message names one directory entity of one connector; the directory
//! and the connector are re-read (they are the truth), DingTalk is made to match, and the outbox
//! item is settled. Waits are retried, permanent failures parked with their reason, and nothing is
//! dropped silently.

use async_trait::async_trait;
use dingbridge::domain::sync::PushMessage;
use dingbridge::ports::Received;
use dingbridge::store::events::parked_under;
use dingbridge::store::outbox::OutboxState;
use dingbridge::worker::BatchHandler;

use dingbridge::pusher::{Blocked, Done, store};

use crate::Deps;

#[async_trait]
impl BatchHandler for Deps {
    async fn handle(&self, batch: Vec<Received>) -> Vec<String> {
        // One at a time, in the batch's order: parents are usually queued before their children,
        // and DingTalk's per-app limit bounds the pace anyway.
        let mut failed = Vec::new();
        for m in batch {
            if !self.process(&m).await {
                failed.push(m.id);
            }
        }
        failed
    }
}

impl Deps {
    /// Handles one message; true = acknowledge it.
    async fn process(&self, m: &Received) -> bool {
        let message: PushMessage = match serde_json::from_str(&m.body) {
            Ok(message) => message,
            Err(e) => return self.park_unreadable(m, &e.to_string()).await,
        };
        let result = self.push(&message).await;
        let label = message.entity.kind();
        match result {
            Ok(done) => {
                let settled = match done {
                    Done::Stale => Ok(false),
                    _ => self.outbox.settle(&message).await,
                };
                match settled {
                    Ok(settled) => {
                        tracing::info!(message_id = %m.id, connector_id = %message.connector_id,
                            entity = label, id = message.entity.id(), version = message.version,
                            outcome = done.as_str(), settled, "push handled");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %m.id, error = %e,
                            "could not settle the outbox item; returning the message for retry");
                        false
                    }
                }
            }
            Err(Blocked::Park { reason, code }) => {
                match self.outbox.park(&message, &reason, code.as_deref()).await {
                    Ok(parked) => {
                        // The reason may quote values (a mobile): it stays in the table for
                        // admins and out of the logs.
                        tracing::warn!(message_id = %m.id, connector_id = %message.connector_id,
                            entity = label, id = message.entity.id(), version = message.version,
                            code = code.as_deref().unwrap_or(""), parked, "push parked");
                        true
                    }
                    Err(e) => {
                        tracing::error!(message_id = %m.id, error = %e,
                            "could not park the outbox item; returning the message for retry");
                        false
                    }
                }
            }
            Err(blocked) => self.wait(m, &message, &blocked),
        }
    }

    /// A push that must wait is returned for SQS to retry; from the last allowed delivery on it
    /// is acknowledged instead, its outbox item left pending for the sweeper.
    fn wait(&self, m: &Received, message: &PushMessage, blocked: &Blocked) -> bool {
        let why = match blocked {
            Blocked::Transient(_) => "transient",
            _ => "ordering",
        };
        let last = m.receive_count >= self.settings.max_receives;
        tracing::warn!(message_id = %m.id, connector_id = %message.connector_id,
            entity = message.entity.kind(), id = message.entity.id(), version = message.version,
            receive_count = m.receive_count, why, left_to_sweeper = last,
            detail = %detail(blocked), "push must wait");
        last
    }

    /// An unreadable body is parked where admins see parked events (under the connector its
    /// group names), then acknowledged; if even that fails it is retried.
    async fn park_unreadable(&self, m: &Received, error: &str) -> bool {
        let group_connector = m.group.split(':').next().unwrap_or_default();
        let Ok(connector) = parked_under(group_connector) else {
            return false;
        };
        let reason = format!("unreadable push queue message: {error}");
        match self
            .events
            .park(&connector, &m.body, &reason, m.receive_count)
            .await
        {
            Ok(parked) => {
                tracing::warn!(message_id = %m.id, connector_id = %connector,
                    parked_id = %parked.id, "unreadable push message parked");
                true
            }
            Err(e) => {
                tracing::error!(message_id = %m.id, error = %e,
                    "could not park an unreadable push message; returning it for retry");
                false
            }
        }
    }

    /// Makes the connector's DingTalk match the directory for the message's entity.
    async fn push(&self, message: &PushMessage) -> Result<Done, Blocked> {
        match self
            .outbox
            .get(&message.connector_id, &message.entity)
            .await
            .map_err(|e| store(e, "reading the outbox item"))?
        {
            None => return Ok(Done::Stale),
            Some(item) if item.version > message.version => return Ok(Done::Stale),
            Some(item) if item.state == OutboxState::Parked && item.version == message.version => {
                return Ok(Done::Stale);
            }
            Some(_) => {}
        }
        let Some(context) = self.pusher.context(&message.connector_id).await? else {
            return Ok(Done::Off);
        };
        self.pusher.push_entity(&context, &message.entity).await
    }
}

fn detail(blocked: &Blocked) -> &str {
    match blocked {
        Blocked::Transient(d) | Blocked::Ordering(d) => d,
        Blocked::Park { .. } => "",
    }
}
