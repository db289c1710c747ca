//! Serde shapes of DingTalk's requests and responses (protocol reference §3–§5), kept private to the
//! client: snake_case legacy bodies, camelCase v1.0 bodies, and values that arrive as strings or numbers.

use super::types::{
    DeptId, DingDepartment, DingUser, DingUserId, DingUserRef, NewDepartment, NewUser, UserPatch,
};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// A JSON value that DingTalk sends either as a string or as a number (`sub_code`, ids, flags).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Loose {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Loose {
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Str(s) => s.trim().parse().ok(),
            Self::Int(i) => Some(*i),
            Self::Float(_) | Self::Bool(_) => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::Int(i) => Some(*i != 0),
            Self::Str(s) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Self::Float(_) => None,
        }
    }

    pub(crate) fn into_text(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

/// The legacy envelope: `errcode`/`errmsg`, and for errcode 88 `sub_code`/`sub_msg` (§5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct LegacyStatus {
    #[serde(default)]
    pub errcode: Option<Loose>,
    #[serde(default)]
    pub errmsg: Option<String>,
    #[serde(default, alias = "subCode")]
    pub sub_code: Option<Loose>,
    #[serde(default, alias = "subMsg")]
    pub sub_msg: Option<String>,
}

impl LegacyStatus {
    /// The effective code and message: 88 is unwrapped to its numeric sub_code when present.
    pub(crate) fn effective(&self) -> (i64, String) {
        let code = self.errcode.as_ref().and_then(Loose::as_i64).unwrap_or(0);
        let msg = self.errmsg.clone().unwrap_or_default();
        if code == 88 {
            if let Some(sub) = self.sub_code.as_ref().and_then(Loose::as_i64) {
                let sub_msg = self.sub_msg.clone().unwrap_or_default();
                return (sub, format!("{sub_msg} (errcode 88: {msg})"));
            }
        }
        (code, msg)
    }
}

/// The new-API error body (§5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct ApiFailure {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, alias = "requestId")]
    pub requestid: Option<String>,
}

/// `{ "result": T }`.
#[derive(Debug, Deserialize)]
pub(crate) struct Wrapped<T> {
    pub result: T,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LegacyToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<Loose>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1TokenRequest<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1Token {
    pub access_token: String,
    #[serde(default)]
    pub expire_in: Option<Loose>,
}

fn loose_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?.and_then(|v| v.as_i64()))
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?.and_then(|v| v.as_bool()))
}

fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?
        .map(Loose::into_text)
        .filter(|s| !s.is_empty()))
}

fn dept_id<'de, D: Deserializer<'de>>(d: D) -> Result<DeptId, D::Error> {
    let v = Loose::deserialize(d)?;
    v.as_i64()
        .and_then(|i| u64::try_from(i).ok())
        .and_then(|i| DeptId::new(i).ok())
        .ok_or_else(|| de::Error::custom("invalid department id"))
}

fn opt_dept_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeptId>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?
        .and_then(|v| v.as_i64())
        .and_then(|i| u64::try_from(i).ok())
        .and_then(|i| DeptId::new(i).ok()))
}

/// Dept id lists: a JSON array of numbers or strings, or a comma-separated string.
fn dept_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeptId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<Loose>),
        Joined(String),
    }
    let parse = |v: &Loose| {
        v.as_i64()
            .and_then(|i| u64::try_from(i).ok())
            .and_then(|i| DeptId::new(i).ok())
            .ok_or_else(|| de::Error::custom("invalid department id in list"))
    };
    match Option::<List>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(List::Many(items)) => items.iter().map(parse).collect(),
        Some(List::Joined(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| DeptId::parse(p).map_err(de::Error::custom))
            .collect(),
    }
}

fn user_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DingUserId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        Joined(String),
    }
    let items = match Option::<List>::deserialize(d)? {
        None => Vec::new(),
        Some(List::Many(items)) => items,
        Some(List::Joined(s)) => s.split(',').map(str::to_owned).collect(),
    };
    items
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| DingUserId::parse(s).map_err(de::Error::custom))
        .collect()
}

fn opt_user_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DingUserId>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| DingUserId::parse(s).ok()))
}

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
pub(crate) struct DeptIdRequest {
    pub dept_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct UserIdRequest<'a> {
    pub userid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'static str>,
}

fn join_ids<I: IntoIterator<Item = String>>(ids: I) -> String {
    ids.into_iter().collect::<Vec<_>>().join(",")
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

impl From<&super::types::DepartmentPatch> for UpdateDeptRequest {
    fn from(p: &super::types::DepartmentPatch) -> Self {
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
}

fn joined_depts(ids: &[DeptId]) -> String {
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
        }
    }
}

impl From<&UserPatch> for UserWriteRequest {
    fn from(u: &UserPatch) -> Self {
        Self {
            userid: Some(u.userid.as_str().to_owned()),
            name: u.name.clone(),
            mobile: u.mobile.clone(),
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

#[derive(Serialize)]
pub(crate) struct CodeRequest<'a> {
    pub code: &'a str,
}

/// `register_call_back` / `update_call_back` body (§2.3).
#[derive(Serialize)]
pub(crate) struct CallbackRequest<'a> {
    pub call_back_tag: &'a [String],
    pub token: &'a str,
    pub aes_key: &'a str,
    pub url: &'a str,
}

/// `get_call_back`: fields at the top level, next to `errcode`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCallback {
    #[serde(default)]
    pub call_back_tag: Vec<String>,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub aes_key: String,
    #[serde(default)]
    pub url: String,
}

/// `get_call_back_failed_result`: `has_more` and `failed_list` at the top level (§1.6).
#[derive(Debug, Deserialize)]
pub(crate) struct WireFailedList {
    #[serde(default, deserialize_with = "loose_bool")]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub failed_list: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserTokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub code: &'a str,
    pub grant_type: &'static str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUserToken {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: String,
    #[serde(default)]
    pub expire_in: Option<Loose>,
    #[serde(default)]
    pub corp_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProfile {
    #[serde(default)]
    pub nick: String,
    pub union_id: String,
    #[serde(default)]
    pub open_id: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub state_code: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct SnsCodeRequest<'a> {
    pub tmp_auth_code: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireSnsUser {
    #[serde(default)]
    pub nick: String,
    pub unionid: String,
    #[serde(default)]
    pub openid: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireSnsResult {
    pub user_info: WireSnsUser,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireMicroAppUser {
    pub userid: DingUserId,
    #[serde(default, deserialize_with = "loose_text")]
    pub unionid: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub sys: Option<bool>,
    #[serde(default, deserialize_with = "loose_i64")]
    pub sys_level: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn errcode_88_is_unwrapped_to_its_sub_code_string_or_number() {
        for body in [
            r#"{"errcode":88,"errmsg":"鉴权异常","sub_code":"40014","sub_msg":"不合法的access_token"}"#,
            r#"{"errcode":88,"errmsg":"鉴权异常","sub_code":40014,"sub_msg":"不合法的access_token"}"#,
        ] {
            let status: LegacyStatus = serde_json::from_str(body).unwrap();
            assert_eq!(status.effective().0, 40014);
        }
        let plain: LegacyStatus = serde_json::from_str(r#"{"errcode":"0"}"#).unwrap();
        assert_eq!(plain.effective().0, 0);
    }

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
    fn root_department_has_no_parent() {
        let d: WireDept =
            serde_json::from_str(r#"{"dept_id":1,"name":"corp","parent_id":0}"#).unwrap();
        assert_eq!(DingDepartment::from(d).parent, None);
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
    }
}
