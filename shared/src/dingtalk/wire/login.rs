//! Login (§4): free-login codes, user access tokens and the profile, the legacy SNS flow.

use super::{Loose, loose_bool, loose_i64, loose_text};
use crate::dingtalk::types::DingUserId;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub(crate) struct CodeRequest<'a> {
    pub code: &'a str,
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
