//! Every write a push makes — to DingTalk and to the mappings — goes through here, so the same
//! decisions can be taken for real or as a dry run. A dry run (the initial push's plan) makes the
//! same reads, writes nothing, records what it would have written as field changes, and hands out
//! placeholder department ids for the departments it would create, so the plan of a child sees
//! its parent as on its way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dingtalk::{
    CreatedUser, DepartmentPatch, DeptId, DingTalkError, DingUserId, ErrorCode, ErrorKind,
    NewDepartment, NewUser, UserPatch,
};
use crate::domain::ids::OrgUnitId;
use crate::domain::pull::FieldChange;

use super::scope::Push;

/// What a whole dry run shares: the departments it would create, by unit.
#[derive(Debug, Default)]
pub struct DryPlan {
    planned: Mutex<HashMap<OrgUnitId, DeptId>>,
    next: AtomicU64,
}

/// Placeholder ids count down from the top of the range, far above any id DingTalk hands out.
const PLACEHOLDER_FLOOR: u64 = u64::MAX / 2;

impl DryPlan {
    /// A plan that already knows `planned` units are to be created (a resumed plan).
    pub fn with_planned(units: impl IntoIterator<Item = OrgUnitId>) -> Self {
        let plan = Self::default();
        for unit in units {
            plan.placeholder_for(&unit);
        }
        plan
    }

    fn placeholder_for(&self, unit: &OrgUnitId) -> DeptId {
        let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = planned.get(unit) {
            return *d;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = DeptId::new(u64::MAX - n).unwrap_or(DeptId::ROOT);
        planned.insert(unit.clone(), id);
        id
    }

    pub fn planned(&self, unit: &OrgUnitId) -> Option<DeptId> {
        let planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
        planned.get(unit).copied()
    }

    pub fn is_placeholder(dept: DeptId) -> bool {
        dept.get() > PLACEHOLDER_FLOOR
    }
}

/// One entity's dry run: the shared plan and the changes recorded for this entity.
#[derive(Debug)]
pub struct DryRun<'a> {
    pub plan: &'a DryPlan,
    changes: Mutex<Vec<FieldChange>>,
}

impl<'a> DryRun<'a> {
    pub fn new(plan: &'a DryPlan) -> Self {
        Self {
            plan,
            changes: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, field: &str, new: Option<String>) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        changes.push(FieldChange {
            field: field.to_owned(),
            old: None,
            new,
        });
    }

    pub fn take_changes(&self) -> Vec<FieldChange> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn dept_text(d: DeptId) -> String {
    if DryPlan::is_placeholder(d) {
        "(a department this push creates)".to_owned()
    } else {
        d.to_string()
    }
}

fn depts_text(ds: &[DeptId]) -> String {
    ds.iter()
        .map(|d| dept_text(*d))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Push<'_> {
    pub(crate) async fn write_create_department(
        &self,
        new: &NewDepartment,
    ) -> Result<DeptId, DingTalkError> {
        if let Some(dry) = &self.dry {
            dry.record("department", Some(new.name.clone()));
            dry.record("parent", Some(dept_text(new.parent)));
            let unit = new
                .source_identifier
                .as_deref()
                .and_then(|s| OrgUnitId::parse(s).ok());
            return Ok(match unit {
                Some(unit) => dry.plan.placeholder_for(&unit),
                None => DeptId::ROOT,
            });
        }
        self.deps.dingtalk.create_department(&self.app, new).await
    }

    pub(crate) async fn write_update_department(
        &self,
        patch: &DepartmentPatch,
    ) -> Result<(), DingTalkError> {
        if let Some(dry) = &self.dry {
            if let Some(name) = &patch.name {
                dry.record("name", Some(name.clone()));
            }
            if let Some(parent) = patch.parent {
                dry.record("parent", Some(dept_text(parent)));
            }
            if let Some(order) = patch.order {
                dry.record("order", Some(order.to_string()));
            }
            return Ok(());
        }
        self.deps.dingtalk.update_department(&self.app, patch).await
    }

    pub(crate) async fn write_delete_department(&self, dept: DeptId) -> Result<(), DingTalkError> {
        if let Some(dry) = &self.dry {
            dry.record("department", None);
            return Ok(());
        }
        self.deps.dingtalk.delete_department(&self.app, dept).await
    }

    pub(crate) async fn write_create_user(
        &self,
        new: &NewUser,
    ) -> Result<CreatedUser, DingTalkError> {
        if let Some(dry) = &self.dry {
            dry.record("name", Some(new.name.clone()));
            dry.record("mobile", Some(new.mobile.clone()));
            dry.record("departments", Some(depts_text(&new.dept_ids)));
            for (field, value) in [
                ("email", &new.email),
                ("org_email", &new.org_email),
                ("job_number", &new.job_number),
                ("title", &new.title),
            ] {
                if let Some(v) = value {
                    dry.record(field, Some(v.clone()));
                }
            }
            for (k, v) in &new.extension {
                dry.record(&format!("extension.{k}"), Some(v.clone()));
            }
            // The push always chooses the userid (`userid_for`); without one there is nothing
            // to plan against.
            let userid = new.userid.clone().ok_or_else(|| {
                DingTalkError::new(
                    "/topapi/v2/user/create",
                    ErrorKind::Conflict,
                    ErrorCode::Errcode(60102),
                    "a planned user needs the userid the push chooses",
                )
            })?;
            return Ok(CreatedUser {
                userid,
                unionid: None,
            });
        }
        self.deps.dingtalk.create_user(&self.app, new).await
    }

    pub(crate) async fn write_update_user(&self, patch: &UserPatch) -> Result<(), DingTalkError> {
        if let Some(dry) = &self.dry {
            for (field, value) in [
                ("name", &patch.name),
                ("email", &patch.email),
                ("org_email", &patch.org_email),
                ("job_number", &patch.job_number),
                ("title", &patch.title),
            ] {
                if let Some(v) = value {
                    dry.record(field, Some(v.clone()));
                }
            }
            if let Some(ds) = &patch.dept_ids {
                dry.record("departments", Some(depts_text(ds)));
            }
            for (k, v) in patch.extension.iter().flatten() {
                dry.record(&format!("extension.{k}"), Some(v.clone()));
            }
            return Ok(());
        }
        self.deps.dingtalk.update_user(&self.app, patch).await
    }

    pub(crate) async fn write_delete_user(&self, userid: &DingUserId) -> Result<(), DingTalkError> {
        if let Some(dry) = &self.dry {
            dry.record("user", None);
            return Ok(());
        }
        self.deps.dingtalk.delete_user(&self.app, userid).await
    }
}
