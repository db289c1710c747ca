//! The endpoint calls of `HttpDingTalk`: one method per DingTalk API that jobs J1–J5 use, each
//! naming its path, body and whether it may be repeated, and mapping wire shapes to domain types.

use std::collections::BTreeMap;

use super::client::{Auth, Call, HttpDingTalk};
use super::error::DingTalkError;
use super::types::{
    AppToken, CallbackRegistration, CreatedUser, DepartmentPatch, DeptId, DingApp, DingDepartment,
    DingProfile, DingUser, DingUserId, DingUserRef, FailedEvent, FailedEventBatch, MicroAppUser,
    NewDepartment, NewUser, Page, SecretString, SnsUser, TokenSource, UnionIdMatch, UserPatch,
    UserToken,
};
use super::wire;
use crate::ports::{DingTalk, MAX_PAGE_SIZE};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;

/// The legacy SNS signature (§4.2): `Base64(HmacSHA256(key = appSecret, data = timestamp))`.
/// URL-encode it exactly once — adding it as a query pair does that.
pub fn sns_signature(app_secret: &str, timestamp_ms: &str) -> String {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps the code panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn ok_unit(_: serde_json::Value) {}

fn to_u64(value: Option<wire::Loose>, default: u64) -> u64 {
    value
        .and_then(|v| v.as_i64())
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(default)
}

fn page<W, T: From<W>>(
    api: &str,
    wire: wire::WireUserPage<W>,
    cursor: u64,
) -> Result<Page<T>, DingTalkError> {
    let next_cursor = if wire.has_more.unwrap_or(false) {
        let next = wire
            .next_cursor
            .and_then(|c| u64::try_from(c).ok())
            .ok_or_else(|| DingTalkError::malformed(api, "has_more without next_cursor"))?;
        if next <= cursor {
            return Err(DingTalkError::malformed(api, "next_cursor did not advance"));
        }
        Some(next)
    } else {
        None
    };
    Ok(Page {
        items: wire.list.into_iter().map(T::from).collect(),
        next_cursor,
    })
}

/// Payload keys of failed events other than the tag's own (§1.6).
const FAILED_PAYLOAD_KEYS: [&str; 3] = ["callbackData", "bpmsCallBackData", "roleLabelChange"];

fn failed_event(mut raw: serde_json::Map<String, serde_json::Value>) -> FailedEvent {
    let tag = raw
        .remove("call_back_tag")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let event_time_ms = raw.remove("event_time").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let payload = raw
        .remove(&tag)
        .or_else(|| FAILED_PAYLOAD_KEYS.iter().find_map(|k| raw.remove(*k)))
        .unwrap_or(serde_json::Value::Object(raw));
    FailedEvent {
        tag,
        event_time_ms,
        payload,
    }
}

#[async_trait]
impl DingTalk for HttpDingTalk {
    async fn fetch_app_token(
        &self,
        app: &DingApp,
        source: TokenSource,
    ) -> Result<AppToken, DingTalkError> {
        match source {
            TokenSource::Legacy => {
                let call = Call::oapi(Method::GET, "/gettoken")
                    .auth(Auth::None)
                    .query("appkey", app.app_key.clone())
                    .query("appsecret", app.app_secret.expose());
                let t: wire::LegacyToken = self.call(app, call).await?;
                Ok(AppToken {
                    token: SecretString::new(t.access_token),
                    expires_in_secs: to_u64(t.expires_in, 7200),
                })
            }
            TokenSource::V1 => {
                let call = Call::api(Method::POST, "/v1.0/oauth2/accessToken")
                    .auth(Auth::None)
                    .json(&wire::V1TokenRequest {
                        app_key: &app.app_key,
                        app_secret: app.app_secret.expose(),
                    })?;
                let t: wire::V1Token = self.call(app, call).await?;
                Ok(AppToken {
                    token: SecretString::new(t.access_token),
                    expires_in_secs: to_u64(t.expire_in, 7200),
                })
            }
        }
    }

    async fn list_sub_departments(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DingDepartment>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listsub").json(
            &wire::DeptIdRequest {
                dept_id: parent.get(),
                language: Some("zh_CN"),
            },
        )?;
        let r: wire::Wrapped<Vec<wire::WireDept>> = self.call(app, call).await?;
        Ok(r.result.into_iter().map(DingDepartment::from).collect())
    }

    async fn list_sub_department_ids(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listsubid").json(
            &wire::DeptIdRequest {
                dept_id: parent.get(),
                language: None,
            },
        )?;
        let r: wire::Wrapped<wire::WireDeptIds> = self.call(app, call).await?;
        Ok(r.result.dept_id_list)
    }

    async fn get_department(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<DingDepartment, DingTalkError> {
        let call =
            Call::oapi(Method::POST, "/topapi/v2/department/get").json(&wire::DeptIdRequest {
                dept_id: id.get(),
                language: Some("zh_CN"),
            })?;
        let r: wire::Wrapped<wire::WireDept> = self.call(app, call).await?;
        Ok(r.result.into())
    }

    async fn create_department(
        &self,
        app: &DingApp,
        dept: &NewDepartment,
    ) -> Result<DeptId, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/create")
            .json(&wire::CreateDeptRequest::from(dept))?
            .once();
        let r: wire::Wrapped<wire::WireCreatedDept> = self.call(app, call).await?;
        Ok(r.result.dept_id)
    }

    async fn update_department(
        &self,
        app: &DingApp,
        patch: &DepartmentPatch,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/update")
            .json(&wire::UpdateDeptRequest::from(patch))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn delete_department(&self, app: &DingApp, id: DeptId) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/delete").json(
            &wire::DeptIdRequest {
                dept_id: id.get(),
                language: None,
            },
        )?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn list_parent_departments(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listparentbydept").json(
            &wire::DeptIdRequest {
                dept_id: id.get(),
                language: None,
            },
        )?;
        let r: wire::Wrapped<wire::WireParentIds> = self.call(app, call).await?;
        Ok(r.result.parent_id_list)
    }

    async fn list_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUser>, DingTalkError> {
        const API: &str = "/topapi/v2/user/list";
        let call = Call::oapi(Method::POST, API).json(&wire::UserPageRequest {
            dept_id: dept.get(),
            cursor,
            size: size.clamp(1, MAX_PAGE_SIZE),
            language: "zh_CN",
        })?;
        let r: wire::Wrapped<wire::WireUserPage<wire::WireUser>> = self.call(app, call).await?;
        page(API, r.result, cursor)
    }

    async fn list_simple_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUserRef>, DingTalkError> {
        const API: &str = "/topapi/user/listsimple";
        let call = Call::oapi(Method::POST, API).json(&wire::UserPageRequest {
            dept_id: dept.get(),
            cursor,
            size: size.clamp(1, MAX_PAGE_SIZE),
            language: "zh_CN",
        })?;
        let r: wire::Wrapped<wire::WireUserPage<wire::WireUserRef>> = self.call(app, call).await?;
        page(API, r.result, cursor)
    }

    async fn list_user_ids(
        &self,
        app: &DingApp,
        dept: DeptId,
    ) -> Result<Vec<DingUserId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/user/listid").json(&wire::DeptIdRequest {
            dept_id: dept.get(),
            language: None,
        })?;
        let r: wire::Wrapped<wire::WireUserIds> = self.call(app, call).await?;
        Ok(r.result.userid_list)
    }

    async fn get_user(&self, app: &DingApp, id: &DingUserId) -> Result<DingUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/get").json(&wire::UserIdRequest {
            userid: id.as_str(),
            language: Some("zh_CN"),
        })?;
        let r: wire::Wrapped<wire::WireUser> = self.call(app, call).await?;
        Ok(r.result.into())
    }

    async fn get_user_with_extension(
        &self,
        app: &DingApp,
        id: &DingUserId,
    ) -> Result<(DingUser, BTreeMap<String, String>), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/get").json(&wire::UserIdRequest {
            userid: id.as_str(),
            language: Some("zh_CN"),
        })?;
        let r: wire::Wrapped<wire::WireUserWithExtension> = self.call(app, call).await?;
        Ok((r.result.user.into(), r.result.extension))
    }

    async fn create_user(
        &self,
        app: &DingApp,
        user: &NewUser,
    ) -> Result<CreatedUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/create")
            .json(&wire::UserWriteRequest::from(user))?
            .once();
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(CreatedUser {
            userid: r.result.userid,
            unionid: r.result.unionid,
        })
    }

    async fn update_user(&self, app: &DingApp, patch: &UserPatch) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/update")
            .json(&wire::UserWriteRequest::from(patch))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn delete_user(&self, app: &DingApp, id: &DingUserId) -> Result<(), DingTalkError> {
        let call =
            Call::oapi(Method::POST, "/topapi/v2/user/delete").json(&wire::UserIdRequest {
                userid: id.as_str(),
                language: None,
            })?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn user_id_by_mobile(
        &self,
        app: &DingApp,
        mobile: &str,
    ) -> Result<DingUserId, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/getbymobile")
            .json(&wire::MobileRequest { mobile })?;
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(r.result.userid)
    }

    async fn user_by_unionid(
        &self,
        app: &DingApp,
        unionid: &str,
    ) -> Result<UnionIdMatch, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/user/getbyunionid")
            .json(&wire::UnionIdRequest { unionid })?;
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(UnionIdMatch {
            userid: r.result.userid,
            contact_type: r.result.contact_type,
        })
    }

    async fn count_users(&self, app: &DingApp, only_active: bool) -> Result<u64, DingTalkError> {
        const API: &str = "/topapi/user/count";
        let call = Call::oapi(Method::POST, API).json(&wire::CountRequest { only_active })?;
        let r: wire::Wrapped<wire::WireCount> = self.call(app, call).await?;
        r.result
            .count
            .and_then(|c| u64::try_from(c).ok())
            .ok_or_else(|| DingTalkError::malformed(API, "missing count"))
    }

    async fn register_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/call_back/register_call_back")
            .json(&callback_body(registration))?
            .once();
        self.call(app, call).await.map(ok_unit)
    }

    async fn update_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/call_back/update_call_back")
            .json(&callback_body(registration))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn get_callback(&self, app: &DingApp) -> Result<CallbackRegistration, DingTalkError> {
        let call = Call::oapi(Method::GET, "/call_back/get_call_back");
        let r: wire::WireCallback = self.call(app, call).await?;
        Ok(CallbackRegistration {
            tags: r.call_back_tag,
            token: SecretString::new(r.token),
            aes_key: SecretString::new(r.aes_key),
            url: r.url,
        })
    }

    async fn delete_callback(&self, app: &DingApp) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::GET, "/call_back/delete_call_back");
        self.call(app, call).await.map(ok_unit)
    }

    async fn failed_events_page(&self, app: &DingApp) -> Result<FailedEventBatch, DingTalkError> {
        // Each read clears what it returned: a lost response loses events, so never repeat blindly.
        let call = Call::oapi(Method::GET, "/call_back/get_call_back_failed_result").once();
        let r: wire::WireFailedList = self.call(app, call).await?;
        Ok(FailedEventBatch {
            events: r.failed_list.into_iter().map(failed_event).collect(),
            has_more: r.has_more.unwrap_or(false),
        })
    }

    async fn user_access_token(
        &self,
        app: &DingApp,
        auth_code: &str,
    ) -> Result<UserToken, DingTalkError> {
        let call = Call::api(Method::POST, "/v1.0/oauth2/userAccessToken")
            .auth(Auth::None)
            .json(&wire::UserTokenRequest {
                client_id: &app.app_key,
                client_secret: app.app_secret.expose(),
                code: auth_code,
                grant_type: "authorization_code",
            })?
            .once();
        let t: wire::WireUserToken = self.call(app, call).await?;
        Ok(UserToken {
            access_token: SecretString::new(t.access_token),
            refresh_token: SecretString::new(t.refresh_token),
            expires_in_secs: to_u64(t.expire_in, 7200),
            corp_id: t.corp_id,
        })
    }

    async fn current_user(
        &self,
        app: &DingApp,
        user_token: &SecretString,
    ) -> Result<DingProfile, DingTalkError> {
        let call = Call::api(Method::GET, "/v1.0/contact/users/me").auth(Auth::User(user_token));
        let p: wire::WireProfile = self.call(app, call).await?;
        Ok(DingProfile {
            nick: p.nick,
            union_id: p.union_id,
            open_id: p.open_id,
            avatar_url: p.avatar_url,
            mobile: p.mobile,
            email: p.email,
            state_code: p.state_code,
        })
    }

    async fn sns_user_by_code(
        &self,
        app: &DingApp,
        tmp_auth_code: &str,
    ) -> Result<SnsUser, DingTalkError> {
        let timestamp = self.now_millis().to_string();
        let signature = sns_signature(app.app_secret.expose(), &timestamp);
        let call = Call::oapi(Method::POST, "/sns/getuserinfo_bycode")
            .auth(Auth::None)
            .query("accessKey", app.app_key.clone())
            .query("timestamp", timestamp)
            .query("signature", signature)
            .json(&wire::SnsCodeRequest { tmp_auth_code })?
            .once();
        let r: wire::WireSnsResult = self.call(app, call).await?;
        Ok(SnsUser {
            nick: r.user_info.nick,
            unionid: r.user_info.unionid,
            openid: r.user_info.openid,
        })
    }

    async fn micro_app_user(
        &self,
        app: &DingApp,
        code: &str,
    ) -> Result<MicroAppUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/getuserinfo")
            .json(&wire::CodeRequest { code })?
            .once();
        let r: wire::Wrapped<wire::WireMicroAppUser> = self.call(app, call).await?;
        Ok(MicroAppUser {
            userid: r.result.userid,
            unionid: r.result.unionid,
            name: r.result.name,
            sys: r.result.sys.unwrap_or(false),
            sys_level: r.result.sys_level,
        })
    }
}

fn callback_body(r: &CallbackRegistration) -> wire::CallbackRequest<'_> {
    wire::CallbackRequest {
        call_back_tag: &r.tags,
        token: r.token.expose(),
        aes_key: r.aes_key.expose(),
        url: &r.url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;

    #[test]
    fn sns_signature_matches_the_documented_example() {
        let sig = sns_signature("testappSecret", "1546084445901");
        assert_eq!(sig, "HCbG3xNE3vzhO+u7qCUL1jS5hsu2n5r2cFhnTrtyDAE=");
        let mut url = Url::parse("https://oapi.dingtalk.com/sns/getuserinfo_bycode").unwrap();
        url.query_pairs_mut().append_pair("signature", &sig);
        assert_eq!(
            url.query(),
            Some("signature=HCbG3xNE3vzhO%2Bu7qCUL1jS5hsu2n5r2cFhnTrtyDAE%3D")
        );
    }

    #[test]
    fn failed_events_take_their_payload_from_the_tag_key() {
        let raw = serde_json::json!({
            "call_back_tag": "user_add_org",
            "event_time": 1606126433000_i64,
            "user_add_org": {"userid": ["zhangsan"], "corpid": "dingcorp"}
        });
        let e = failed_event(raw.as_object().unwrap().clone());
        assert_eq!(e.tag, "user_add_org");
        assert_eq!(e.event_time_ms, Some(1_606_126_433_000));
        assert_eq!(e.payload["userid"][0], "zhangsan");
        let raw = serde_json::json!({"call_back_tag": "org_dept_create", "callbackData": {"deptid": [5]}});
        let e = failed_event(raw.as_object().unwrap().clone());
        assert_eq!(e.payload["deptid"][0], 5);
    }
}
