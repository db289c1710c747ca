//! The full pull's pure core: the staged snapshot (departments and merged users), each row's
//! verdict, the plan (snapshot vs directory → changes) and the mass-delete guard. No I/O: the
//! caller loads a compact [`DirectoryView`] once, and every function here is a plain computation
//! over it — on a whole snapshot (`validate`, `plan`) or a page of rows at a time (a
//! [`SnapshotIndex`] of the users first, then `validate_user` and `plan_user` per row).

mod guard;
mod plan;
#[cfg(test)]
mod tests;
mod validate;
mod view;

pub use guard::guard;
pub use plan::{
    DeptPlan, FieldChange, Leaver, Plan, PlanTotals, RemovedUnit, RowAction, UserPlan, blocking,
    leaver_candidates, old_fields_wanted, plan, plan_depts, plan_user, removed_units,
};
pub use validate::{
    SnapshotIndex, UnitVerdicts, Validation, Verdict, default_password_problems, index_of,
    validate, validate_depts, validate_user,
};
pub use view::{AccountFields, DirectoryView, MappedAccount, MappedUnit, ValueKind};

use serde::{Deserialize, Serialize};

use crate::dingtalk::{DeptId, DingDepartment, DingUser, DingUserId, SecretString};
use crate::domain::connector::{Connector, EmailField, LeaverPolicy};
use crate::domain::password::PasswordPolicy;

/// One department as staged: what `listsub` returns, nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedDept {
    pub dept_id: DeptId,
    pub name: String,
    /// `None` for DingTalk's root (1); a non-root department without a parent hangs off the root.
    pub parent_id: Option<DeptId>,
    pub order: Option<i64>,
}

impl StagedDept {
    pub fn from_ding(d: &DingDepartment) -> Self {
        Self {
            dept_id: d.id,
            name: d.name.clone(),
            parent_id: d.parent,
            order: d.order,
        }
    }

    /// The record the reconciler applies (`Reconciler::apply_department`).
    pub fn to_ding(&self) -> DingDepartment {
        DingDepartment {
            id: self.dept_id,
            name: self.name.clone(),
            parent: self.parent_id,
            order: self.order,
            source_identifier: None,
            manager_userids: Vec::new(),
            member_count: None,
        }
    }
}

/// One user as staged: the fields the directory keeps, and every department the user was listed
/// in (a user in several departments is one row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedUser {
    pub userid: DingUserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// DingTalk's order: the first is the primary department (as the reconciler treats it).
    pub dept_ids: Vec<DeptId>,
}

impl StagedUser {
    /// Takes the fields the directory keeps; the rest of the record is dropped to keep the
    /// snapshot small (a 100,000-user org must fit a 128 MB Lambda).
    pub fn from_ding(u: DingUser) -> Self {
        Self {
            userid: u.userid,
            unionid: u.unionid,
            name: u.name,
            mobile: u.mobile,
            email: u.email,
            org_email: u.org_email,
            job_number: u.job_number,
            title: u.title,
            dept_ids: u.dept_ids,
        }
    }

    /// Adds the departments of another listing of the same user (listed under several
    /// departments), keeping the first-seen order and no duplicates.
    pub fn merge_depts(&mut self, depts: &[DeptId]) {
        for d in depts {
            if !self.dept_ids.contains(d) {
                self.dept_ids.push(*d);
            }
        }
    }

    /// The record the reconciler applies (`Reconciler::apply_user`), so a pull row and an
    /// event are validated and written by one code path.
    pub fn to_ding(&self) -> DingUser {
        DingUser {
            userid: self.userid.clone(),
            unionid: self.unionid.clone(),
            name: self.name.clone(),
            mobile: self.mobile.clone(),
            email: self.email.clone(),
            org_email: self.org_email.clone(),
            job_number: self.job_number.clone(),
            title: self.title.clone(),
            telephone: None,
            work_place: None,
            remark: None,
            dept_ids: self.dept_ids.clone(),
            manager_userid: None,
            active: None,
            admin: None,
            boss: None,
            hired_date_ms: None,
            avatar: None,
            state_code: None,
        }
    }
}

/// The whole staged snapshot as the plan reads it. `complete` is false when any department or
/// page failed to load: such a snapshot plans no leaver and no unit removal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub depts: Vec<StagedDept>,
    pub users: Vec<StagedUser>,
    pub complete: bool,
}

/// The connector settings validation and plan depend on.
#[derive(Clone, Debug)]
pub struct PullRules {
    pub email_field: EmailField,
    pub leaver_policy: LeaverPolicy,
    pub password_policy: PasswordPolicy,
    /// The connector's default password in clear (opened from its sealed form by the caller);
    /// `None` when the connector sets none (accounts then sign in through DingTalk only).
    pub default_password: Option<SecretString>,
}

impl PullRules {
    pub fn of(
        connector: &Connector,
        policy: PasswordPolicy,
        default_password: Option<SecretString>,
    ) -> Self {
        Self {
            email_field: connector.email_field,
            leaver_policy: connector.leaver_policy,
            password_policy: policy,
            default_password,
        }
    }
}
