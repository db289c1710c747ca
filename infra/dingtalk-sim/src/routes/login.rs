//! Login flows (protocol §4): the `login.dingtalk.com/oauth2/auth` page where a tester picks the
//! member who "scans", the user token and `users/me`, and the legacy SNS flow with its
//! HMAC-SHA256 signature (§4.2).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Sim, respond};
use crate::callbacks::now_ms;
use crate::envelope::{ApiError, DingError, Params, json_response};
use crate::gate::{self, ClientIp, Style};
use crate::login::{CODE_TTL, CodeKind};
use crate::state::{AppRef, SimState, perm, read};

/// Accepted clock skew of the SNS signature timestamp (§4.2 "request expired"; value UNCONFIRMED).
const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/oauth2/auth", get(oauth2_page))
        .route("/connect/qrconnect", get(sns_page))
        .route("/connect/oauth2/sns_authorize", get(sns_page))
        .route("/_sim/login/pick", get(pick))
        .route("/v1.0/oauth2/userAccessToken", post(user_access_token))
        .route("/v1.0/contact/users/me", get(users_me))
        .route("/sns/getuserinfo_bycode", post(sns_userinfo))
}

#[derive(Debug, Deserialize, Default)]
pub struct AuthQuery {
    client_id: Option<String>,
    appid: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    /// Filters the member list by name or userid.
    q: Option<String>,
    userid: Option<String>,
    /// The index of the scanning member's corp (`pick`): any DingTalk user may scan.
    corp: Option<usize>,
    flow: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><body><h1>登录失败</h1><p id=\"error\">{}</p></body></html>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// The app and redirect URI of a login request, or why the page must refuse it.
fn check_client(sim: &SimState, q: &AuthQuery) -> Result<(AppRef, String), String> {
    let key = q
        .client_id
        .as_deref()
        .or(q.appid.as_deref())
        .unwrap_or_default();
    let (app_ref, app) = sim.find_app(key).ok_or("无效的client_id")?;
    let redirect = q
        .redirect_uri
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or("缺少redirect_uri")?;
    let allowed = read(&app.policy)
        .redirect_uris
        .iter()
        .any(|r| redirect.starts_with(r.as_str()));
    if !allowed {
        return Err(format!("redirect_uri未在应用中登记: {redirect}"));
    }
    Ok((app_ref, redirect))
}

async fn oauth2_page(State(sim): State<Sim>, Query(q): Query<AuthQuery>) -> Response {
    page(&sim, &q, "oauth2")
}

async fn sns_page(State(sim): State<Sim>, Query(q): Query<AuthQuery>) -> Response {
    page(&sim, &q, "sns")
}

fn page(sim: &SimState, q: &AuthQuery, flow: &str) -> Response {
    let (app_ref, redirect) = match check_client(sim, q) {
        Ok(ok) => ok,
        Err(message) => return error_page(&message),
    };
    let Some(corp) = sim.corp(app_ref.corp) else {
        return error_page("无效的企业");
    };
    let key = q
        .client_id
        .as_deref()
        .or(q.appid.as_deref())
        .unwrap_or_default();
    let state = q.state.clone().unwrap_or_default();
    let filter = q.q.clone().unwrap_or_default();
    // The app's own members first, then (with several corps) everyone else: DingTalk lets any
    // of its users scan a login app; the app's corp refuses outsiders in `getbyunionid`.
    let mut items = String::new();
    for (index, scanning) in sim.corps.iter().enumerate() {
        let outsider = index != app_ref.corp;
        let org = read(&scanning.org);
        let mut users: Vec<_> = org
            .users
            .values()
            .filter(|u| filter.is_empty() || u.name.contains(&filter) || u.userid.contains(&filter))
            .collect();
        users.sort_by_key(|u| u.entry_seq);
        if outsider && !users.is_empty() {
            items.push_str(&format!(
                "<li class=\"other-corp\">其他组织 Other organisation: {}</li>\n",
                escape(&scanning.corp_id)
            ));
        }
        for user in users.into_iter().take(100) {
            let corp_index = index.to_string();
            let link = serde_urlencoded::to_string([
                ("flow", flow),
                ("client_id", key),
                ("redirect_uri", redirect.as_str()),
                ("state", state.as_str()),
                ("userid", user.userid.as_str()),
                ("corp", corp_index.as_str()),
            ])
            .unwrap_or_default();
            items.push_str(&format!(
                "<li><a class=\"member{}\" data-userid=\"{}\" data-corp=\"{}\" href=\"/_sim/login/pick?{}\">{} ({})</a></li>\n",
                if outsider { " outsider" } else { "" },
                escape(&user.userid),
                escape(&scanning.corp_id),
                escape(&link),
                escape(&user.name),
                escape(&user.userid)
            ));
        }
    }
    let deny = append_query(&redirect, &[("error", "access_denied"), ("state", &state)]);
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>钉钉登录 (simulator)</title></head><body>\
         <h1>{}</h1><p>选择扫码的成员</p><form method=\"get\"><input type=\"hidden\" name=\"client_id\" value=\"{}\">\
         <input type=\"hidden\" name=\"redirect_uri\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
         <input name=\"q\" value=\"{}\"><button>搜索</button></form><ul>\n{}</ul><a id=\"deny\" href=\"{}\">拒绝</a></body></html>",
        escape(&corp.corp_id),
        escape(key),
        escape(&redirect),
        escape(&state),
        escape(&filter),
        items,
        escape(&deny),
    );
    Html(body).into_response()
}

fn append_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

async fn pick(State(sim): State<Sim>, Query(q): Query<AuthQuery>) -> Response {
    let (app_ref, redirect) = match check_client(&sim, &q) {
        Ok(ok) => ok,
        Err(message) => return error_page(&message),
    };
    let userid = q.userid.clone().unwrap_or_default();
    let user_corp = q.corp.unwrap_or(app_ref.corp);
    let known = sim
        .corp(user_corp)
        .is_some_and(|c| read(&c.org).user(&userid).is_some());
    if !known {
        return error_page("没有这个钉钉用户");
    }
    let state = q.state.clone().unwrap_or_default();
    let target = if q.flow.as_deref() == Some("sns") {
        let code = sim
            .login
            .mint(app_ref, user_corp, &userid, CodeKind::Sns, CODE_TTL);
        append_query(&redirect, &[("code", &code), ("state", &state)])
    } else {
        let code = sim
            .login
            .mint(app_ref, user_corp, &userid, CodeKind::OAuth2, CODE_TTL);
        append_query(
            &redirect,
            &[("authCode", &code), ("code", &code), ("state", &state)],
        )
    };
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}

async fn user_access_token(State(sim): State<Sim>, ip: ClientIp, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = body["clientId"].as_str().unwrap_or_default();
    let api = "/v1.0/oauth2/userAccessToken";
    if let Err(rejected) = gate::common(&sim, api, ip.0, Some(key), Style::NewApi).await {
        return rejected;
    }
    let bad =
        |code: &str, msg: &str| ApiError::new(StatusCode::BAD_REQUEST, code, msg).into_response();
    let Some((app_ref, app)) = sim.find_app(key) else {
        return bad("invalidClientIdOrSecret", "无效的clientId或clientSecret");
    };
    if body["clientSecret"].as_str() != Some(app.app_secret.as_str()) {
        return bad("invalidClientIdOrSecret", "无效的clientId或clientSecret");
    }
    let (user_corp, userid) = match body["grantType"].as_str() {
        Some("authorization_code") => {
            match sim.login.redeem(
                body["code"].as_str().unwrap_or_default(),
                CodeKind::OAuth2,
                app_ref,
            ) {
                Ok(userid) => userid,
                Err(_) => return bad("invalidAuthCode", "不合法的临时授权码"),
            }
        }
        Some("refresh_token") => match sim
            .login
            .refresh(body["refreshToken"].as_str().unwrap_or_default())
        {
            Some(session) if session.app == app_ref => (session.user_corp, session.userid),
            _ => return bad("invalidRefreshToken", "不合法的refresh_token"),
        },
        _ => return bad("unsupportedGrantType", "不支持的grantType"),
    };
    let (access, refresh) = sim.login.issue(app_ref, user_corp, &userid);
    let corp_id = sim
        .corp(app_ref.corp)
        .map(|c| c.corp_id.clone())
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({ "accessToken": access, "refreshToken": refresh, "expireIn": 7200, "corpId": corp_id }),
    )
}

/// A per-app openId, as DingTalk gives each app its own.
fn open_id(app_key: &str, userid: &str) -> String {
    let digest = Sha256::digest(format!("open/{app_key}/{userid}").as_bytes());
    hex_prefix(&digest, 14)
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

async fn users_me(State(sim): State<Sim>, ip: ClientIp, headers: HeaderMap) -> Response {
    if let Err(rejected) =
        gate::common(&sim, "/v1.0/contact/users/me", ip.0, None, Style::NewApi).await
    {
        return rejected;
    }
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(session) = sim.login.user_of(token) else {
        return ApiError::invalid_token().into_response();
    };
    let (Some(app), Some(corp)) = (sim.app(session.app), sim.corp(session.user_corp)) else {
        return ApiError::invalid_token().into_response();
    };
    let policy = read(&app.policy).clone();
    if !policy.has(perm::USER_READ) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "没有调用该接口的权限: Contact.User.Read",
        )
        .into_response();
    }
    let org = read(&corp.org);
    let Some(user) = org.user(&session.userid) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "invalidParameter.user.notFound",
            "用户不存在",
        )
        .into_response();
    };
    let mut me = json!({
        "nick": user.name,
        "unionId": user.unionid,
        "openId": open_id(&app.app_key, &user.userid),
        "avatarUrl": user.avatar.clone().unwrap_or_default(),
        "stateCode": user.state_code,
    });
    if policy.has(perm::MOBILE) {
        if let Some(m) = &user.mobile {
            me["mobile"] = json!(m);
        }
    }
    if policy.has(perm::EMAIL) {
        if let Some(e) = &user.email {
            me["email"] = json!(e);
        }
    }
    json_response(StatusCode::OK, &me)
}

/// RFC 2104 HMAC over SHA-256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `Base64(HmacSHA256(appSecret, timestamp))`, before its single URL-encoding (§4.2).
pub fn sns_signature(app_secret: &str, timestamp: &str) -> String {
    STANDARD.encode(hmac_sha256(app_secret.as_bytes(), timestamp.as_bytes()))
}

#[derive(Debug, Deserialize)]
struct SnsQuery {
    #[serde(rename = "accessKey")]
    access_key: Option<String>,
    timestamp: Option<String>,
    signature: Option<String>,
}

async fn sns_userinfo(
    State(sim): State<Sim>,
    ip: ClientIp,
    Query(q): Query<SnsQuery>,
    body: Bytes,
) -> Response {
    let key = q.access_key.clone().unwrap_or_default();
    if let Err(rejected) = gate::common(
        &sim,
        "/sns/getuserinfo_bycode",
        ip.0,
        Some(&key),
        Style::Legacy,
    )
    .await
    {
        return rejected;
    }
    let outcome = (|| {
        let (app_ref, app) = sim
            .find_app(&key)
            .ok_or(DingError::new(40035, "invalid appid"))?;
        let timestamp = q.timestamp.clone().unwrap_or_default();
        let ts: i64 = timestamp
            .parse()
            .map_err(|_| DingError::new(40035, "invalid timestamp"))?;
        if (now_ms() - ts).abs() > MAX_SKEW_MS {
            return Err(DingError::new(40035, "request expired"));
        }
        if q.signature.as_deref() != Some(sns_signature(&app.app_secret, &timestamp).as_str()) {
            return Err(DingError::new(40035, "invalid signature"));
        }
        let code = Params::parse(&body)?.require_str("tmp_auth_code")?;
        let (user_corp, userid) = sim.login.redeem(&code, CodeKind::Sns, app_ref)?;
        let corp = sim
            .corp(user_corp)
            .ok_or(DingError::new(33001, "无效的企业ID"))?;
        let org = read(&corp.org);
        let user = org
            .user(&userid)
            .ok_or(DingError::new(60121, "找不到该用户"))?;
        Ok(json!({ "user_info": {
            "nick": user.name,
            "unionid": user.unionid,
            "openid": open_id(&app.app_key, &user.userid),
            "main_org_auth_high_level": true,
        }}))
    })();
    let mut response = respond(outcome);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_signature_matches_the_protocol_example() {
        assert_eq!(
            sns_signature("testappSecret", "1546084445901"),
            "HCbG3xNE3vzhO+u7qCUL1jS5hsu2n5r2cFhnTrtyDAE="
        );
    }
}
