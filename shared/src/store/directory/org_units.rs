//! Org units: the root, create, rename, move (never under its own subtree), delete only when empty,
//! children and the list of all units.

use std::collections::HashSet;

use serde_json::json;

use super::super::audit::{AuditEntry, audit_op};
use super::super::keys;
use super::super::{Actor, DirectoryError, PageOf, decode, encode};
/// Deeper than any real tree (DingTalk refuses depth beyond ~15).
const MAX_DEPTH: usize = 64;

use super::{
    Directory, NewOrgUnit, RACE_RETRIES, ROOT_ID, SideWrites, Subtree, UnitChange, marker,
    no_side_writes,
};
use crate::domain::directory::OrgUnit;
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::values::check_unit_name;
use crate::ports::{Cond, Index, Item, Query, TableError, TxOp};

impl Directory {
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
            scim: None,
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
            scim: new.scim.clone(),
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
        ];
        let lookups = lookup_ops(None, Some(&unit));
        let lookup_count = lookups.len();
        ops.extend(lookups);
        ops.extend([audit_op(AuditEntry::new(
            actor,
            now,
            "org_unit",
            unit.id.as_str(),
            "create",
            None,
            Some(json!(unit)),
        ))]);
        ops.extend(extra);
        match self.table.transact(ops).await {
            Ok(()) => Ok(unit),
            Err(TableError::TransactionCancelled { failed }) if failed.contains(&0) => Err(
                DirectoryError::NotFound(format!("parent org unit {}", new.parent_id)),
            ),
            Err(TableError::TransactionCancelled { failed })
                if failed.iter().any(|i| (3..3 + lookup_count).contains(i)) =>
            {
                Err(external_id_taken(&unit))
            }
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
        let change = UnitChange {
            scim: None,
            name,
            parent_id,
            order,
        };
        self.update_org_unit_with(id, expected_version, change, actor, &no_side_writes)
            .await
    }

    /// As [`Self::update_org_unit`], with `side` writes (outbox items) in the same transaction.
    pub async fn update_org_unit_with(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        change: UnitChange,
        actor: &Actor,
        side: SideWrites<'_, OrgUnit>,
    ) -> Result<OrgUnit, DirectoryError> {
        let UnitChange {
            name,
            parent_id,
            order,
            scim,
        } = change;
        let name = name.map(|n| check_unit_name(&n)).transpose()?;
        for _ in 0..RACE_RETRIES {
            let old = self
                .org_unit(id)
                .await?
                .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
            if expected_version.is_some_and(|v| v != old.version) {
                return Err(DirectoryError::Stale);
            }
            // The root may be renamed and re-ordered (its name is the organisation's), not moved.
            if old.parent_id.is_none() && parent_id.is_some() {
                return Err(DirectoryError::invalid(
                    "parent_id",
                    "the root org unit cannot be moved",
                ));
            }
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
            if let Some(record) = &scim {
                new.scim.clone_from(record);
            }
            if new == old {
                return Ok(old);
            }
            let now = self.clock.now_millis();
            new.version = old.version + 1;
            new.updated_ms = now;
            let mut ops = vec![TxOp::Put {
                item: unit_item(&new)?,
                cond: Cond::Version(old.version),
            }];
            // Names are unique under a parent; the root has none, so no name marker.
            let parents = old.parent_id.as_ref().zip(new.parent_id.as_ref());
            let moved_key = parents.filter(|(old_parent, new_parent)| {
                new_parent != old_parent || new.name.to_lowercase() != old.name.to_lowercase()
            });
            if let Some((old_parent, new_parent)) = moved_key {
                ops.push(TxOp::Check {
                    key: keys::org_unit(new_parent),
                    cond: Cond::Exists,
                });
                ops.push(TxOp::Delete {
                    key: keys::unit_name_marker(old_parent, &old.name),
                    cond: Cond::None,
                });
                ops.push(TxOp::Put {
                    item: marker(keys::unit_name_marker(new_parent, &new.name), id.as_str()),
                    cond: Cond::Absent,
                });
            }
            let first_lookup = ops.len();
            let lookups = lookup_ops(Some(&old), Some(&new));
            let lookup_count = lookups.len();
            ops.extend(lookups);
            ops.push(audit_op(AuditEntry::new(
                actor,
                now,
                "org_unit",
                id.as_str(),
                "update",
                Some(json!(old)),
                Some(json!(new)),
            )));
            ops.extend(side(&new, new.version)?);
            match self.table.transact(ops).await {
                Ok(()) => return Ok(new),
                Err(TableError::TransactionCancelled { failed }) => {
                    if failed.contains(&0) {
                        if expected_version.is_some() {
                            return Err(DirectoryError::Stale);
                        }
                        continue;
                    }
                    if failed
                        .iter()
                        .any(|i| (first_lookup..first_lookup + lookup_count).contains(i))
                    {
                        return Err(external_id_taken(&new));
                    }
                    if failed.contains(&1) {
                        let parent = new.parent_id.as_ref().map(ToString::to_string);
                        return Err(DirectoryError::NotFound(format!(
                            "parent org unit {}",
                            parent.unwrap_or_default()
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
        let ancestry = self.ancestry(candidate).await?;
        Ok(ancestry.iter().skip(1).any(|u| u == ancestor))
    }

    /// `unit` followed by its ancestors up to the root (nothing when `unit` does not exist); a
    /// corrupt chain — a cycle, or deeper than any real tree — ends where it turns bad.
    pub async fn ancestry(&self, unit: &OrgUnitId) -> Result<Vec<OrgUnitId>, DirectoryError> {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut current = self.org_unit(unit).await?;
        while let Some(u) = current {
            if !seen.insert(u.id.clone()) || chain.len() > MAX_DEPTH {
                break;
            }
            chain.push(u.id.clone());
            current = match &u.parent_id {
                Some(parent) => self.org_unit(parent).await?,
                None => None,
            };
        }
        Ok(chain)
    }

    /// True when `unit` is `top` or lies below it.
    pub async fn is_within(
        &self,
        unit: &OrgUnitId,
        top: &OrgUnitId,
    ) -> Result<bool, DirectoryError> {
        Ok(unit == top || self.ancestry(unit).await?.contains(top))
    }

    /// Delete a unit that has no child units and no members.
    pub async fn delete_org_unit(
        &self,
        id: &OrgUnitId,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        self.delete_org_unit_with(id, None, actor, &no_side_writes)
            .await
            .map(|_| ())
    }

    /// As [`Self::delete_org_unit`], refused as stale when `expected_version` is not the stored
    /// one, with `side` writes in the same transaction. Returns the deleted unit.
    pub async fn delete_org_unit_with(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        actor: &Actor,
        side: SideWrites<'_, OrgUnit>,
    ) -> Result<OrgUnit, DirectoryError> {
        let unit = self
            .org_unit(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
        if expected_version.is_some_and(|v| v != unit.version) {
            return Err(DirectoryError::Stale);
        }
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
        let mut ops = vec![
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
        ops.extend(lookup_ops(Some(&unit), None));
        ops.extend(side(&unit, unit.version + 1)?);
        match self.table.transact(ops).await {
            Ok(()) => Ok(unit),
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// The units named `name` (any case), wherever they are in the tree: one query of the by-name
    /// lookup, then a get per unit.
    pub async fn org_units_named(&self, name: &str) -> Result<Vec<OrgUnit>, DirectoryError> {
        let page = self
            .table
            .query(&Query::partition(Index::Primary, keys::units_by_name(name)).limit(100))
            .await?;
        let mut out = Vec::new();
        for item in page.items {
            let Ok(id) = OrgUnitId::parse(&item.key.sk) else {
                continue;
            };
            if let Some(u) = self.org_unit(&id).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// The unit whose SCIM `externalId` is `external_id`.
    pub async fn org_unit_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<OrgUnit>, DirectoryError> {
        let Some(item) = self
            .table
            .get(&keys::unique(UNIT_EXTERNAL_ID, external_id))
            .await?
        else {
            return Ok(None);
        };
        let Some(owner) = item.data.get("owner").and_then(|o| o.as_str()) else {
            return Ok(None);
        };
        self.org_unit(&OrgUnitId::parse(owner)?).await
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
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// The units below `top`, level by level (its children first, each level's units in name
    /// order under their parents), and every account with a membership in `top` or below it,
    /// with the deepest level of those memberships (`top`'s own members are at level 0). Used
    /// where a whole subtree is pushed: an initial push plans it, a move across a push root
    /// queues it.
    pub async fn subtree(&self, top: &OrgUnitId) -> Result<Subtree, DirectoryError> {
        const PAGE: usize = 1000;
        let mut out = Subtree::default();
        let mut depths: std::collections::HashMap<AccountId, u32> = Default::default();
        let mut frontier = vec![top.clone()];
        let mut depth = 0u32;
        while !frontier.is_empty() {
            let mut next: Vec<OrgUnit> = Vec::new();
            for unit in &frontier {
                let mut cursor = None;
                loop {
                    let page = self.members(unit, PAGE, cursor).await?;
                    for account in page.items {
                        let d = depths.entry(account).or_insert(depth);
                        *d = (*d).max(depth);
                    }
                    match page.next {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                let mut cursor = None;
                loop {
                    let page = self.children(unit, PAGE, cursor).await?;
                    next.extend(page.items);
                    match page.next {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
            }
            depth += 1;
            frontier = next.iter().map(|u| u.id.clone()).collect();
            if !next.is_empty() {
                out.levels.push(next);
            }
        }
        out.accounts = depths.into_iter().collect();
        out.accounts
            .sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        Ok(out)
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
        PageOf::decoded(self.table.query(&q).await?)
    }
}

/// The by-name lookup item and the SCIM `externalId` marker of a unit, moved from `old` to `new`
/// (a create has no `old`, a delete no `new`): deletes of what changed, then puts.
fn lookup_ops(old: Option<&OrgUnit>, new: Option<&OrgUnit>) -> Vec<TxOp> {
    let name = |u: &OrgUnit| (u.parent_id.is_some()).then(|| u.name.to_lowercase());
    let ext = |u: &OrgUnit| u.scim.as_ref().and_then(|s| s.external_id.clone());
    let mut ops = Vec::new();
    let (old_name, new_name) = (old.and_then(name), new.and_then(name));
    if old_name != new_name {
        if let (Some(u), Some(n)) = (old, &old_name) {
            ops.push(TxOp::Delete {
                key: keys::unit_by_name(n, &u.id),
                cond: Cond::None,
            });
        }
        if let (Some(u), Some(n)) = (new, &new_name) {
            ops.push(TxOp::Put {
                item: Item::new(keys::unit_by_name(n, &u.id), 1, json!({ "id": u.id })),
                cond: Cond::None,
            });
        }
    }
    let (old_ext, new_ext) = (old.and_then(ext), new.and_then(ext));
    if old_ext != new_ext {
        if let Some(e) = &old_ext {
            ops.push(TxOp::Delete {
                key: keys::unique(UNIT_EXTERNAL_ID, e),
                cond: Cond::None,
            });
        }
        if let (Some(u), Some(e)) = (new, &new_ext) {
            ops.push(TxOp::Put {
                item: marker(keys::unique(UNIT_EXTERNAL_ID, e), u.id.as_str()),
                cond: Cond::Absent,
            });
        }
    }
    ops
}

/// The uniqueness-marker kind of a unit's SCIM `externalId`.
pub const UNIT_EXTERNAL_ID: &str = "ouext";

fn external_id_taken(unit: &OrgUnit) -> DirectoryError {
    let ext = unit.scim.as_ref().and_then(|s| s.external_id.clone());
    DirectoryError::Conflict {
        attr: "externalId",
        detail: format!(
            "another org unit has the externalId {:?}",
            ext.unwrap_or_default()
        ),
    }
}

fn unit_item(unit: &OrgUnit) -> Result<Item, DirectoryError> {
    let mut item = Item::new(keys::org_unit(&unit.id), unit.version, encode(unit)?)
        .with_gsi2(keys::all_org_units_entry(&unit.id));
    if let Some(parent) = &unit.parent_id {
        item = item.with_gsi1(keys::org_unit_child_entry(parent, &unit.name, &unit.id));
    }
    Ok(item)
}
