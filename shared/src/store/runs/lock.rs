//! Lease locks: one item per lock with a TTL, taken with `Cond::Absent` (an expired lease counts
//! as absent), so a crashed holder frees the lock when its lease ends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::ids::ConnectorId;
use crate::ports::{Clock, Cond, Item, Key, Table, TableError};
use crate::store::keys::esc;

/// The lock that keeps two pulls of one connector apart.
pub fn pull_lock_name(connector: &ConnectorId) -> String {
    format!("pull:{connector}")
}

/// Who holds a lock, and until when (epoch ms) unless renewed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub owner: String,
    pub until_ms: i64,
}

fn lock_key(name: &str) -> Key {
    Key::new(format!("LOCK#{}", esc(name)), "LOCK")
}

#[derive(Clone)]
pub struct Locks {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Locks {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    fn item(&self, name: &str, owner: &str, lease_secs: u64, version: u64) -> Item {
        let now = self.clock.now_millis();
        let lease = i64::try_from(lease_secs).unwrap_or(i64::MAX / 2_000);
        let until_ms = now.saturating_add(lease.saturating_mul(1000));
        let data = serde_json::json!(LockHolder {
            owner: owner.to_owned(),
            until_ms
        });
        // TTL in whole seconds, rounded up so the lease never ends before `until_ms`.
        Item::new(lock_key(name), version, data).with_ttl((until_ms + 999).div_euclid(1000))
    }

    async fn read_holder(&self, name: &str) -> Result<Option<(LockHolder, u64)>, TableError> {
        Ok(self.table.get(&lock_key(name)).await?.and_then(|item| {
            serde_json::from_value::<LockHolder>(item.data)
                .ok()
                .map(|h| (h, item.version))
        }))
    }

    /// The lock's holder, `None` when free (an expired lease reads as free once the table hides
    /// it; compare `until_ms` to judge a lease at another moment).
    pub async fn holder(&self, name: &str) -> Result<Option<LockHolder>, TableError> {
        Ok(self.read_holder(name).await?.map(|(h, _)| h))
    }

    /// Takes the lock for `lease_secs`. True when `owner` holds it now (taken, or already held
    /// by the same owner, whose lease is then extended); false when someone else holds it.
    pub async fn acquire(
        &self,
        name: &str,
        owner: &str,
        lease_secs: u64,
    ) -> Result<bool, TableError> {
        match self
            .table
            .put(self.item(name, owner, lease_secs, 1), Cond::Absent)
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => self.renew(name, owner, lease_secs).await,
            Err(e) => Err(e),
        }
    }

    /// Extends the lease of a lock `owner` holds. False when it is not (or no longer) theirs.
    pub async fn renew(
        &self,
        name: &str,
        owner: &str,
        lease_secs: u64,
    ) -> Result<bool, TableError> {
        let Some((holder, version)) = self.read_holder(name).await? else {
            return Ok(false);
        };
        if holder.owner != owner {
            return Ok(false);
        }
        match self
            .table
            .put(
                self.item(name, owner, lease_secs, version + 1),
                Cond::Version(version),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lock up if `owner` holds it; releasing a lock one does not hold does nothing.
    pub async fn release(&self, name: &str, owner: &str) -> Result<(), TableError> {
        let Some((holder, version)) = self.read_holder(name).await? else {
            return Ok(());
        };
        if holder.owner != owner {
            return Ok(());
        }
        match self
            .table
            .delete(&lock_key(name), Cond::Version(version))
            .await
        {
            Ok(()) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
