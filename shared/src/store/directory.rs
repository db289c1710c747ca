//! The directory over the `Table` port: org units (a tree; move, rename, delete only when empty) and
//! accounts (unique username/email/mobile, memberships), each write one transaction with its
//! uniqueness markers, membership items and audit entry, conditional on the stored version.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::keys;
use super::{Actor, DirectoryError, PageOf, decode, encode};
use crate::domain::directory::{Account, AccountStatus, OrgUnit, Origin};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::values::check_unit_name;
use crate::ports::{
    Clock, Cond, Index, Item, Key, MAX_TRANSACTION_ITEMS, Query, Table, TableError, TxOp,
};

/// The directory root's id: fixed, so every engine and every deployment agree on it.
pub const ROOT_ID: &str = "00000000-0000-7000-8000-000000000001";

/// How many times a read-modify-write is retried after losing a version race.
const RACE_RETRIES: usize = 8;

/// What a new org unit needs.
#[derive(Clone, Debug)]
pub struct NewOrgUnit {
    pub name: String,
    pub parent_id: OrgUnitId,
    pub order: i64,
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

    pub fn root_id() -> OrgUnitId {
        // ROOT_ID is a valid UUID literal; the fallback is unreachable but keeps this panic-free.
        OrgUnitId::parse(ROOT_ID).unwrap_or_else(|_| OrgUnitId::generate())
    }

    /// The root org unit, created on first use.
    pub async fn ensure_root(&self) -> Result<OrgUnit, DirectoryError> {
        let id = Self::root_id();
        if let Some(root) = self.org_unit(&id).await? {
            return Ok(root);
        }
        let now = self.clock.now_millis();
        let root = OrgUnit {
            id: id.clone(),
            name: "root".to_owned(),
            parent_id: None,
            order: 0,
            version: 1,
            created_ms: now,
            updated_ms: now,
        };
        match self.table.put(unit_item(&root)?, Cond::Absent).await {
            Ok(()) | Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
        self.org_unit(&id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound("root org unit".to_owned()))
    }

    pub async fn org_unit(&self, id: &OrgUnitId) -> Result<Option<OrgUnit>, DirectoryError> {
        match self.table.get(&keys::org_unit(id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Create a unit under an existing parent; its name must be unique under that parent.
    pub async fn create_org_unit(
        &self,
        new: NewOrgUnit,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        self.create_org_unit_with(new, actor, Vec::new()).await
    }

    /// Create a unit together with `extra` writes (its DingTalk mapping) in one transaction.
    pub async fn create_org_unit_with(
        &self,
        new: NewOrgUnit,
        actor: &Actor,
        extra: Vec<TxOp>,
    ) -> Result<OrgUnit, DirectoryError> {
        self.create_org_unit_as(OrgUnitId::generate(), new, actor, extra)
            .await
    }

    /// Like `create_org_unit_with`, under an id the caller chose, so that `extra` can name the
    /// unit (a mapping needs the id in the same transaction).
    pub async fn create_org_unit_as(
        &self,
        id: OrgUnitId,
        new: NewOrgUnit,
        actor: &Actor,
        extra: Vec<TxOp>,
    ) -> Result<OrgUnit, DirectoryError> {
        let name = check_unit_name(&new.name)?;
        let now = self.clock.now_millis();
        let unit = OrgUnit {
            id,
            name,
            parent_id: Some(new.parent_id.clone()),
            order: new.order,
            version: 1,
            created_ms: now,
            updated_ms: now,
        };
        let mut ops = vec![
            TxOp::Check {
                key: keys::org_unit(&new.parent_id),
                cond: Cond::Exists,
            },
            TxOp::Put {
                item: unit_item(&unit)?,
                cond: Cond::Absent,
            },
            TxOp::Put {
                item: marker(
                    keys::unit_name_marker(&new.parent_id, &unit.name),
                    unit.id.as_str(),
                ),
                cond: Cond::Absent,
            },
            audit_op(AuditEntry::new(
                actor,
                now,
                "org_unit",
                unit.id.as_str(),
                "create",
                None,
                Some(json!(unit)),
            )),
        ];
        ops.extend(extra);
        match self.table.transact(ops).await {
            Ok(()) => Ok(unit),
            Err(TableError::TransactionCancelled { failed }) if failed.contains(&0) => Err(
                DirectoryError::NotFound(format!("parent org unit {}", new.parent_id)),
            ),
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Conflict {
                attr: "name",
                detail: format!(
                    "an org unit named {:?} already exists under this parent",
                    unit.name
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Rename, move or re-order a unit. A move must not put a unit under itself or a descendant.
    pub async fn update_org_unit(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        name: Option<String>,
        parent_id: Option<OrgUnitId>,
        order: Option<i64>,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        let name = name.map(|n| check_unit_name(&n)).transpose()?;
        for _ in 0..RACE_RETRIES {
            let old = self
                .org_unit(id)
                .await?
                .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
            if expected_version.is_some_and(|v| v != old.version) {
                return Err(DirectoryError::Stale);
            }
            let Some(old_parent) = old.parent_id.clone() else {
                return Err(DirectoryError::invalid(
                    "org_unit_id",
                    "the root cannot be renamed or moved",
                ));
            };
            let mut new = old.clone();
            if let Some(n) = &name {
                new.name.clone_from(n);
            }
            if let Some(p) = &parent_id {
                if p == id || self.is_descendant(p, id).await? {
                    return Err(DirectoryError::invalid(
                        "parent_id",
                        "a unit cannot be moved under itself or one of its descendants",
                    ));
                }
                new.parent_id = Some(p.clone());
            }
            if let Some(o) = order {
                new.order = o;
            }
            if new == old {
                return Ok(old);
            }
            let now = self.clock.now_millis();
            new.version = old.version + 1;
            new.updated_ms = now;
            let new_parent = new.parent_id.clone().unwrap_or_else(|| old_parent.clone());
            let mut ops = vec![TxOp::Put {
                item: unit_item(&new)?,
                cond: Cond::Version(old.version),
            }];
            let name_key_changed =
                new_parent != old_parent || new.name.to_lowercase() != old.name.to_lowercase();
            if name_key_changed {
                ops.push(TxOp::Check {
                    key: keys::org_unit(&new_parent),
                    cond: Cond::Exists,
                });
                ops.push(TxOp::Delete {
                    key: keys::unit_name_marker(&old_parent, &old.name),
                    cond: Cond::None,
                });
                ops.push(TxOp::Put {
                    item: marker(keys::unit_name_marker(&new_parent, &new.name), id.as_str()),
                    cond: Cond::Absent,
                });
            }
            ops.push(audit_op(AuditEntry::new(
                actor,
                now,
                "org_unit",
                id.as_str(),
                "update",
                Some(json!(old)),
                Some(json!(new)),
            )));
            match self.table.transact(ops).await {
                Ok(()) => return Ok(new),
                Err(TableError::TransactionCancelled { failed }) => {
                    if failed.contains(&0) {
                        if expected_version.is_some() {
                            return Err(DirectoryError::Stale);
                        }
                        continue;
                    }
                    if failed.contains(&1) {
                        return Err(DirectoryError::NotFound(format!(
                            "parent org unit {new_parent}"
                        )));
                    }
                    return Err(DirectoryError::Conflict {
                        attr: "name",
                        detail: format!(
                            "an org unit named {:?} already exists under this parent",
                            new.name
                        ),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Stale)
    }

    /// True when `candidate` lies below `ancestor` in the tree.
    async fn is_descendant(
        &self,
        candidate: &OrgUnitId,
        ancestor: &OrgUnitId,
    ) -> Result<bool, DirectoryError> {
        let mut seen = HashSet::new();
        let mut current = self.org_unit(candidate).await?;
        while let Some(unit) = current {
            if !seen.insert(unit.id.clone()) {
                return Ok(false);
            }
            match unit.parent_id {
                Some(p) if &p == ancestor => return Ok(true),
                Some(p) => current = self.org_unit(&p).await?,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Delete a unit that has no child units and no members.
    pub async fn delete_org_unit(
        &self,
        id: &OrgUnitId,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        let unit = self
            .org_unit(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
        let Some(parent) = unit.parent_id.clone() else {
            return Err(DirectoryError::invalid(
                "org_unit_id",
                "the root cannot be deleted",
            ));
        };
        let children = self
            .table
            .query(&Query::partition(Index::Gsi1, keys::org_unit_children(id)).limit(1))
            .await?;
        let members = self
            .table
            .query(&Query::partition(Index::Gsi1, keys::unit_members(id)).limit(1))
            .await?;
        if !children.items.is_empty() || !members.items.is_empty() {
            return Err(DirectoryError::NotEmpty {
                children: !children.items.is_empty(),
                members: !members.items.is_empty(),
            });
        }
        let now = self.clock.now_millis();
        let ops = vec![
            TxOp::Delete {
                key: keys::org_unit(id),
                cond: Cond::Version(unit.version),
            },
            TxOp::Delete {
                key: keys::unit_name_marker(&parent, &unit.name),
                cond: Cond::None,
            },
            audit_op(AuditEntry::new(
                actor,
                now,
                "org_unit",
                id.as_str(),
                "delete",
                Some(json!(unit)),
                None,
            )),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// The child units of a unit, by name.
    pub async fn children(
        &self,
        id: &OrgUnitId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<OrgUnit>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, keys::org_unit_children(id))
            .limit(limit)
            .after(cursor);
        page_of(self.table.query(&q).await?)
    }

    /// Every org unit, oldest first.
    pub async fn org_units(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<OrgUnit>, DirectoryError> {
        let q = Query::partition(Index::Gsi2, keys::ALL_ORG_UNITS)
            .limit(limit)
            .after(cursor);
        page_of(self.table.query(&q).await?)
    }

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
        page_of(self.table.query(&q).await?)
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
        for _ in 0..RACE_RETRIES {
            let Some(old) = self.account(id).await? else {
                return Ok(());
            };
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
            check_size(&ops)?;
            match self.table.transact(ops).await {
                Ok(()) => return Ok(()),
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
    out
}

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

fn check_size(ops: &[TxOp]) -> Result<(), DirectoryError> {
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(DirectoryError::invalid(
            "memberships",
            "an account can belong to at most 45 org units",
        ));
    }
    Ok(())
}

/// The account as audit entries record it: without the password hash.
fn audit_view(a: &Account) -> serde_json::Value {
    let mut v = json!(a);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("password_hash");
    }
    v
}

fn unit_item(unit: &OrgUnit) -> Result<Item, DirectoryError> {
    let mut item = Item::new(keys::org_unit(&unit.id), unit.version, encode(unit)?)
        .with_gsi2(keys::all_org_units_entry(&unit.id));
    if let Some(parent) = &unit.parent_id {
        item = item.with_gsi1(keys::org_unit_child_entry(parent, &unit.name, &unit.id));
    }
    Ok(item)
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

fn marker(key: Key, owner: &str) -> Item {
    Item::new(key, 1, json!({ "owner": owner }))
}

fn page_of<T: serde::de::DeserializeOwned>(
    page: crate::ports::Page,
) -> Result<PageOf<T>, DirectoryError> {
    let items = page.items.iter().map(decode).collect::<Result<_, _>>()?;
    Ok(PageOf {
        items,
        next: page.next,
    })
}

/// Who changed something, for the audit entries; `origin` says through which path.
impl Actor {
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
