//! Departments (§3.3): records as read, and the bodies of their writes.

use super::{dept_id, dept_ids, join_ids, loose_i64, loose_text, opt_dept_id, user_ids};
use crate::dingtalk::types::{DepartmentPatch, DeptId, DingDepartment, DingUserId, NewDepartment};
use serde::{Deserialize, Serialize};

/// A department as the legacy API spells it (`listsub` rows and `department/get`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireDept {
    #[serde(deserialize_with = "dept_id")]
    pub dept_id: DeptId,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "opt_dept_id")]
    pub parent_id: Option<DeptId>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub order: Option<i64>,
    #[serde(default, deserialize_with = "loose_text")]
    pub source_identifier: Option<String>,
    #[serde(default, deserialize_with = "user_ids")]
    pub dept_manager_userid_list: Vec<DingUserId>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub member_count: Option<i64>,
}

impl From<WireDept> for DingDepartment {
    fn from(w: WireDept) -> Self {
        Self {
            id: w.dept_id,
            name: w.name,
            // The root reports parent 0 or nothing.
            parent: w.parent_id.filter(|_| !w.dept_id.is_root()),
            order: w.order,
            source_identifier: w.source_identifier,
            manager_userids: w.dept_manager_userid_list,
            member_count: w.member_count.and_then(|n| u64::try_from(n).ok()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireDeptIds {
    #[serde(default, deserialize_with = "dept_ids")]
    pub dept_id_list: Vec<DeptId>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireParentIds {
    #[serde(default, deserialize_with = "dept_ids")]
    pub parent_id_list: Vec<DeptId>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireCreatedDept {
    #[serde(deserialize_with = "dept_id")]
    pub dept_id: DeptId,
}

#[derive(Serialize)]
pub(crate) struct DeptIdRequest {
    pub dept_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'static str>,
}

/// `department/create` body.
#[derive(Serialize)]
pub(crate) struct CreateDeptRequest<'a> {
    pub name: &'a str,
    pub parent_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identifier: Option<&'a str>,
}

impl<'a> From<&'a NewDepartment> for CreateDeptRequest<'a> {
    fn from(d: &'a NewDepartment) -> Self {
        Self {
            name: &d.name,
            parent_id: d.parent.get(),
            order: d.order,
            source_identifier: d.source_identifier.as_deref(),
        }
    }
}

/// `department/update` body; list fields are comma-separated strings (§3.1).
#[derive(Serialize)]
pub(crate) struct UpdateDeptRequest {
    pub dept_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dept_manager_userid_list: Option<String>,
}

impl From<&DepartmentPatch> for UpdateDeptRequest {
    fn from(p: &DepartmentPatch) -> Self {
        Self {
            dept_id: p.id.get(),
            name: p.name.clone(),
            parent_id: p.parent.map(DeptId::get),
            order: p.order,
            source_identifier: p.source_identifier.clone(),
            dept_manager_userid_list: p
                .manager_userids
                .as_ref()
                .map(|ids| join_ids(ids.iter().map(|i| i.as_str().to_owned()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn root_department_has_no_parent() {
        let d: WireDept =
            serde_json::from_str(r#"{"dept_id":1,"name":"corp","parent_id":0}"#).unwrap();
        assert_eq!(DingDepartment::from(d).parent, None);
    }
}
