//! DingTalk id ↔ directory id mappings per connector (IDaaS calls them ddAccountId and ddtalkId):
//! built in, written in the same transaction as the entity they map where possible.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::{self, ExternalKind};
use super::{DirectoryError, PageOf, decode, encode};
use crate::dingtalk::{DeptId, DingUserId};
use crate::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use crate::ports::{Cond, Index, IndexKey, Item, Query, Table, TxOp};

/// One mapping as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub connector_id: ConnectorId,
    pub kind: MappedKind,
    /// The DingTalk userid, or the department id in decimal.
    pub external_id: String,
    /// Our account or org unit id.
    pub our_id: String,
    /// The DingTalk user's unionid (the same person across DingTalk apps, what QR login returns),
    /// when known: the push writes it back with the userid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappedKind {
    User,
    Dept,
}

impl MappedKind {
    fn key_kind(self) -> ExternalKind {
        match self {
            Self::User => ExternalKind::User,
            Self::Dept => ExternalKind::Dept,
        }
    }
}

#[derive(Clone)]
pub struct Mappings {
    table: Arc<dyn Table>,
}

impl Mappings {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The transaction operation that stores a mapping (overwriting a previous one of the same id).
    pub fn put_op(m: &Mapping) -> Result<TxOp, DirectoryError> {
        let kind = m.kind.key_kind();
        let item = Item::new(
            keys::external(&m.connector_id, kind, &m.external_id),
            1,
            encode(m)?,
        )
        .with_gsi1(IndexKey::new(
            keys::externals_of_connector(&m.connector_id, kind),
            m.external_id.clone(),
        ))
        .with_gsi2(IndexKey::new(
            keys::externals_of_entity(&m.our_id),
            format!("{}#{}", m.connector_id, m.external_id),
        ));
        Ok(TxOp::Put {
            item,
            cond: Cond::None,
        })
    }

    pub fn delete_op(connector: &ConnectorId, kind: MappedKind, external_id: &str) -> TxOp {
        TxOp::Delete {
            key: keys::external(connector, kind.key_kind(), external_id),
            cond: Cond::None,
        }
    }

    pub async fn put(&self, m: &Mapping) -> Result<(), DirectoryError> {
        match Self::put_op(m)? {
            TxOp::Put { item, cond } => Ok(self.table.put(item, cond).await?),
            _ => Ok(()),
        }
    }

    pub async fn remove(
        &self,
        connector: &ConnectorId,
        kind: MappedKind,
        external_id: &str,
    ) -> Result<(), DirectoryError> {
        Ok(self
            .table
            .delete(
                &keys::external(connector, kind.key_kind(), external_id),
                Cond::None,
            )
            .await?)
    }

    async fn get(
        &self,
        connector: &ConnectorId,
        kind: MappedKind,
        external_id: &str,
    ) -> Result<Option<Mapping>, DirectoryError> {
        match self
            .table
            .get(&keys::external(connector, kind.key_kind(), external_id))
            .await?
        {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    pub async fn account_of(
        &self,
        connector: &ConnectorId,
        user: &DingUserId,
    ) -> Result<Option<AccountId>, DirectoryError> {
        match self.get(connector, MappedKind::User, user.as_str()).await? {
            Some(m) => Ok(Some(AccountId::parse(&m.our_id)?)),
            None => Ok(None),
        }
    }

    pub async fn unit_of(
        &self,
        connector: &ConnectorId,
        dept: DeptId,
    ) -> Result<Option<OrgUnitId>, DirectoryError> {
        match self
            .get(connector, MappedKind::Dept, &dept.to_string())
            .await?
        {
            Some(m) => Ok(Some(OrgUnitId::parse(&m.our_id)?)),
            None => Ok(None),
        }
    }

    /// Every mapping of one kind of a connector, by external id.
    pub async fn of_connector(
        &self,
        connector: &ConnectorId,
        kind: MappedKind,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<Mapping>, DirectoryError> {
        let q = Query::partition(
            Index::Gsi1,
            keys::externals_of_connector(connector, kind.key_kind()),
        )
        .limit(limit)
        .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// Every mapping that points at one of our accounts or units (any connector).
    pub async fn of_entity(&self, our_id: &str) -> Result<Vec<Mapping>, DirectoryError> {
        let q = Query::partition(Index::Gsi2, keys::externals_of_entity(our_id)).limit(100);
        let page = self.table.query(&q).await?;
        page.items.iter().map(decode).collect()
    }
}
