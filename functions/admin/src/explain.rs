//! DingTalk failures in words an admin can act on: which permission to grant, which IP to
//! whitelist, which setting to change (protocol reference §3.1, §5.3, §2.3). Shared by the callback
//! registration status and the test connection report.

use dingbridge::dingtalk::{DingTalkError, ErrorKind};
use serde_json::{Value, json};

/// The fields whose pasted value had spaces around it, as the `warnings` of a save's answer.
pub fn trimmed(fields: &[&'static str]) -> Value {
    json!(
        fields
            .iter()
            .map(|f| json!({
                "field": f,
                "detail": "had spaces or line breaks around it; they were removed (a pasted space makes DingTalk's login page wait forever)",
            }))
            .collect::<Vec<_>>()
    )
}

/// The API permission a legacy contact API needs (protocol reference §3.1), by path.
pub fn permission_for(api: &str) -> Option<&'static str> {
    const MANAGE: &str = "qyapi_manage_addresslist";
    let write = ["/create", "/update", "/delete"]
        .iter()
        .any(|w| api.ends_with(w));
    if api.starts_with("/topapi/v2/department/") {
        Some(if write {
            MANAGE
        } else {
            "qyapi_get_department_list"
        })
    } else if api.ends_with("/user/getbymobile") {
        Some("qyapi_get_member_by_mobile")
    } else if ["/user/list", "/user/listsimple", "/user/listid"]
        .iter()
        .any(|p| api.ends_with(p))
    {
        Some("qyapi_get_department_member")
    } else if api.starts_with("/topapi/") && api.contains("/user/") {
        Some(if write { MANAGE } else { "qyapi_get_member" })
    } else {
        None
    }
}

/// DingTalk's own code, for support tickets and DingTalk's error-code page.
fn code(e: &DingTalkError) -> String {
    match e.errcode() {
        Some(code) => code.to_string(),
        None => e.code().to_string(),
    }
}

/// One sentence: what DingTalk refused and what to do about it. Never carries a secret: the
/// client's errors hold the API path, DingTalk's code and message, no URL with a token.
pub fn describe(e: &DingTalkError) -> String {
    let api = e.api();
    match e.kind() {
        ErrorKind::InvalidCredentials => format!(
            "DingTalk refused the AppKey/AppSecret ({}): check app_key and app_secret in the \
             developer console (凭证与基础信息), without spaces",
            code(e)
        ),
        ErrorKind::IpNotWhitelisted { ip } => match ip {
            Some(ip) => format!(
                "DingTalk refused calls from IP {ip} (60020): add {ip} to the app's server \
                 egress IP whitelist (服务器出口IP) in the developer console"
            ),
            None => format!(
                "DingTalk refused this server's IP ({}): add the server's egress IP to the \
                 app's whitelist (服务器出口IP) in the developer console",
                code(e)
            ),
        },
        ErrorKind::PermissionDenied => match permission_for(api) {
            Some(perm) => format!(
                "the app lacks the API permission for {api} ({}): grant {perm} in the \
                 developer console (权限管理)",
                code(e)
            ),
            None => format!(
                "the app lacks the API permission for {api} ({}): grant it in the developer \
                 console (权限管理); DingTalk said: {}",
                code(e),
                e.message()
            ),
        },
        ErrorKind::OutOfScope => format!(
            "{api} was refused as outside the app's contact scope ({}): set the app's contact \
             scope (通讯录权限范围) to all employees",
            code(e)
        ),
        ErrorKind::Throttled => format!(
            "DingTalk throttled {api} ({}); try again in a few seconds",
            code(e)
        ),
        ErrorKind::Unavailable => format!(
            "DingTalk could not be reached or answered badly on {api} ({}): check the \
             oapi_base URL and this server's outbound network",
            code(e)
        ),
        ErrorKind::QuotaExhausted => format!(
            "the organisation's monthly DingTalk API quota is used up ({})",
            code(e)
        ),
        ErrorKind::InvalidToken => format!(
            "DingTalk refused the access token even after a refresh on {api} ({})",
            code(e)
        ),
        _ => match e.errcode().and_then(callback_problem) {
            Some(text) => text.to_owned(),
            None => format!("DingTalk refused {api} ({}): {}", code(e), e.message()),
        },
    }
}

/// The callback-registration codes of protocol reference §2.3 (and the key check of §1.4).
fn callback_problem(code: i64) -> Option<&'static str> {
    Some(match code {
        71006 => "DingTalk already has a callback URL registered for this app (71006)",
        71007 => "DingTalk has no callback registered for this app (71007)",
        71008 => "DingTalk refused one of the event tags (71008)",
        71009 => {
            "the callback URL did not answer DingTalk's check_url with the encrypted success \
             (71009): check the callback token, aes_key and receive-id mode"
        }
        71010 => "DingTalk found fields missing in the registration (71010)",
        71011 => "DingTalk considers the callback URL invalid (71011): check the public URL",
        71012 => {
            "DingTalk could not reach the callback URL (71012): check that the public URL \
             (DINGBRIDGE_PUBLIC_URL) is reachable from the internet"
        }
        71013 => "DingTalk does not allow the callback URL's domain or IP (71013)",
        900004 => "DingTalk refused the callback aes_key (900004): it must be 43 letters or digits",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingbridge::dingtalk::ErrorCode;

    fn err(api: &str, kind: ErrorKind, code: i64) -> DingTalkError {
        DingTalkError::new(api, kind, ErrorCode::Errcode(code), "m")
    }

    #[test]
    fn each_contact_api_names_its_permission() {
        assert_eq!(
            permission_for("/topapi/v2/department/listsub"),
            Some("qyapi_get_department_list")
        );
        assert_eq!(
            permission_for("/topapi/v2/user/list"),
            Some("qyapi_get_department_member")
        );
        assert_eq!(
            permission_for("/topapi/v2/user/get"),
            Some("qyapi_get_member")
        );
        assert_eq!(
            permission_for("/topapi/v2/user/create"),
            Some("qyapi_manage_addresslist")
        );
        assert_eq!(permission_for("/call_back/get_call_back"), None);
    }

    #[test]
    fn descriptions_name_the_fix() {
        let text = describe(&err(
            "/topapi/v2/user/list",
            ErrorKind::PermissionDenied,
            60011,
        ));
        assert!(text.contains("qyapi_get_department_member") && text.contains("60011"));
        let text = describe(&err(
            "/topapi/v2/department/listsub",
            ErrorKind::IpNotWhitelisted {
                ip: Some("203.0.113.9".into()),
            },
            60020,
        ));
        assert!(text.contains("add 203.0.113.9"), "{text}");
        let text = describe(&err(
            "/call_back/register_call_back",
            ErrorKind::Rejected,
            71012,
        ));
        assert!(text.starts_with("DingTalk could not reach the callback URL (71012)"));
    }
}
