//! DingTalk values as the rest of dingbridge sees them: ids parsed by fallible constructors, records
//! without wire quirks (string-or-number ids, `errcode` envelopes), and secrets that never print.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why a DingTalk id or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error(
        "a DingTalk userid must be 1 to 64 characters without control characters or edge spaces"
    )]
    UserId,
    #[error("a DingTalk department id must be a positive integer")]
    DeptId,
}

/// A DingTalk `userid`: unique within the org and immutable, 1–64 chars (protocol reference §6;
/// the character set is undocumented, so only control characters and edge spaces are refused).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DingUserId(String);

impl DingUserId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 || chars > 64 || value.chars().any(char::is_control) || value.trim() != value
        {
            return Err(InvalidValue::UserId);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DingUserId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<DingUserId> for String {
    fn from(id: DingUserId) -> Self {
        id.0
    }
}

impl fmt::Display for DingUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DingUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DingUserId({:?})", self.0)
    }
}

/// A DingTalk department id: a server-assigned positive integer; the root is 1 (§3.3, §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct DeptId(u64);

impl DeptId {
    pub const ROOT: Self = Self(1);

    pub fn new(value: u64) -> Result<Self, InvalidValue> {
        if value == 0 {
            Err(InvalidValue::DeptId)
        } else {
            Ok(Self(value))
        }
    }

    /// Parses the decimal text that callbacks and older payloads carry.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| InvalidValue::DeptId)
            .and_then(Self::new)
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_root(self) -> bool {
        self == Self::ROOT
    }
}

impl TryFrom<u64> for DeptId {
    type Error = InvalidValue;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<DeptId> for u64 {
    fn from(id: DeptId) -> Self {
        id.0
    }
}

impl fmt::Display for DeptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for DeptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeptId({})", self.0)
    }
}

/// A secret string (app secret, access token, callback token or key). `Debug` and `Display` redact
/// it; only [`SecretString::expose`] reveals it, at the one place it goes on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The hosts of the three API families. Production defaults; tests point all three at the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Legacy family: `https://oapi.dingtalk.com` (token in the query, `errcode` envelope).
    pub oapi: String,
    /// New family: `https://api.dingtalk.com` (token in `x-acs-dingtalk-access-token`).
    pub api: String,
    /// Browser login: `https://login.dingtalk.com`.
    pub login: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            oapi: "https://oapi.dingtalk.com".into(),
            api: "https://api.dingtalk.com".into(),
            login: "https://login.dingtalk.com".into(),
        }
    }
}

impl Endpoints {
    /// One host serving all three families, as the simulator does.
    pub fn single(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            oapi: base.clone(),
            api: base.clone(),
            login: base,
        }
    }
}

/// One DingTalk internal app (a connector's credentials): everything a call needs to know who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DingApp {
    pub corp_id: String,
    /// AppKey (ClientID): with the hosts, the key of the rate limiter; with the corp, the hosts and
    /// the secret, the key of the token cache.
    pub app_key: String,
    pub app_secret: SecretString,
    pub agent_id: Option<String>,
    pub endpoints: Endpoints,
}

/// An app access token (7200 s lifetime, §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppToken {
    pub token: SecretString,
    pub expires_in_secs: u64,
}

/// Which endpoint issues app tokens (§3.2). Legacy is the default: every contact call is `topapi`,
/// and using a v1.0 token there is UNCONFIRMED.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    #[default]
    Legacy,
    V1,
}

/// A department as read (`listsub` fills only id, name and parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DingDepartment {
    pub id: DeptId,
    pub name: String,
    /// `None` for the root.
    pub parent: Option<DeptId>,
    pub order: Option<i64>,
    /// Our external key, written on create (§3.3).
    pub source_identifier: Option<String>,
    pub manager_userids: Vec<DingUserId>,
    /// Members including sub-departments (`department/get` only).
    pub member_count: Option<u64>,
}

/// A user as read. Mobile and email are `None` when empty *or* when the app lacks the
/// contact-info permissions (§3.1): DingTalk omits them silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DingUser {
    pub userid: DingUserId,
    pub unionid: Option<String>,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub org_email: Option<String>,
    pub job_number: Option<String>,
    pub title: Option<String>,
    pub telephone: Option<String>,
    pub work_place: Option<String>,
    pub remark: Option<String>,
    pub dept_ids: Vec<DeptId>,
    pub manager_userid: Option<DingUserId>,
    /// Has activated DingTalk.
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub boss: Option<bool>,
    pub hired_date_ms: Option<i64>,
    pub avatar: Option<String>,
    pub state_code: Option<String>,
}

/// `listsimple` rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DingUserRef {
    pub userid: DingUserId,
    pub name: String,
}

/// One page of a cursor listing; `next_cursor` is `None` on the last page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<u64>,
}

/// `topapi/v2/department/create` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDepartment {
    pub name: String,
    pub parent: DeptId,
    pub order: Option<i64>,
    pub source_identifier: Option<String>,
}

/// `topapi/v2/department/update` input; `None` leaves a field unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepartmentPatch {
    pub id: DeptId,
    pub name: Option<String>,
    /// Moves the department.
    pub parent: Option<DeptId>,
    pub order: Option<i64>,
    pub source_identifier: Option<String>,
    pub manager_userids: Option<Vec<DingUserId>>,
}

impl DepartmentPatch {
    pub fn new(id: DeptId) -> Self {
        Self {
            id,
            name: None,
            parent: None,
            order: None,
            source_identifier: None,
            manager_userids: None,
        }
    }
}

/// `topapi/v2/user/create` input. DingTalk requires a mobile (§3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// Chosen by us, or generated by DingTalk when `None`.
    pub userid: Option<DingUserId>,
    pub name: String,
    pub mobile: String,
    pub dept_ids: Vec<DeptId>,
    pub email: Option<String>,
    pub org_email: Option<String>,
    pub job_number: Option<String>,
    pub title: Option<String>,
    pub telephone: Option<String>,
    pub work_place: Option<String>,
    pub remark: Option<String>,
    pub manager_userid: Option<DingUserId>,
    pub hired_date_ms: Option<i64>,
    /// Custom attributes (`extension`); each key must already exist in DingTalk's admin
    /// console. Empty: none sent.
    pub extension: BTreeMap<String, String>,
}

impl NewUser {
    pub fn new(name: impl Into<String>, mobile: impl Into<String>, dept_ids: Vec<DeptId>) -> Self {
        Self {
            userid: None,
            name: name.into(),
            mobile: mobile.into(),
            dept_ids,
            email: None,
            org_email: None,
            job_number: None,
            title: None,
            telephone: None,
            work_place: None,
            remark: None,
            manager_userid: None,
            hired_date_ms: None,
            extension: BTreeMap::new(),
        }
    }
}

/// `topapi/v2/user/update` input; `None` leaves a field unchanged. There is no mobile: DingTalk
/// refuses to change one (41054); only deleting and re-creating the user changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPatch {
    pub userid: DingUserId,
    pub name: Option<String>,
    pub dept_ids: Option<Vec<DeptId>>,
    pub email: Option<String>,
    pub org_email: Option<String>,
    pub job_number: Option<String>,
    pub title: Option<String>,
    pub telephone: Option<String>,
    pub work_place: Option<String>,
    pub remark: Option<String>,
    pub manager_userid: Option<DingUserId>,
    pub hired_date_ms: Option<i64>,
    /// Custom attributes to set, merged into the user's own (append mode: keys not sent are
    /// kept, where a plain update would clear them).
    pub extension: Option<BTreeMap<String, String>>,
}

impl UserPatch {
    pub fn new(userid: DingUserId) -> Self {
        Self {
            userid,
            name: None,
            dept_ids: None,
            email: None,
            org_email: None,
            job_number: None,
            title: None,
            telephone: None,
            work_place: None,
            remark: None,
            manager_userid: None,
            hired_date_ms: None,
            extension: None,
        }
    }
}

/// What `user/create` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedUser {
    pub userid: DingUserId,
    pub unionid: Option<String>,
}

/// Whether a unionid belongs to a staff member or an external contact (`getbyunionid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionIdMatch {
    pub userid: DingUserId,
    /// 0 staff, 1 external contact.
    pub contact_type: Option<i64>,
}

/// A legacy callback registration (§2.3). The token and key are secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRegistration {
    pub tags: Vec<String>,
    pub token: SecretString,
    pub aes_key: SecretString,
    pub url: String,
}

/// One event from `get_call_back_failed_result` (§1.6).
#[derive(Clone, Debug, PartialEq)]
pub struct FailedEvent {
    pub tag: String,
    pub event_time_ms: Option<i64>,
    /// The per-tag payload object (the key named after the tag, or `callbackData`).
    pub payload: serde_json::Value,
}

/// One read of the failed-event list: reading clears what was returned (§1.6).
#[derive(Clone, Debug, PartialEq)]
pub struct FailedEventBatch {
    pub events: Vec<FailedEvent>,
    pub has_more: bool,
}

/// `POST /v1.0/oauth2/userAccessToken` result (§4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserToken {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_in_secs: u64,
    pub corp_id: Option<String>,
}

/// `GET /v1.0/contact/users/me` (§4.1). Mobile and email only with the matching permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DingProfile {
    pub nick: String,
    pub union_id: String,
    pub open_id: Option<String>,
    pub avatar_url: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub state_code: Option<String>,
}

/// `sns/getuserinfo_bycode` (legacy QR login, §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsUser {
    pub nick: String,
    pub unionid: String,
    pub openid: Option<String>,
}

/// `topapi/v2/user/getuserinfo` (micro-app free login, §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicroAppUser {
    pub userid: DingUserId,
    pub unionid: Option<String>,
    pub name: Option<String>,
    /// Is an admin.
    pub sys: bool,
    /// 1 main admin, 2 sub-admin, 100 boss, 0 other.
    pub sys_level: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_refuse_empty_long_and_padded_values() {
        assert!(DingUserId::parse("manager4220").is_ok());
        assert!(DingUserId::parse("张三01").is_ok());
        assert_eq!(DingUserId::parse(""), Err(InvalidValue::UserId));
        assert_eq!(DingUserId::parse(" a"), Err(InvalidValue::UserId));
        assert_eq!(DingUserId::parse("a\n"), Err(InvalidValue::UserId));
        assert_eq!(DingUserId::parse("x".repeat(65)), Err(InvalidValue::UserId));
        assert!(DingUserId::parse("钉".repeat(64)).is_ok());
    }

    #[test]
    fn dept_ids_are_positive() {
        assert_eq!(DeptId::new(0), Err(InvalidValue::DeptId));
        assert_eq!(DeptId::parse("432825033").unwrap().get(), 432_825_033);
        assert!(DeptId::parse("-1").is_err());
        assert!(DeptId::ROOT.is_root());
    }

    #[test]
    fn secrets_never_print() {
        let app = DingApp {
            corp_id: "dingcorp".into(),
            app_key: "key".into(),
            app_secret: SecretString::new("hunter2"),
            agent_id: None,
            endpoints: Endpoints::default(),
        };
        assert!(!format!("{app:?}").contains("hunter2"));
        assert_eq!(SecretString::new("x").to_string(), "<redacted>");
    }
}
