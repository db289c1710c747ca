//! Users (§3.4): records and pages as read, lookups, and the bodies of their writes.

use std::collections::BTreeMap;

use super::{Loose, dept_ids, join_ids, loose_bool, loose_i64, loose_text, opt_user_id, user_ids};
use crate::dingtalk::types::{DeptId, DingUser, DingUserId, DingUserRef, NewUser, UserPatch};
use serde::{Deserialize, Deserializer, Serialize};

/// A user as the legacy API spells it (`user/get`, `user/list` rows).
#[derive(Debug, Deserialize)]
pub(crate) struct WireUser {
    pub userid: DingUserId,
    #[serde(default, deserialize_with = "loose_text")]
    pub unionid: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub org_email: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub job_number: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub telephone: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub work_place: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub remark: Option<String>,
    #[serde(default, deserialize_with = "dept_ids")]
    pub dept_id_list: Vec<DeptId>,
    #[serde(default, deserialize_with = "opt_user_id")]
    pub manager_userid: Option<DingUserId>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub admin: Option<bool>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub boss: Option<bool>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub hired_date: Option<i64>,
    #[serde(default, deserialize_with = "loose_text")]
    pub avatar: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub state_code: Option<String>,
}

impl From<WireUser> for DingUser {
    fn from(w: WireUser) -> Self {
        Self {
            userid: w.userid,
            unionid: w.unionid,
            name: w.name,
            mobile: w.mobile,
            email: w.email,
            org_email: w.org_email,
            job_number: w.job_number,
            title: w.title,
            telephone: w.telephone,
            work_place: w.work_place,
            remark: w.remark,
            dept_ids: w.dept_id_list,
            manager_userid: w.manager_userid,
            active: w.active,
            admin: w.admin,
            boss: w.boss,
            hired_date_ms: w.hired_date,
            avatar: w.avatar,
            state_code: w.state_code,
        }
    }
}

/// `user/get` with the `extension` attributes, which `DingUser` does not carry.
#[derive(Debug, Deserialize)]
pub(crate) struct WireUserWithExtension {
    #[serde(flatten)]
    pub user: WireUser,
    #[serde(default, deserialize_with = "extension")]
    pub extension: BTreeMap<String, String>,
}

/// `extension` as `user/get` returns it: a JSON object rendered as a string (an object is
/// accepted too). Text that is not an object reads as no attributes.
fn extension<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let object = match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(text)) => serde_json::from_str(&text).ok(),
        Some(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    Ok(object
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => serde_json::from_value::<Loose>(other.clone())
                    .map(Loose::into_text)
                    .unwrap_or_else(|_| other.to_string()),
            };
            (k, text)
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireUserRef {
    pub userid: DingUserId,
    #[serde(default)]
    pub name: String,
}

impl From<WireUserRef> for DingUserRef {
    fn from(w: WireUserRef) -> Self {
        Self {
            userid: w.userid,
            name: w.name,
        }
    }
}

/// `user/list` and `user/listsimple` results.
#[derive(Debug, Deserialize)]
pub(crate) struct WireUserPage<T> {
    #[serde(default, deserialize_with = "loose_bool")]
    pub has_more: Option<bool>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub next_cursor: Option<i64>,
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
}

#[derive(Serialize)]
pub(crate) struct UserPageRequest {
    pub dept_id: u64,
    pub cursor: u64,
    pub size: u32,
    pub language: &'static str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireUserIds {
    #[serde(default, deserialize_with = "user_ids")]
    pub userid_list: Vec<DingUserId>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireUserIdResult {
    pub userid: DingUserId,
    #[serde(default, deserialize_with = "loose_text", alias = "unionId")]
    pub unionid: Option<String>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub contact_type: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireCount {
    #[serde(deserialize_with = "loose_i64")]
    pub count: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct UserIdRequest<'a> {
    pub userid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'static str>,
}

/// `user/create` and `user/update` body; `dept_id_list` is a comma-separated string (§3.1).
#[derive(Serialize, Default)]
pub(crate) struct UserWriteRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dept_id_list: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_place: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_userid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hired_date: Option<i64>,
    /// An object on create, a JSON string on update: DingTalk's two spellings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<serde_json::Value>,
    /// 1 = append: the keys an update does not send are kept instead of cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_attrs_update_mode: Option<i64>,
}

pub(super) fn joined_depts(ids: &[DeptId]) -> String {
    join_ids(ids.iter().map(|d| d.get().to_string()))
}

impl From<&NewUser> for UserWriteRequest {
    fn from(u: &NewUser) -> Self {
        Self {
            userid: u.userid.as_ref().map(|i| i.as_str().to_owned()),
            name: Some(u.name.clone()),
            mobile: Some(u.mobile.clone()),
            dept_id_list: Some(joined_depts(&u.dept_ids)),
            email: u.email.clone(),
            org_email: u.org_email.clone(),
            job_number: u.job_number.clone(),
            title: u.title.clone(),
            telephone: u.telephone.clone(),
            work_place: u.work_place.clone(),
            remark: u.remark.clone(),
            manager_userid: u.manager_userid.as_ref().map(|i| i.as_str().to_owned()),
            hired_date: u.hired_date_ms,
            extension: (!u.extension.is_empty()).then(|| serde_json::json!(u.extension)),
            ext_attrs_update_mode: None,
        }
    }
}

impl From<&UserPatch> for UserWriteRequest {
    fn from(u: &UserPatch) -> Self {
        Self {
            userid: Some(u.userid.as_str().to_owned()),
            name: u.name.clone(),
            mobile: None,
            dept_id_list: u.dept_ids.as_deref().map(joined_depts),
            email: u.email.clone(),
            org_email: u.org_email.clone(),
            job_number: u.job_number.clone(),
            title: u.title.clone(),
            telephone: u.telephone.clone(),
            work_place: u.work_place.clone(),
            remark: u.remark.clone(),
            manager_userid: u.manager_userid.as_ref().map(|i| i.as_str().to_owned()),
            hired_date: u.hired_date_ms,
            extension: u
                .extension
                .as_ref()
                .map(|e| serde_json::Value::String(serde_json::json!(e).to_string())),
            ext_attrs_update_mode: u.extension.as_ref().map(|_| 1),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct MobileRequest<'a> {
    pub mobile: &'a str,
}

#[derive(Serialize)]
pub(crate) struct UnionIdRequest<'a> {
    pub unionid: &'a str,
}

#[derive(Serialize)]
pub(crate) struct CountRequest {
    pub only_active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn user_records_accept_string_rendered_numbers_and_flags() {
        let u: WireUser = serde_json::from_str(
            r#"{"userid":"zhangsan","name":"张三","dept_id_list":["2",3],"active":"true","hired_date":"1597573616828","mobile":""}"#,
        )
        .unwrap();
        let u = DingUser::from(u);
        assert_eq!(
            u.dept_ids,
            vec![DeptId::new(2).unwrap(), DeptId::new(3).unwrap()]
        );
        assert_eq!(u.active, Some(true));
        assert_eq!(u.hired_date_ms, Some(1_597_573_616_828));
        assert_eq!(u.mobile, None);
    }

    #[test]
    fn user_writes_send_dept_lists_as_comma_strings() {
        let mut u = NewUser::new(
            "n",
            "13800000000",
            vec![DeptId::new(2).unwrap(), DeptId::ROOT],
        );
        u.email = Some("a@b.c".into());
        let v = serde_json::to_value(UserWriteRequest::from(&u)).unwrap();
        assert_eq!(v["dept_id_list"], "2,1");
        assert!(v.get("title").is_none());
        assert!(v.get("extension").is_none());
    }

    #[test]
    fn extension_is_an_object_on_create_and_an_appended_string_on_update() {
        let mut u = NewUser::new("n", "13800000000", vec![DeptId::ROOT]);
        u.extension.insert("cost_center".into(), "R&D".into());
        let v = serde_json::to_value(UserWriteRequest::from(&u)).unwrap();
        assert_eq!(v["extension"], serde_json::json!({"cost_center": "R&D"}));
        assert!(v.get("ext_attrs_update_mode").is_none());

        let mut p = UserPatch::new(DingUserId::parse("u1").unwrap());
        p.extension = u.extension.clone().into();
        let v = serde_json::to_value(UserWriteRequest::from(&p)).unwrap();
        assert_eq!(v["extension"], r#"{"cost_center":"R&D"}"#);
        assert_eq!(v["ext_attrs_update_mode"], 1);
    }

    #[test]
    fn extension_reads_from_its_string_rendering() {
        let u: WireUserWithExtension = serde_json::from_str(
            r#"{"userid":"u1","name":"n","extension":"{\"爱好\":\"旅游\",\"年龄\":24}"}"#,
        )
        .unwrap();
        assert_eq!(u.user.userid.as_str(), "u1");
        assert_eq!(u.extension["爱好"], "旅游");
        assert_eq!(u.extension["年龄"], "24");
        let none: WireUserWithExtension =
            serde_json::from_str(r#"{"userid":"u1","extension":"not json"}"#).unwrap();
        assert!(none.extension.is_empty());
    }
}
