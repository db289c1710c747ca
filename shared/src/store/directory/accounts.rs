//! Accounts: create and update with their uniqueness markers and memberships in one transaction,
//! status changes, delete, and the reads (by id, by unique value, all, members of a unit).

use std::collections::HashSet;

use serde_json::json;

use super::super::audit::{AuditEntry, audit_op};
use super::super::keys;
use super::super::{Actor, DirectoryError, PageOf, decode, encode};
use super::{Directory, RACE_RETRIES, SideWrites, check_size, marker, no_side_writes};
use crate::domain::directory::{Account, AccountStatus};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::ports::{Cond, Index, Item, Query, TableError, TxOp};

impl Directory {
    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, DirectoryError> {
        match self.table.get(&keys::account(id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// The account owning a username, email or mobile (`kind`), through its uniqueness marker.
    pub async fn find_account(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Option<Account>, DirectoryError> {
        let Some(item) = self.table.get(&keys::unique(kind, value)).await? else {
            return Ok(None);
        };
        let Some(owner) = item.data.get("owner").and_then(|o| o.as_str()) else {
            return Ok(None);
        };
        self.account(&AccountId::parse(owner)?).await
    }

    /// Every account, by username.
    pub async fn accounts(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<Account>, DirectoryError> {
        let q = Query::partition(Index::Gsi2, keys::ALL_ACCOUNTS)
            .limit(limit)
            .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// The ids of a unit's members.
    pub async fn members(
        &self,
        unit: &OrgUnitId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<AccountId>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, keys::unit_members(unit))
            .limit(limit)
            .after(cursor);
        let page = self.table.query(&q).await?;
        let items = page
            .items
            .iter()
            .map(|i| {
                i.data
                    .get("account_id")
                    .and_then(|v| v.as_str())
                    .map(AccountId::parse)
            })
            .map(|r| {
                r.ok_or_else(|| {
                    DirectoryError::Corrupt("membership without account_id".to_owned())
                })?
                .map_err(DirectoryError::from)
            })
            .collect::<Result<_, _>>()?;
        Ok(PageOf {
            items,
            next: page.next,
        })
    }

    /// Store a new account (its id, version 1 and timestamps are set here).
    pub async fn create_account(
        &self,
        account: Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        self.create_account_with(account, actor, Vec::new()).await
    }

    /// Create an account together with `extra` writes (its DingTalk mapping) in one transaction.
    /// `extra` goes last, so the failure explanation's operation indexes stay valid.
    pub async fn create_account_with(
        &self,
        mut account: Account,
        actor: &Actor,
        extra: Vec<TxOp>,
    ) -> Result<Account, DirectoryError> {
        let now = self.clock.now_millis();
        account.version = 1;
        account.created_ms = now;
        account.updated_ms = now;
        if account.password_hash.is_some() {
            account.password_changed_ms = Some(now);
        }
        let mut ops = vec![TxOp::Put {
            item: account_item(&account)?,
            cond: Cond::Absent,
        }];
        let mut attrs = Vec::new();
        for (kind, value) in unique_values(&account) {
            attrs.push(kind);
            ops.push(TxOp::Put {
                item: marker(keys::unique(kind, &value), account.id.as_str()),
                cond: Cond::Absent,
            });
        }
        let first_membership = ops.len();
        for m in &account.memberships {
            ops.push(TxOp::Check {
                key: keys::org_unit(&m.org_unit_id),
                cond: Cond::Exists,
            });
            ops.push(TxOp::Put {
                item: membership_item(&account.id, &m.org_unit_id),
                cond: Cond::None,
            });
        }
        ops.push(audit_op(AuditEntry::new(
            actor,
            now,
            "account",
            account.id.as_str(),
            "create",
            None,
            Some(audit_view(&account)),
        )));
        ops.extend(extra);
        check_size(&ops)?;
        match self.table.transact(ops).await {
            Ok(()) => Ok(account),
            Err(TableError::TransactionCancelled { failed }) => Err(explain_account_failure(
                &failed,
                &attrs,
                first_membership,
                &account,
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Read, change with `edit`, and write back under the read version; retried when another
    /// writer wins the race, unless `expected_version` pins the version the caller saw.
    pub async fn update_account<F>(
        &self,
        id: &AccountId,
        expected_version: Option<u64>,
        actor: &Actor,
        edit: F,
    ) -> Result<Account, DirectoryError>
    where
        F: Fn(&mut Account) -> Result<(), DirectoryError> + Send + Sync,
    {
        self.update_account_with(id, expected_version, actor, edit, &no_side_writes)
            .await
    }

    /// As [`Self::update_account`], with `side` writes (outbox items) in the same transaction.
    pub async fn update_account_with<F>(
        &self,
        id: &AccountId,
        expected_version: Option<u64>,
        actor: &Actor,
        edit: F,
        side: SideWrites<'_, Account>,
    ) -> Result<Account, DirectoryError>
    where
        F: Fn(&mut Account) -> Result<(), DirectoryError> + Send + Sync,
    {
        for _ in 0..RACE_RETRIES {
            let old = self
                .account(id)
                .await?
                .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))?;
            if expected_version.is_some_and(|v| v != old.version) {
                return Err(DirectoryError::Stale);
            }
            let mut new = old.clone();
            edit(&mut new)?;
            new.id = old.id.clone();
            if new == old {
                return Ok(old);
            }
            let now = self.clock.now_millis();
            new.version = old.version + 1;
            new.created_ms = old.created_ms;
            new.updated_ms = now;
            // The password's age restarts whenever it changes, whoever changes it.
            if new.password_hash != old.password_hash {
                new.password_changed_ms = new.password_hash.is_some().then_some(now);
            }
            let mut ops = vec![TxOp::Put {
                item: account_item(&new)?,
                cond: Cond::Version(old.version),
            }];
            let old_values = unique_values(&old);
            let new_values = unique_values(&new);
            let mut attrs = Vec::new();
            for (kind, value) in &new_values {
                if !old_values.contains(&(kind, value.clone())) {
                    attrs.push(*kind);
                    ops.push(TxOp::Put {
                        item: marker(keys::unique(kind, value), id.as_str()),
                        cond: Cond::Absent,
                    });
                }
            }
            for (kind, value) in &old_values {
                if !new_values.contains(&(kind, value.clone())) {
                    ops.push(TxOp::Delete {
                        key: keys::unique(kind, value),
                        cond: Cond::None,
                    });
                }
            }
            let first_membership = 1 + attrs.len();
            let old_units: HashSet<&OrgUnitId> =
                old.memberships.iter().map(|m| &m.org_unit_id).collect();
            let new_units: HashSet<&OrgUnitId> =
                new.memberships.iter().map(|m| &m.org_unit_id).collect();
            let mut added = Vec::new();
            for unit in new
                .memberships
                .iter()
                .map(|m| &m.org_unit_id)
                .filter(|u| !old_units.contains(u))
            {
                added.push(unit.clone());
                ops.push(TxOp::Check {
                    key: keys::org_unit(unit),
                    cond: Cond::Exists,
                });
                ops.push(TxOp::Put {
                    item: membership_item(id, unit),
                    cond: Cond::None,
                });
            }
            for unit in old
                .memberships
                .iter()
                .map(|m| &m.org_unit_id)
                .filter(|u| !new_units.contains(u))
            {
                ops.push(TxOp::Delete {
                    key: keys::membership(id, unit),
                    cond: Cond::None,
                });
            }
            ops.push(audit_op(AuditEntry::new(
                actor,
                now,
                "account",
                id.as_str(),
                "update",
                Some(audit_view(&old)),
                Some(audit_view(&new)),
            )));
            ops.extend(side(&new, new.version)?);
            check_size(&ops)?;
            match self.table.transact(ops).await {
                Ok(()) => return Ok(new),
                Err(TableError::TransactionCancelled { failed }) if failed.contains(&0) => {
                    if expected_version.is_some() {
                        return Err(DirectoryError::Stale);
                    }
                }
                Err(TableError::TransactionCancelled { failed }) => {
                    let mut probe = new.clone();
                    probe.memberships = added
                        .iter()
                        .map(|u| crate::domain::directory::Membership {
                            org_unit_id: u.clone(),
                            primary: false,
                        })
                        .collect();
                    return Err(explain_account_failure(
                        &failed,
                        &attrs,
                        first_membership,
                        &probe,
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Stale)
    }

    /// Enable or disable an account (leavers, rehires, admins).
    pub async fn set_status(
        &self,
        id: &AccountId,
        status: AccountStatus,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        self.update_account(id, None, actor, |a| {
            a.status = status;
            Ok(())
        })
        .await
    }

    /// Remove an account with its markers and memberships.
    pub async fn delete_account(
        &self,
        id: &AccountId,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        self.delete_account_with(id, None, actor, &no_side_writes)
            .await
            .map(|_| ())
    }

    /// As [`Self::delete_account`], refused as stale when `expected_version` is not the stored
    /// one, with `side` writes in the same transaction (given the account as it was and the
    /// version after it: the last one + 1). Returns the deleted account, `None` when absent.
    pub async fn delete_account_with(
        &self,
        id: &AccountId,
        expected_version: Option<u64>,
        actor: &Actor,
        side: SideWrites<'_, Account>,
    ) -> Result<Option<Account>, DirectoryError> {
        for _ in 0..RACE_RETRIES {
            let Some(old) = self.account(id).await? else {
                return Ok(None);
            };
            if expected_version.is_some_and(|v| v != old.version) {
                return Err(DirectoryError::Stale);
            }
            let now = self.clock.now_millis();
            let mut ops = vec![TxOp::Delete {
                key: keys::account(id),
                cond: Cond::Version(old.version),
            }];
            for (kind, value) in unique_values(&old) {
                ops.push(TxOp::Delete {
                    key: keys::unique(kind, &value),
                    cond: Cond::None,
                });
            }
            for m in &old.memberships {
                ops.push(TxOp::Delete {
                    key: keys::membership(id, &m.org_unit_id),
                    cond: Cond::None,
                });
            }
            ops.push(audit_op(AuditEntry::new(
                actor,
                now,
                "account",
                id.as_str(),
                "delete",
                Some(audit_view(&old)),
                None,
            )));
            ops.extend(side(&old, old.version + 1)?);
            check_size(&ops)?;
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Some(old)),
                Err(TableError::TransactionCancelled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Stale)
    }
}

/// The unique values an account holds, as (marker kind, normalised value).
fn unique_values(a: &Account) -> Vec<(&'static str, String)> {
    let mut out = vec![("username", a.username.as_str().to_owned())];
    if let Some(e) = &a.email {
        out.push(("email", e.as_str().to_owned()));
    }
    if let Some(m) = &a.mobile {
        out.push(("mobile", m.as_str().to_owned()));
    }
    if let Some(e) = a.scim.as_ref().and_then(|s| s.external_id.as_ref()) {
        out.push((ACCOUNT_EXTERNAL_ID, e.clone()));
    }
    out
}

/// The uniqueness-marker kind of an account's SCIM `externalId` (found with `find_account`).
pub const ACCOUNT_EXTERNAL_ID: &str = "external_id";

/// Which condition of an account transaction failed, in words.
fn explain_account_failure(
    failed: &[usize],
    attrs: &[&'static str],
    first_membership: usize,
    a: &Account,
) -> DirectoryError {
    if failed.contains(&0) {
        return DirectoryError::Stale;
    }
    for &i in failed {
        if let Some(attr) = i.checked_sub(1).and_then(|k| attrs.get(k)) {
            let value = unique_values(a)
                .into_iter()
                .find(|(k, _)| k == attr)
                .map(|(_, v)| v)
                .unwrap_or_default();
            return DirectoryError::Conflict {
                attr,
                detail: format!("{attr} {value:?} already belongs to another account"),
            };
        }
        if i >= first_membership {
            let unit = a
                .memberships
                .get((i - first_membership) / 2)
                .map(|m| m.org_unit_id.to_string())
                .unwrap_or_default();
            return DirectoryError::NotFound(format!("org unit {unit}"));
        }
    }
    DirectoryError::Stale
}

/// The account as audit entries record it: without the password hash.
fn audit_view(a: &Account) -> serde_json::Value {
    let mut v = json!(a);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("password_hash");
    }
    v
}

fn account_item(a: &Account) -> Result<Item, DirectoryError> {
    Ok(Item::new(keys::account(&a.id), a.version, encode(a)?)
        .with_gsi2(keys::all_accounts_entry(a.username.as_str(), &a.id)))
}

fn membership_item(account: &AccountId, unit: &OrgUnitId) -> Item {
    Item::new(
        keys::membership(account, unit),
        1,
        json!({"account_id": account, "org_unit_id": unit}),
    )
    .with_gsi1(crate::ports::IndexKey::new(
        keys::unit_members(unit),
        account.to_string(),
    ))
}
