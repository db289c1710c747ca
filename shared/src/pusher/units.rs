//! Org units → DingTalk departments: created under the parent's department with our id as
//! `source_identifier` (so a retried create finds its department instead of duplicating it),
//! updated only where DingTalk differs, deleted once the unit leaves the pushed subtree.

use crate::dingtalk::{DepartmentPatch, DeptId, NewDepartment};
use crate::domain::directory::OrgUnit;
use crate::domain::ids::OrgUnitId;
use crate::store::mappings::MappedKind;

use super::Done;
use super::failure::{self, Blocked, DEPT_GONE, is_code, store};
use super::scope::Push;
use super::writes::DryPlan;

impl Push<'_> {
    pub async fn org_unit(&self, id: &OrgUnitId) -> Result<Done, Blocked> {
        if *id == self.root {
            return Ok(Done::Root);
        }
        let unit = self
            .deps
            .directory
            .org_unit(id)
            .await
            .map_err(|e| store(e, "reading the org unit"))?;
        let unit = match unit {
            Some(u) if self.inside(&u).await? => Some(u),
            _ => None,
        };
        match (unit, self.mapped_dept(id).await?) {
            (Some(u), None) => self.create_dept(&u).await,
            (Some(u), Some(dept)) => self.update_dept(&u, dept).await,
            (None, Some(dept)) => self.delete_dept(dept).await,
            (None, None) => Ok(Done::Absent),
        }
    }

    /// The department of the unit's parent; a parent not pushed yet makes this push wait.
    async fn parent_dept(&self, unit: &OrgUnit) -> Result<DeptId, Blocked> {
        let Some(parent) = &unit.parent_id else {
            return Err(Blocked::park("the directory root is never pushed", None));
        };
        self.dept_of(parent).await?.ok_or_else(|| {
            Blocked::Ordering(format!(
                "the parent org unit {parent} is not in DingTalk yet; retried after its own push"
            ))
        })
    }

    async fn create_dept(&self, unit: &OrgUnit) -> Result<Done, Blocked> {
        let parent = self.parent_dept(unit).await?;
        if let Some(dept) = self.find_ours(parent, unit).await? {
            return self.adopt(unit, dept).await;
        }
        let new = NewDepartment {
            name: unit.name.clone(),
            parent,
            order: Some(unit.order),
            source_identifier: Some(unit.id.to_string()),
        };
        match self.write_create_department(&new).await {
            Ok(dept) => {
                self.map(MappedKind::Dept, &dept.to_string(), unit.id.as_str())
                    .await?;
                Ok(Done::Created)
            }
            // A create that took effect before its answer was lost leaves our department under
            // that name.
            Err(e) if is_code(&e, &[60021]) => match self.find_ours(parent, unit).await? {
                Some(dept) => self.adopt(unit, dept).await,
                None => Err(failure::dingtalk(&e, "creating the department")),
            },
            Err(e) => Err(failure::dingtalk(&e, "creating the department")),
        }
    }

    /// A department an earlier create of this unit left behind (its mapping write lost): a child
    /// of `parent` carrying our id as `source_identifier`. `listsub` does not return
    /// `source_identifier`, and DingTalk keeps sibling names unique, so only the child with the
    /// unit's name is read in full.
    async fn find_ours(&self, parent: DeptId, unit: &OrgUnit) -> Result<Option<DeptId>, Blocked> {
        if DryPlan::is_placeholder(parent) {
            // The parent is itself only planned: it has no departments in DingTalk yet.
            return Ok(None);
        }
        let children = self
            .deps
            .dingtalk
            .list_sub_departments(&self.app, parent)
            .await
            .map_err(|e| failure::dingtalk(&e, "listing the parent's departments"))?;
        let ours = unit.id.as_str();
        for child in children
            .iter()
            .filter(|c| c.source_identifier.as_deref() == Some(ours) || c.name == unit.name)
        {
            let full = match self.deps.dingtalk.get_department(&self.app, child.id).await {
                Ok(d) => d,
                Err(e) if is_code(&e, DEPT_GONE) => continue,
                Err(e) => return Err(failure::dingtalk(&e, "reading a sub-department")),
            };
            if full.source_identifier.as_deref() == Some(ours) {
                return Ok(Some(full.id));
            }
        }
        Ok(None)
    }

    /// Maps a department found in DingTalk to the unit, then brings it up to date.
    async fn adopt(&self, unit: &OrgUnit, dept: DeptId) -> Result<Done, Blocked> {
        self.map(MappedKind::Dept, &dept.to_string(), unit.id.as_str())
            .await?;
        self.update_dept(unit, dept).await?;
        Ok(Done::Linked)
    }

    async fn update_dept(&self, unit: &OrgUnit, dept: DeptId) -> Result<Done, Blocked> {
        let parent = self.parent_dept(unit).await?;
        let current = match self.deps.dingtalk.get_department(&self.app, dept).await {
            Ok(d) => d,
            // Deleted in DingTalk behind our back: the directory still has it, so re-create.
            Err(e) if is_code(&e, DEPT_GONE) => {
                self.unmap(MappedKind::Dept, &dept.to_string()).await?;
                return Box::pin(self.create_dept(unit)).await;
            }
            Err(e) => return Err(failure::dingtalk(&e, "reading the department")),
        };
        let mut patch = DepartmentPatch::new(dept);
        if current.name != unit.name {
            patch.name = Some(unit.name.clone());
        }
        if current.parent != Some(parent) {
            patch.parent = Some(parent);
        }
        if current.order != Some(unit.order) {
            patch.order = Some(unit.order);
        }
        if patch == DepartmentPatch::new(dept) {
            return Ok(Done::Unchanged);
        }
        match self.write_update_department(&patch).await {
            Ok(()) => Ok(Done::Updated),
            Err(e) if is_code(&e, DEPT_GONE) => Err(Blocked::Transient(
                "the department was deleted in DingTalk while being updated; re-created on retry"
                    .into(),
            )),
            Err(e) => Err(failure::dingtalk(&e, "updating the department")),
        }
    }

    async fn delete_dept(&self, dept: DeptId) -> Result<Done, Blocked> {
        match self.write_delete_department(dept).await {
            Ok(()) => {}
            Err(e) if is_code(&e, DEPT_GONE) => {}
            Err(e) => return Err(failure::dingtalk(&e, "deleting the department")),
        }
        self.unmap(MappedKind::Dept, &dept.to_string()).await?;
        Ok(Done::Deleted)
    }
}
