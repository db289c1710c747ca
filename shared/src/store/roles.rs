//! Admin roles of accounts (`ROLES#{account_id}`): `admin` (everything) or `viewer` (read-only).
//! An account with a role reaches the admin API with its portal session, as a bearer token does;
//! the roles are enforced there. Every change is audited (`account_roles`); the accounts with a
//! role are listed on GSI1 (`ROLEHOLDERS`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::{Actor, DirectoryError, decode};
use crate::domain::ids::AccountId;
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TxOp};

pub const ENTITY_KIND: &str = "account_roles";
const HOLDERS: &str = "ROLEHOLDERS";

/// What an account may do in the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Every read, no write.
    Viewer,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "admin" => Some(Self::Admin),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub account_id: AccountId,
    pub roles: Vec<Role>,
    pub updated_ms: i64,
}

impl Roles {
    /// The strongest role held: admin over viewer.
    pub fn strongest(&self) -> Option<Role> {
        self.roles.iter().copied().min()
    }
}

fn key(account: &AccountId) -> Key {
    Key::new(format!("ROLES#{account}"), "ROLES")
}

#[derive(Clone)]
pub struct AccountRoles {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl AccountRoles {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    pub async fn get(&self, account: &AccountId) -> Result<Option<Roles>, DirectoryError> {
        match self.table.get(&key(account)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Sets the account's roles (none removes them), audited in the same transaction.
    pub async fn set(
        &self,
        account: &AccountId,
        roles: Vec<Role>,
        actor: &Actor,
    ) -> Result<Roles, DirectoryError> {
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        let now = self.clock.now_millis();
        let old = self.table.get(&key(account)).await?;
        let old_roles: Option<Roles> = old.as_ref().map(decode).transpose()?;
        let cond = old
            .as_ref()
            .map_or(Cond::Absent, |i| Cond::Version(i.version));
        let version = old.as_ref().map_or(1, |i| i.version + 1);
        let new = Roles {
            account_id: account.clone(),
            roles,
            updated_ms: now,
        };
        let write = if new.roles.is_empty() {
            TxOp::Delete {
                key: key(account),
                cond,
            }
        } else {
            TxOp::Put {
                item: Item::new(key(account), version, json!(new))
                    .with_gsi1(IndexKey::new(HOLDERS, account.to_string())),
                cond,
            }
        };
        let ops = vec![
            write,
            audit_op(AuditEntry::new(
                actor,
                now,
                ENTITY_KIND,
                account.as_str(),
                "set_roles",
                old_roles.map(|r| json!(r.roles)),
                Some(json!(new.roles)),
            )),
        ];
        super::transact_or_stale(self.table.as_ref(), ops).await?;
        Ok(new)
    }

    /// Every account with a role (a deployment has a handful of admins).
    pub async fn holders(&self) -> Result<Vec<Roles>, DirectoryError> {
        let page = self
            .table
            .query(&Query::partition(Index::Gsi1, HOLDERS).limit(1000))
            .await?;
        page.items.iter().map(decode).collect()
    }
}
