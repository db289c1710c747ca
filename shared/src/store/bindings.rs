//! Bindings (`BIND#{corp}#{userid}`): which account a DingTalk user of a corp signs in as. Made
//! at a first DingTalk sign-in (automatically for a user a connector of the corp synced, by the
//! mobile/email rules of the source, or on the bind page with the account's password) and listed
//! per account (GSI1 `ACCTBIND#{account}`). A binding belongs to the corp, not to one source:
//! a person who bound through the QR login is known to the micro-app login of the same corp.
//! Every write is audited (`binding`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::keys::esc;
use super::{Actor, DirectoryError, decode};
use crate::domain::ids::AccountId;
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TableError, TxOp};

pub const ENTITY_KIND: &str = "binding";
/// An account has a binding per corp it signs in from: a handful.
const MAX_PER_ACCOUNT: usize = 100;

/// How a binding was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundBy {
    /// The corp's connector had synced the user to the account.
    Synced,
    /// The source's rule matched exactly one account by mobile.
    Mobile,
    /// …or by email.
    Email,
    /// The person signed in to the account on the bind page.
    BindPage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub id: String,
    pub corp_id: String,
    pub userid: String,
    pub unionid: Option<String>,
    /// DingTalk's display name of the user when bound.
    pub name: Option<String>,
    pub account_id: AccountId,
    /// The auth source the binding was made through.
    pub source_id: String,
    pub bound_by: BoundBy,
    pub created_ms: i64,
}

fn key(corp_id: &str, userid: &str) -> Key {
    Key::new(format!("BIND#{}#{}", esc(corp_id), esc(userid)), "BIND")
}

fn account_partition(account: &AccountId) -> String {
    format!("ACCTBIND#{account}")
}

#[derive(Clone)]
pub struct Bindings {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Bindings {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    pub async fn get(
        &self,
        corp_id: &str,
        userid: &str,
    ) -> Result<Option<Binding>, DirectoryError> {
        match self.table.get(&key(corp_id, userid)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Binds the user to `account`. A binding made meanwhile by another request wins (the
    /// stored one is returned).
    #[allow(clippy::too_many_arguments)]
    pub async fn bind(
        &self,
        corp_id: &str,
        userid: &str,
        unionid: Option<&str>,
        name: Option<&str>,
        account: &AccountId,
        source_id: &str,
        bound_by: BoundBy,
        actor: &Actor,
    ) -> Result<Binding, DirectoryError> {
        let now = self.clock.now_millis();
        let binding = Binding {
            id: uuid::Uuid::now_v7().to_string(),
            corp_id: corp_id.to_owned(),
            userid: userid.to_owned(),
            unionid: unionid.filter(|u| !u.is_empty()).map(str::to_owned),
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
            account_id: account.clone(),
            source_id: source_id.to_owned(),
            bound_by,
            created_ms: now,
        };
        let item = Item::new(key(corp_id, userid), 1, json!(binding)).with_gsi1(IndexKey::new(
            account_partition(account),
            binding.id.clone(),
        ));
        let ops = vec![
            TxOp::Put {
                item,
                cond: Cond::Absent,
            },
            audit_op(AuditEntry::new(
                actor,
                now,
                ENTITY_KIND,
                &binding.id,
                "create",
                None,
                Some(json!(binding)),
            )),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(binding),
            Err(TableError::TransactionCancelled { .. } | TableError::ConditionFailed) => self
                .get(corp_id, userid)
                .await?
                .ok_or(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// The account's bindings, oldest first.
    pub async fn of_account(&self, account: &AccountId) -> Result<Vec<Binding>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, account_partition(account)).limit(MAX_PER_ACCOUNT);
        let page = self.table.query(&q).await?;
        page.items.iter().map(decode).collect()
    }

    /// Removes one of the account's bindings; `None` when the account has no such binding.
    pub async fn remove(
        &self,
        account: &AccountId,
        id: &str,
        actor: &Actor,
    ) -> Result<Option<Binding>, DirectoryError> {
        let Some(binding) = self
            .of_account(account)
            .await?
            .into_iter()
            .find(|b| b.id == id)
        else {
            return Ok(None);
        };
        let ops = vec![
            TxOp::Delete {
                key: key(&binding.corp_id, &binding.userid),
                cond: Cond::Exists,
            },
            audit_op(AuditEntry::new(
                actor,
                self.clock.now_millis(),
                ENTITY_KIND,
                &binding.id,
                "delete",
                Some(json!(binding)),
                None,
            )),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(Some(binding)),
            Err(TableError::TransactionCancelled { .. } | TableError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
