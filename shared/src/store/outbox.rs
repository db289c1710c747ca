//! The push outbox: one item per connector × directory entity that DingTalk must be made to match,
//! written in the same transaction as the directory change that asks for it, so that no accepted
//! change is lost between the write and the push queue. The push worker settles an item once
//! DingTalk matches the version it was written for, or parks it with the reason; the sweeper
//! re-sends items left pending.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DirectoryError, PageOf, decode, encode};
use crate::domain::ids::ConnectorId;
use crate::domain::sync::{PushEntity, PushMessage};
use crate::ports::{
    Clock, Cond, Index, IndexKey, Item, Key, OutMessage, Query, SkRange, Table, TableError, TxOp,
};

/// The sweeper's index partition: pending items by the time they were written, oldest first.
const PENDING: &str = "OUTBOX";
/// Parked items, newest first, for the admin's list.
const PARKED: &str = "OUTBOXPARKED";

/// Where an outbox item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for the push worker (queued, or to be re-sent by the sweeper).
    Pending,
    /// The push cannot succeed until an admin acts: the reason says what to do.
    Parked,
}

/// One outbox item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub connector_id: ConnectorId,
    pub entity: PushEntity,
    /// The entity version whose change asked for the push.
    pub version: u64,
    pub state: OutboxState,
    pub changed_ms: i64,
    /// Why the push is parked: DingTalk's code and message and what the admin should do.
    pub reason: Option<String>,
    /// DingTalk's error code when one caused the parking (`60020`, `41054`, …).
    pub code: Option<String>,
}

impl OutboxItem {
    pub fn message(&self) -> PushMessage {
        PushMessage {
            connector_id: self.connector_id.clone(),
            entity: self.entity.clone(),
            version: self.version,
        }
    }
}

/// The queue message that carries a push.
pub fn push_out_message(m: &PushMessage) -> Result<OutMessage, DirectoryError> {
    let body = serde_json::to_string(m).map_err(|e| DirectoryError::Corrupt(e.to_string()))?;
    Ok(OutMessage::new(m.group(), m.dedup_id(), body))
}

/// The queue message that sends a push again (a re-drive, the sweeper): the push's own, with a
/// deduplication id of its own made from `now_ms`, since the first send's may still be inside the
/// queue's five-minute deduplication window, where a copy would be dropped.
pub fn push_resend_message(m: &PushMessage, now_ms: i64) -> Result<OutMessage, DirectoryError> {
    let mut out = push_out_message(m)?;
    out.dedup_id = format!("{}:r{now_ms}", m.dedup_id());
    Ok(out)
}

fn key(connector: &ConnectorId, entity: &PushEntity) -> Key {
    Key::new(
        format!("OUTBOX#{connector}"),
        format!("{}#{}", entity.kind(), entity.id()),
    )
}

/// The last settled push of an entity to a connector: what the admin sees as "pushed at".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub version: u64,
    pub at_ms: i64,
}

fn pushed_key(connector: &ConnectorId, entity: &PushEntity) -> Key {
    Key::new(
        format!("PUSHED#{connector}"),
        format!("{}#{}", entity.kind(), entity.id()),
    )
}

fn item(o: &OutboxItem) -> Result<Item, DirectoryError> {
    let id = format!("{}#{}#{}", o.connector_id, o.entity.kind(), o.entity.id());
    let index = match o.state {
        OutboxState::Pending => IndexKey::new(PENDING, format!("{:013}#{id}", o.changed_ms.max(0))),
        OutboxState::Parked => IndexKey::new(PARKED, format!("{:013}#{id}", o.changed_ms.max(0))),
    };
    Ok(Item::new(key(&o.connector_id, &o.entity), o.version, encode(o)?).with_gsi2(index))
}

#[derive(Clone)]
pub struct Outbox {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// The pending item for `message`, as a write of the directory change's own transaction. It
    /// replaces an older item of the same entity: the worker pushes the directory as it is then.
    pub fn put_op(&self, message: &PushMessage) -> Result<TxOp, DirectoryError> {
        Ok(TxOp::Put {
            item: self.pending_item(message)?,
            cond: Cond::None,
        })
    }

    fn pending_item(&self, message: &PushMessage) -> Result<Item, DirectoryError> {
        let o = OutboxItem {
            connector_id: message.connector_id.clone(),
            entity: message.entity.clone(),
            version: message.version,
            state: OutboxState::Pending,
            changed_ms: self.clock.now_millis(),
            reason: None,
            code: None,
        };
        item(&o)
    }

    /// Writes the pending item for `message` on its own (a change that reaches entities beyond
    /// the one written, such as a unit's subtree moved across a push root).
    pub async fn put(&self, message: &PushMessage) -> Result<(), DirectoryError> {
        Ok(self
            .table
            .put(self.pending_item(message)?, Cond::None)
            .await?)
    }

    pub async fn get(
        &self,
        connector: &ConnectorId,
        entity: &PushEntity,
    ) -> Result<Option<OutboxItem>, DirectoryError> {
        match self.table.get(&key(connector, entity)).await? {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    /// Removes the item once DingTalk matches the directory, unless a later change replaced it
    /// (then its own message pushes again), and records when and at which version the entity was
    /// pushed, in the same transaction. True when this call removed it.
    pub async fn settle(&self, message: &PushMessage) -> Result<bool, DirectoryError> {
        let k = key(&message.connector_id, &message.entity);
        let pushed = Pushed {
            version: message.version,
            at_ms: self.clock.now_millis(),
        };
        let ops = vec![
            TxOp::Delete {
                key: k,
                cond: Cond::Version(message.version),
            },
            TxOp::Put {
                item: Item::new(
                    pushed_key(&message.connector_id, &message.entity),
                    1,
                    encode(&pushed)?,
                ),
                cond: Cond::None,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed | TableError::TransactionCancelled { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// When the entity's push to `connector` last settled, and at which version.
    pub async fn pushed(
        &self,
        connector: &ConnectorId,
        entity: &PushEntity,
    ) -> Result<Option<Pushed>, DirectoryError> {
        match self.table.get(&pushed_key(connector, entity)).await? {
            Some(i) => Ok(Some(decode(&i)?)),
            None => Ok(None),
        }
    }

    /// Parks the item with `reason` (and DingTalk's `code`), unless a later change replaced it.
    pub async fn park(
        &self,
        message: &PushMessage,
        reason: &str,
        code: Option<&str>,
    ) -> Result<bool, DirectoryError> {
        let o = OutboxItem {
            connector_id: message.connector_id.clone(),
            entity: message.entity.clone(),
            version: message.version,
            state: OutboxState::Parked,
            changed_ms: self.clock.now_millis(),
            reason: Some(reason.to_owned()),
            code: code.map(str::to_owned),
        };
        match self
            .table
            .put(item(&o)?, Cond::Version(message.version))
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes a parked item pending again (the admin's re-drive); returns its message to send.
    pub async fn redrive(
        &self,
        connector: &ConnectorId,
        entity: &PushEntity,
    ) -> Result<Option<PushMessage>, DirectoryError> {
        let Some(mut o) = self.get(connector, entity).await? else {
            return Ok(None);
        };
        o.state = OutboxState::Pending;
        o.reason = None;
        o.code = None;
        o.changed_ms = self.clock.now_millis();
        match self.table.put(item(&o)?, Cond::Version(o.version)).await {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(Some(o.message())),
            Err(e) => Err(e.into()),
        }
    }

    /// Pending items written at or before `before_ms`, oldest first: what the sweeper re-sends.
    pub async fn pending_before(
        &self,
        before_ms: i64,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<OutboxItem>, DirectoryError> {
        // Sort keys are `{ms, 13 digits}#…`: every key of a time up to `before_ms` sorts between
        // "0" and that time followed by `$`, the character after `#` (DynamoDB refuses an empty
        // bound).
        let q = Query::partition(Index::Gsi2, PENDING)
            .range(SkRange::Between(
                "0".to_owned(),
                format!("{:013}$", before_ms.max(0)),
            ))
            .limit(limit)
            .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// Parked items, newest first.
    pub async fn parked(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<OutboxItem>, DirectoryError> {
        let q = Query::partition(Index::Gsi2, PARKED)
            .descending()
            .limit(limit)
            .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// Every item of one connector (pending and parked), by entity.
    pub async fn of_connector(
        &self,
        connector: &ConnectorId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<OutboxItem>, DirectoryError> {
        let q = Query::partition(Index::Primary, format!("OUTBOX#{connector}"))
            .limit(limit)
            .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }
}
