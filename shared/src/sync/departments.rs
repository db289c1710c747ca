//! The reconciler's departments half: re-read a DingTalk department, then create, rename, move or
//! remove its org unit — ancestors first, DingTalk's root (1) being the connector's root unit.

use futures::future::BoxFuture;

use super::reconciler::{MAX_DEPTH, Reconciler, SyncTarget, too_deep};
use super::{Applied, Outcome, SyncError};
use crate::dingtalk::{DeptId, DingDepartment, DingUserId, ErrorKind};
use crate::domain::directory::OrgUnit;
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::values::check_unit_name;
use crate::store::directory::NewOrgUnit;
use crate::store::mappings::{MappedKind, Mapping, Mappings};
use crate::store::{Actor, DirectoryError};

/// How many children and members of a removed unit are re-read before giving up on emptying it.
const SETTLE_LIMIT: usize = 1000;

impl Reconciler {
    /// Re-reads one DingTalk department and reconciles its org unit (60003 → remove if empty).
    pub async fn reconcile_department(
        &self,
        t: &SyncTarget,
        dept: DeptId,
        actor: &Actor,
    ) -> Result<Outcome, SyncError> {
        self.dept_by_id(t, dept, actor, 0).await.map(|(o, _)| o)
    }

    /// Reconciles a department record of a snapshot that began at `snapshot_ms` (the full
    /// pull's tree); its parent must be applied first or is fetched. A unit written after that
    /// may be newer than the record: DingTalk is re-read instead, so a confirm never renames or
    /// moves a unit back.
    pub async fn apply_department(
        &self,
        t: &SyncTarget,
        dept: &DingDepartment,
        snapshot_ms: i64,
        actor: &Actor,
    ) -> Result<Applied, SyncError> {
        let moved = !Self::is_root(dept.id)
            && self
                .mapped_unit(t, dept.id)
                .await?
                .is_some_and(|u| u.updated_ms > snapshot_ms);
        if !moved {
            let (outcome, _) = self.dept_record(t, dept, actor, 0).await?;
            return Ok(Applied::staged(outcome));
        }
        let (outcome, changed) = match self.dingtalk.get_department(&t.app, dept.id).await {
            Ok(fresh) => {
                let changed = fresh.name != dept.name || fresh.parent != dept.parent;
                (self.dept_record(t, &fresh, actor, 0).await?.0, changed)
            }
            Err(e) if *e.kind() == ErrorKind::NotFound => {
                (self.remove_department(t, dept.id, actor, 0).await?, true)
            }
            Err(e) => {
                return Err(SyncError::dingtalk(
                    &e,
                    &format!("reading DingTalk department {}", dept.id),
                ));
            }
        };
        Ok(Applied {
            outcome,
            reread: true,
            changed,
        })
    }

    /// The org unit of a department, reconciling it (and its missing ancestors) when unmapped.
    pub(super) async fn ensure_unit(
        &self,
        t: &SyncTarget,
        dept: DeptId,
        actor: &Actor,
        depth: u8,
    ) -> Result<OrgUnitId, SyncError> {
        if Self::is_root(dept) {
            return Ok(Self::root_unit(t));
        }
        if let Some(unit) = self.mapped_unit(t, dept).await? {
            return Ok(unit.id);
        }
        match self.dept_by_id(t, dept, actor, depth).await? {
            (_, Some(unit)) => Ok(unit),
            // Listed as a parent or a user's department, yet not found: a read that raced a
            // change in DingTalk. Reading again later sees a consistent state.
            (_, None) => Err(SyncError::Transient(format!(
                "DingTalk department {dept} is referenced but not found"
            ))),
        }
    }

    fn dept_by_id<'a>(
        &'a self,
        t: &'a SyncTarget,
        dept: DeptId,
        actor: &'a Actor,
        depth: u8,
    ) -> BoxFuture<'a, Result<(Outcome, Option<OrgUnitId>), SyncError>> {
        Box::pin(async move {
            if Self::is_root(dept) {
                // DingTalk's root is the connector's root unit: never created, renamed or moved.
                return Ok((Outcome::Unchanged, Some(Self::root_unit(t))));
            }
            if depth > MAX_DEPTH {
                return Err(too_deep(&format!("DingTalk department {dept}")));
            }
            match self.dingtalk.get_department(&t.app, dept).await {
                Ok(d) => self.dept_record(t, &d, actor, depth).await,
                Err(e) if *e.kind() == ErrorKind::NotFound => self
                    .remove_department(t, dept, actor, depth)
                    .await
                    .map(|o| (o, None)),
                Err(e) => Err(SyncError::dingtalk(
                    &e,
                    &format!("reading DingTalk department {dept}"),
                )),
            }
        })
    }

    async fn dept_record(
        &self,
        t: &SyncTarget,
        d: &DingDepartment,
        actor: &Actor,
        depth: u8,
    ) -> Result<(Outcome, Option<OrgUnitId>), SyncError> {
        if Self::is_root(d.id) {
            return Ok((Outcome::Unchanged, Some(Self::root_unit(t))));
        }
        let what = format!("DingTalk department {}", d.id);
        let name =
            check_unit_name(&d.name).map_err(|f| SyncError::Permanent(format!("{what}: {f}")))?;
        let parent = match d.parent {
            Some(p) => self.ensure_unit(t, p, actor, depth + 1).await?,
            None => Self::root_unit(t),
        };
        let order = d.order.unwrap_or(0);
        let mut retried = false;
        loop {
            let written = match self.mapped_unit(t, d.id).await? {
                Some(old) => self
                    .directory
                    .update_org_unit(
                        &old.id,
                        None,
                        Some(name.clone()),
                        Some(parent.clone()),
                        Some(order),
                        actor,
                    )
                    .await
                    .map(|u| {
                        let o = if u.version == old.version {
                            Outcome::Unchanged
                        } else {
                            Outcome::Updated
                        };
                        (o, u.id)
                    }),
                None => {
                    let new = NewOrgUnit {
                        scim: None,
                        name: name.clone(),
                        parent_id: parent.clone(),
                        order,
                    };
                    self.create_unit(t, d.id, new, actor)
                        .await
                        .map(|u| (Outcome::Created, u))
                }
            };
            match written {
                Ok((outcome, unit)) => return Ok((outcome, Some(unit))),
                // A sibling of this connector still has the name (renamed or removed in DingTalk,
                // event not applied yet), or the move would put the unit under one of its own
                // stale descendants: bring the other department up to date, then try once more.
                Err(DirectoryError::Conflict { detail, .. }) if !retried => {
                    retried = true;
                    let Some(sibling) = self.sibling_named(t, &parent, &name, d.id).await? else {
                        return Err(SyncError::Permanent(format!(
                            "{what}: {detail}; that org unit is not linked to a DingTalk \
                             department of this connector, so it is not merged"
                        )));
                    };
                    self.dept_by_id(t, sibling, actor, depth + 1).await?;
                }
                Err(DirectoryError::Invalid(f)) if f.field == "parent_id" && !retried => {
                    retried = true;
                    if let Some(p) = d.parent {
                        self.dept_by_id(t, p, actor, depth + 1).await?;
                    }
                }
                Err(e) => return Err(SyncError::directory(e, &what)),
            }
        }
    }

    async fn create_unit(
        &self,
        t: &SyncTarget,
        dept: DeptId,
        new: NewOrgUnit,
        actor: &Actor,
    ) -> Result<OrgUnitId, DirectoryError> {
        let id = OrgUnitId::generate();
        let mapping = Mapping {
            connector_id: t.id().clone(),
            kind: MappedKind::Dept,
            external_id: dept.to_string(),
            our_id: id.to_string(),
            unionid: None,
        };
        // The unit and its mapping in one transaction: no unit without its link.
        let unit = self
            .directory
            .create_org_unit_as(id, new, actor, vec![Mappings::put_op(&mapping)?])
            .await?;
        Ok(unit.id)
    }

    /// A sibling under `parent` holding `name` (case-insensitively) and mapped to another
    /// department of this connector.
    async fn sibling_named(
        &self,
        t: &SyncTarget,
        parent: &OrgUnitId,
        name: &str,
        me: DeptId,
    ) -> Result<Option<DeptId>, SyncError> {
        let what = format!("DingTalk department {me}");
        let wanted = name.to_lowercase();
        let mut cursor = None;
        loop {
            let page = self
                .directory
                .children(parent, 100, cursor)
                .await
                .map_err(|e| SyncError::directory(e, &what))?;
            for unit in page
                .items
                .iter()
                .filter(|u| u.name.to_lowercase() == wanted)
            {
                if let Some(dept) = self.dept_of_unit(t, &unit.id).await?
                    && dept != me
                {
                    return Ok(Some(dept));
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// The department gone from DingTalk: its unit is deleted when empty. Members and child units
    /// still linked to this connector are re-read first (DingTalk refuses to delete a department
    /// that has either, so they moved or left and those events may simply not be applied yet).
    async fn remove_department(
        &self,
        t: &SyncTarget,
        dept: DeptId,
        actor: &Actor,
        depth: u8,
    ) -> Result<Outcome, SyncError> {
        let what = format!("removed DingTalk department {dept}");
        let dir = |e| SyncError::directory(e, &what);
        let external = dept.to_string();
        let forget = || self.mappings.remove(t.id(), MappedKind::Dept, &external);
        let Some(unit) = self.mapped_unit(t, dept).await?.map(|u| u.id) else {
            forget().await.map_err(dir)?;
            return Ok(Outcome::Absent);
        };
        let mut settled = false;
        loop {
            match self.directory.delete_org_unit(&unit, actor).await {
                Ok(()) | Err(DirectoryError::NotFound(_)) => {
                    forget().await.map_err(dir)?;
                    return Ok(Outcome::Removed);
                }
                Err(DirectoryError::NotEmpty { .. }) if !settled => {
                    settled = true;
                    self.settle_unit(t, &unit, actor, depth).await?;
                }
                Err(DirectoryError::NotEmpty { children, members }) => {
                    let mut left = Vec::new();
                    if children {
                        left.push("child org units");
                    }
                    if members {
                        left.push("members");
                    }
                    return Err(SyncError::Permanent(format!(
                        "{what}: its org unit {unit} still has {} that are not linked to \
                         DingTalk; move or delete them, then re-drive",
                        left.join(" and ")
                    )));
                }
                Err(e) => return Err(dir(e)),
            }
        }
    }

    /// Re-reads the DingTalk departments and users linked to a unit's children and members.
    async fn settle_unit(
        &self,
        t: &SyncTarget,
        unit: &OrgUnitId,
        actor: &Actor,
        depth: u8,
    ) -> Result<(), SyncError> {
        let what = format!("org unit {unit}");
        let dir = |e| SyncError::directory(e, &what);
        let mut children = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .directory
                .children(unit, 100, cursor)
                .await
                .map_err(dir)?;
            children.extend(page.items.into_iter().map(|u| u.id));
            cursor = page.next;
            if cursor.is_none() || children.len() >= SETTLE_LIMIT {
                break;
            }
        }
        for child in children {
            if let Some(dept) = self.dept_of_unit(t, &child).await? {
                self.dept_by_id(t, dept, actor, depth + 1).await?;
            }
        }
        let mut members: Vec<AccountId> = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .directory
                .members(unit, 100, cursor)
                .await
                .map_err(dir)?;
            members.extend(page.items);
            cursor = page.next;
            if cursor.is_none() || members.len() >= SETTLE_LIMIT {
                break;
            }
        }
        for member in members {
            let links = self
                .mappings
                .of_entity(member.as_str())
                .await
                .map_err(dir)?;
            let user = links
                .into_iter()
                .find(|m| m.connector_id == *t.id() && m.kind == MappedKind::User)
                .and_then(|m| DingUserId::parse(m.external_id).ok());
            if let Some(user) = user {
                self.user_by_id(t, &user, actor, depth + 1).await?;
            }
        }
        Ok(())
    }

    /// The org unit mapped to a department; a mapping whose unit is gone counts as none.
    pub(super) async fn mapped_unit(
        &self,
        t: &SyncTarget,
        dept: DeptId,
    ) -> Result<Option<OrgUnit>, SyncError> {
        let what = format!("DingTalk department {dept}");
        let dir = |e| SyncError::directory(e, &what);
        let Some(unit) = self.mappings.unit_of(t.id(), dept).await.map_err(dir)? else {
            return Ok(None);
        };
        self.directory.org_unit(&unit).await.map_err(dir)
    }

    /// The department of this connector a unit is mapped to.
    async fn dept_of_unit(
        &self,
        t: &SyncTarget,
        unit: &OrgUnitId,
    ) -> Result<Option<DeptId>, SyncError> {
        let links = self
            .mappings
            .of_entity(unit.as_str())
            .await
            .map_err(|e| SyncError::directory(e, &format!("org unit {unit}")))?;
        Ok(links
            .into_iter()
            .find(|m| m.connector_id == *t.id() && m.kind == MappedKind::Dept)
            .and_then(|m| DeptId::parse(&m.external_id).ok()))
    }
}
