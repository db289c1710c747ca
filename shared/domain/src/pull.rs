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

use crate::connector::{Connector, EmailField, LeaverPolicy};
use crate::dingtalk::{DeptId, DingDepartment, DingUser, DingUserId, SecretString};
use crate::password::PasswordPolicy;

/// A DingTalk value longer than anything the directory keeps: the staged row holds only its
/// first `limit` characters (or departments), and validation refuses the row naming the field.
/// So no value DingTalk sends can make a staged row, or the account written from it, outgrow
/// DynamoDB's 400 KB item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clipped {
    pub field: String,
    /// Its length in DingTalk (characters, or departments for `dept_ids`).
    pub chars: usize,
    pub limit: usize,
}

impl Clipped {
    /// The reason an admin reads on the row.
    pub fn reason(&self) -> String {
        let unit = if self.field == "dept_ids" {
            "departments"
        } else {
            "characters"
        };
        format!(
            "{} has {} {unit} in DingTalk, more than the {} the directory keeps",
            self.field, self.chars, self.limit
        )
    }
}

/// The most characters a staged value keeps: the limits validation applies (names, the email
/// and mobile formats, `sync::rules`' title and job number), so a value within them is kept
/// whole.
pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_UNIT_NAME_CHARS: usize = 64;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_MOBILE_CHARS: usize = 32;
pub const MAX_UNIONID_CHARS: usize = 64;
/// Departments a staged user keeps (DingTalk allows far fewer per user).
pub const MAX_USER_DEPTS: usize = 1000;

/// `value` cut to `limit` characters, recording the cut in `clipped`.
fn clip(value: String, field: &str, limit: usize, clipped: &mut Vec<Clipped>) -> String {
    let chars = value.chars().count();
    if chars <= limit {
        return value;
    }
    clipped.push(Clipped {
        field: field.to_owned(),
        chars,
        limit,
    });
    value.chars().take(limit).collect()
}

fn clip_opt(
    value: Option<String>,
    field: &str,
    limit: usize,
    clipped: &mut Vec<Clipped>,
) -> Option<String> {
    value.map(|v| clip(v, field, limit, clipped))
}

/// One department as staged: what `listsub` returns, nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedDept {
    pub dept_id: DeptId,
    pub name: String,
    /// `None` for DingTalk's root (1); a non-root department without a parent hangs off the root.
    pub parent_id: Option<DeptId>,
    pub order: Option<i64>,
    /// Values too long to keep (the row is invalid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clipped: Vec<Clipped>,
}

impl StagedDept {
    pub fn from_ding(d: &DingDepartment) -> Self {
        let mut clipped = Vec::new();
        let name = clip(d.name.clone(), "name", MAX_UNIT_NAME_CHARS, &mut clipped);
        Self {
            dept_id: d.id,
            name,
            parent_id: d.parent,
            order: d.order,
            clipped,
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
    /// Values too long to keep (the row is invalid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clipped: Vec<Clipped>,
}

impl StagedUser {
    /// Takes the fields the directory keeps, each bounded (see [`Clipped`]); the rest of the
    /// record is dropped to keep the snapshot small (a 100,000-user org must fit a 128 MB
    /// Lambda).
    pub fn from_ding(u: DingUser) -> Self {
        use crate::rules::{MAX_JOB_NUMBER_CHARS, MAX_TITLE_CHARS};
        let mut c = Vec::new();
        let mut staged = Self {
            userid: u.userid,
            unionid: clip_opt(u.unionid, "unionid", MAX_UNIONID_CHARS, &mut c),
            name: clip(u.name, "name", MAX_NAME_CHARS, &mut c),
            mobile: clip_opt(u.mobile, "mobile", MAX_MOBILE_CHARS, &mut c),
            email: clip_opt(u.email, "email", MAX_EMAIL_CHARS, &mut c),
            org_email: clip_opt(u.org_email, "org_email", MAX_EMAIL_CHARS, &mut c),
            job_number: clip_opt(u.job_number, "job_number", MAX_JOB_NUMBER_CHARS, &mut c),
            title: clip_opt(u.title, "title", MAX_TITLE_CHARS, &mut c),
            dept_ids: Vec::new(),
            clipped: c,
        };
        staged.merge_depts(&u.dept_ids);
        staged
    }

    /// Adds the departments of another listing of the same user (listed under several
    /// departments), keeping the first-seen order and no duplicates, and at most
    /// [`MAX_USER_DEPTS`].
    pub fn merge_depts(&mut self, depts: &[DeptId]) {
        for d in depts {
            if self.dept_ids.contains(d) {
                continue;
            }
            if self.dept_ids.len() >= MAX_USER_DEPTS {
                match self.clipped.iter_mut().find(|c| c.field == "dept_ids") {
                    Some(c) => c.chars += 1,
                    None => self.clipped.push(Clipped {
                        field: "dept_ids".to_owned(),
                        chars: self.dept_ids.len() + 1,
                        limit: MAX_USER_DEPTS,
                    }),
                }
                continue;
            }
            self.dept_ids.push(*d);
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
