//! The directory over the `Table` port: org units (a tree; move, rename, delete only when empty) and
//! accounts (unique username/email/mobile, memberships), each write one transaction with its
//! uniqueness markers, membership items and audit entry, conditional on the stored version.

mod accounts;
mod org_units;

pub use accounts::ACCOUNT_EXTERNAL_ID;
pub use org_units::UNIT_EXTERNAL_ID;

use std::sync::Arc;

use serde_json::json;

use super::{Actor, DirectoryError};
use crate::domain::directory::{MAX_MEMBERSHIPS, OrgUnit, Origin, ScimRecord};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::ports::{Clock, Item, Key, MAX_TRANSACTION_ITEMS, Table, TxOp};

/// The directory root's id: fixed, so every engine and every deployment agree on it.
pub const ROOT_ID: &str = "00000000-0000-7000-8000-000000000001";

/// How many times a read-modify-write is retried after losing a version race.
const RACE_RETRIES: usize = 8;

/// Writes that join an entity's own transaction — the push outbox items of the change — given
/// the entity as written and its version after the write (for a delete: the last version + 1).
pub type SideWrites<'a, T> =
    &'a (dyn Fn(&T, u64) -> Result<Vec<TxOp>, DirectoryError> + Send + Sync);

/// No side writes: the inbound paths, whose changes are not pushed back.
pub fn no_side_writes<T>(_: &T, _: u64) -> Result<Vec<TxOp>, DirectoryError> {
    Ok(Vec::new())
}

/// A rename, move or re-order of an org unit; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UnitChange {
    pub name: Option<String>,
    pub parent_id: Option<OrgUnitId>,
    pub order: Option<i64>,
    /// The SCIM Group's new record (`Some(None)` forgets it).
    pub scim: Option<Option<ScimRecord>>,
}

/// A unit's subtree, as [`Directory::subtree`] reads it.
#[derive(Clone, Debug, Default)]
pub struct Subtree {
    /// The units below the top, level by level (index 0 = its children).
    pub levels: Vec<Vec<OrgUnit>>,
    /// Every account with a membership in the subtree and the deepest level it is in (0 = the
    /// top itself), shallowest first.
    pub accounts: Vec<(AccountId, u32)>,
}

/// What a new org unit needs.
#[derive(Clone, Debug)]
pub struct NewOrgUnit {
    pub name: String,
    pub parent_id: OrgUnitId,
    pub order: i64,
    /// The SCIM Group it was created as, if any.
    pub scim: Option<ScimRecord>,
}

/// The directory repository.
#[derive(Clone)]
pub struct Directory {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Directory {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }
}

fn check_size(ops: &[TxOp]) -> Result<(), DirectoryError> {
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(DirectoryError::invalid(
            "memberships",
            format!("an account can belong to at most {MAX_MEMBERSHIPS} org units"),
        ));
    }
    Ok(())
}

fn marker(key: Key, owner: &str) -> Item {
    Item::new(key, 1, json!({ "owner": owner }))
}

/// Who changed something, for the audit entries; `origin` says through which path.
impl Actor {
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

#[cfg(test)]
mod tests;
