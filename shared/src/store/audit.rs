//! Audit entries: who changed what, when, old → new, and through which path. Written in the same
//! transaction as the change they record, so there is no change without its entry.

use serde::{Deserialize, Serialize};

use super::keys;
use super::{Actor, DirectoryError, PageOf, decode};
use crate::domain::directory::Origin;
use crate::ports::{Cond, Index, IndexKey, Item, Key, Query, Table, TxOp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    pub origin: Origin,
    pub actor: String,
    pub entity_kind: String,
    pub entity_id: String,
    pub action: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(
        actor: &Actor,
        at_ms: i64,
        entity_kind: &str,
        entity_id: &str,
        action: &str,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms,
            origin: actor.origin,
            actor: actor.name.clone(),
            entity_kind: entity_kind.to_owned(),
            entity_id: entity_id.to_owned(),
            action: action.to_owned(),
            old,
            new,
        }
    }
}

/// The transaction operation that stores an entry (with its day and origin index keys).
pub fn audit_op(entry: AuditEntry) -> TxOp {
    let sk = format!("{}#{}", keys::time_key(entry.at_ms), entry.id);
    let day = entry.at_ms.div_euclid(86_400_000);
    let item = Item::new(
        Key::new(
            keys::audit_partition(&entry.entity_kind, &entry.entity_id),
            sk.clone(),
        ),
        1,
        serde_json::to_value(&entry).unwrap_or_default(),
    )
    .with_gsi1(IndexKey::new(format!("AUDITDAY#{day}"), sk.clone()))
    .with_gsi2(IndexKey::new(
        format!("AUDITBY#{}", entry.origin.as_str()),
        sk,
    ));
    TxOp::Put {
        item,
        cond: Cond::Absent,
    }
}

/// An entity's history, newest first.
pub async fn history(
    table: &dyn Table,
    entity_kind: &str,
    entity_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> Result<PageOf<AuditEntry>, DirectoryError> {
    let q = Query::partition(
        Index::Primary,
        keys::audit_partition(entity_kind, entity_id),
    )
    .limit(limit)
    .descending()
    .after(cursor);
    let page = table.query(&q).await?;
    let items = page.items.iter().map(decode).collect::<Result<_, _>>()?;
    Ok(PageOf {
        items,
        next: page.next,
    })
}
