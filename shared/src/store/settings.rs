//! Deployment-wide settings, one item each (`SETTINGS` / `{name}`), with their defaults when unset.
//! Today: the password policy that connector default passwords and portal passwords must meet.

use std::sync::Arc;

use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::{Actor, DirectoryError, decode, encode};
use crate::domain::password::PasswordPolicy;
use crate::ports::{Clock, Cond, Item, Key, Table, TableError, TxOp};

const PASSWORD_POLICY: &str = "password_policy";

fn settings_key(name: &str) -> Key {
    Key::new("SETTINGS", name)
}

#[derive(Clone)]
pub struct Settings {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Settings {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// The stored password policy, or the default one.
    pub async fn password_policy(&self) -> Result<PasswordPolicy, DirectoryError> {
        match self.table.get(&settings_key(PASSWORD_POLICY)).await? {
            Some(item) => decode(&item),
            None => Ok(PasswordPolicy::default()),
        }
    }

    /// Replaces the password policy (conditional on the version read, audited in the same write).
    pub async fn set_password_policy(
        &self,
        policy: &PasswordPolicy,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        let key = settings_key(PASSWORD_POLICY);
        let old = self.table.get(&key).await?;
        let (cond, version, old_value) = match &old {
            Some(item) => (
                Cond::Version(item.version),
                item.version + 1,
                Some(item.data.clone()),
            ),
            None => (Cond::Absent, 1, None),
        };
        let ops = vec![
            TxOp::Put {
                item: Item::new(key, version, encode(policy)?),
                cond,
            },
            audit_op(AuditEntry::new(
                actor,
                self.clock.now_millis(),
                "settings",
                PASSWORD_POLICY,
                "update",
                old_value,
                Some(json!(policy)),
            )),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }
}
