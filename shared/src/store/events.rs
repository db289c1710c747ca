//! Inbound event bookkeeping: the dedupe keys of the callback (TTL items) and the parked events
//! of the sync worker (permanent failures kept with their reason until an admin re-drives them).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::time_key;
use super::{DirectoryError, PageOf, encode};
use crate::domain::ids::ConnectorId;
use crate::domain::values::InvalidField;
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table};
use crate::store::keys::esc;

/// How long a seen event is remembered: DingTalk retries for ~40 s and re-lists failed events
/// for days; a week covers both.
pub const DEDUPE_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// How long parked events are kept.
pub const PARKED_TTL_SECONDS: i64 = 30 * 24 * 3600;
pub const ALL_PARKED: &str = "PARKED";
/// Where a message that names no readable connector is parked: the nil id, shown as "unknown".
pub const UNKNOWN_CONNECTOR: &str = "00000000-0000-0000-0000-000000000000";

/// The connector an unreadable message of queue group `group` is parked under: the group's
/// (the queues group messages by connector id), else [`UNKNOWN_CONNECTOR`].
pub fn parked_under(group: &str) -> Result<ConnectorId, InvalidField> {
    ConnectorId::parse(group).or_else(|_| ConnectorId::parse(UNKNOWN_CONNECTOR))
}

/// A message the worker could not apply, kept with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub id: String,
    pub connector_id: ConnectorId,
    pub parked_ms: i64,
    pub reason: String,
    /// The queue message body, re-enqueued as is by a re-drive.
    pub body: String,
    pub receive_count: u32,
}

#[derive(Clone)]
pub struct Events {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Events {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    fn dedupe_key(connector: &ConnectorId, event_key: &str) -> Key {
        Key::new(format!("EVT#{connector}#{}", esc(event_key)), "EVT")
    }

    /// True when this event was already accepted (and queued) for this connector.
    pub async fn seen(
        &self,
        connector: &ConnectorId,
        event_key: &str,
    ) -> Result<bool, DirectoryError> {
        Ok(self
            .table
            .get(&Self::dedupe_key(connector, event_key))
            .await?
            .is_some())
    }

    /// Remember an accepted event. Returns false when it was already remembered.
    pub async fn remember(
        &self,
        connector: &ConnectorId,
        event_key: &str,
    ) -> Result<bool, DirectoryError> {
        let ttl = self.clock.now_seconds() + DEDUPE_TTL_SECONDS;
        let item = Item::new(
            Self::dedupe_key(connector, event_key),
            1,
            serde_json::json!({}),
        )
        .with_ttl(ttl);
        match self.table.put(item, Cond::Absent).await {
            Ok(()) => Ok(true),
            Err(crate::ports::TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn park(
        &self,
        connector: &ConnectorId,
        body: &str,
        reason: &str,
        receive_count: u32,
    ) -> Result<ParkedEvent, DirectoryError> {
        let now = self.clock.now_millis();
        let p = ParkedEvent {
            id: uuid::Uuid::now_v7().to_string(),
            connector_id: connector.clone(),
            parked_ms: now,
            reason: reason.to_owned(),
            body: body.to_owned(),
            receive_count,
        };
        let sk = format!("{}#{}", time_key(now), p.id);
        let item = Item::new(
            Key::new(format!("PARK#{connector}"), sk.clone()),
            1,
            encode(&p)?,
        )
        .with_gsi1(IndexKey::new(ALL_PARKED, sk))
        .with_ttl(self.clock.now_seconds() + PARKED_TTL_SECONDS);
        self.table.put(item, Cond::Absent).await?;
        Ok(p)
    }

    /// Parked events, oldest first; of one connector, or of all.
    pub async fn parked(
        &self,
        connector: Option<&ConnectorId>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<ParkedEvent>, DirectoryError> {
        let q = match connector {
            Some(c) => Query::partition(Index::Primary, format!("PARK#{c}")),
            None => Query::partition(Index::Gsi1, ALL_PARKED),
        }
        .limit(limit)
        .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// Forget a parked event (after it was re-driven).
    pub async fn unpark(&self, p: &ParkedEvent) -> Result<(), DirectoryError> {
        let key = Key::new(
            format!("PARK#{}", p.connector_id),
            format!("{}#{}", time_key(p.parked_ms), p.id),
        );
        Ok(self.table.delete(&key, Cond::None).await?)
    }
}
