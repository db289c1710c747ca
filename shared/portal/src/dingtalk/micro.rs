//! The micro-app free login (微应用免登): DingTalk opens
//! `/authenticate/ddMicro/login?agentId=…&appId=…` (the home-page URL of a workbench micro-app);
//! the page asks DingTalk's JSAPI for a free-login code and posts it to
//! `/authenticate/ddMicro/code`, which turns it into the corp's userid (`topapi/v2/user/getuserinfo`:
//! single use, 5 minutes), signs the person in and sends them straight into app `appId`, the way
//! the portal enters an app.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use dingbridge::dingtalk::ErrorKind;
use dingbridge::store::auth_sources::{AuthSource, SourceKind, micro_home_url};
use serde::Deserialize;

use super::{DingPerson, corp_app, dingtalk_problem, problem};
use crate::signin::{login_csrf, with_cookies};
use crate::web::{LOGIN_CSRF_COOKIE, PageError, check_login_csrf, form_of, no_store, set_cookie};
use crate::{Portal, pages};

/// DingTalk's JSAPI, loaded by the page inside DingTalk (it cannot load offline; the page then
/// says to open the app in DingTalk).
pub const DINGTALK_JSAPI: &str =
    "https://g.alicdn.com/dingding/dingtalk-jsapi/3.0.25/dingtalk.open.js";
const SCRIPT_PATH: &str = "/authenticate/ddMicro/login.js";
const SCRIPT: &str = include_str!("../../static/micro-login.js");

pub(crate) fn routes() -> Router<Portal> {
    Router::new()
        .route("/authenticate/ddMicro/login", get(page))
        .route(SCRIPT_PATH, get(script))
        .route("/authenticate/ddMicro/code", post(code))
}

/// The Content-Security-Policy of the micro-app page: its own scripts (and the local runner's
/// stand-in, served by this site) and DingTalk's JSAPI. No `form-action`: browsers apply it to
/// the redirects after the form, and the sign-in ends at the app's own host.
const CSP: &str = "default-src 'none'; script-src 'self' https://g.alicdn.com; \
    style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        SCRIPT,
    )
        .into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(rename = "agentId")]
    agent_id: Option<String>,
    #[serde(rename = "appId")]
    app_id: Option<String>,
}

fn plausible_agent(a: &str) -> bool {
    !a.is_empty() && a.len() <= 20 && a.bytes().all(|b| b.is_ascii_digit())
}

fn plausible_app(a: &str) -> bool {
    !a.is_empty() && a.len() <= 64 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

async fn micro_source(portal: &Portal, agent_id: &str) -> Result<Option<AuthSource>, PageError> {
    if !plausible_agent(agent_id) {
        return Ok(None);
    }
    Ok(portal.sources.micro_by_agent(agent_id).await?)
}

fn no_source(agent_id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "没有配置钉钉免登 DingTalk sign-in is not set up for this app",
        "请联系 IT 管理员。Ask your IT administrator.",
        Some(&format!(
            "no enabled dingtalk_micro auth source has AgentId \"{agent_id}\": create one (POST /admin/api/auth-sources) with the micro-app's AgentId, and paste the home-page URL it shows into DingTalk."
        )),
        Some(("扫码登录 Sign in with a QR code", "/login")),
    )
}

fn no_app() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "没有这个应用 No such app",
        "这个微应用指向的应用不存在或已停用，请联系 IT 管理员。The app this micro-app points to does not exist or is turned off: ask your IT administrator.",
        Some(
            "the micro-app's home-page URL names an appId (an app's client_id) that is not an enabled app: copy the URL again from the auth source.",
        ),
        None,
    )
}

/// The QR sign-in into the same app, for a browser outside DingTalk.
async fn qr_fallback(
    portal: &Portal,
    source: &AuthSource,
    app_id: &str,
) -> Result<String, PageError> {
    let qr = portal
        .sources
        .all()
        .await?
        .into_iter()
        .find(|s| s.enabled && s.kind == SourceKind::DingtalkQr && s.corp_id == source.corp_id);
    let q = serde_urlencoded::to_string([("app", app_id)]).unwrap_or_default();
    Ok(match qr {
        Some(s) => format!("/authenticate/ddtalk/{}?{q}", s.id),
        None => {
            let next = format!("/portal/apps/{app_id}");
            let q = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
            format!("/login?{q}")
        }
    })
}

async fn page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let agent_id = q.agent_id.unwrap_or_default();
    let Some(source) = micro_source(&portal, &agent_id).await? else {
        return Ok(no_source(&agent_id));
    };
    let app_id = q.app_id.unwrap_or_default();
    let app = if plausible_app(&app_id) {
        portal
            .apps
            .by_client_id(&app_id)
            .await?
            .filter(|a| a.enabled)
    } else {
        None
    };
    let Some(app) = app else {
        return Ok(no_app());
    };
    let corp = match corp_app(&portal, &source).await {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let csrf = login_csrf(&headers);
    let mut scripts = vec![DINGTALK_JSAPI.to_owned()];
    if let Some(stand_in) = &portal.jsapi_stand_in {
        scripts.push(stand_in.clone());
    }
    scripts.push(SCRIPT_PATH.to_owned());
    let page = pages::micro(&pages::Micro {
        app_name: &app.name,
        corp_id: &corp.corp_id,
        client_id: &corp.app_key,
        agent_id: &agent_id,
        app_id: &app.client_id,
        csrf: &csrf,
        qr_url: &qr_fallback(&portal, &source, &app.client_id).await?,
        scripts,
    });
    let mut response = (no_store(), Html(page)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    Ok(with_cookies(
        response,
        &[set_cookie(
            LOGIN_CSRF_COOKIE,
            &csrf,
            3600,
            portal.secure_cookies,
        )],
    ))
}

async fn code(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = form_of(&headers, &body, "the code")?;
    check_login_csrf(&headers, &form)?;
    let agent_id = form.get("agentId").unwrap_or_default().to_owned();
    let Some(source) = micro_source(&portal, &agent_id).await? else {
        return Ok(no_source(&agent_id));
    };
    let app_id = form.get("appId").unwrap_or_default().to_owned();
    if !plausible_app(&app_id) {
        return Ok(no_app());
    }
    let reopen = micro_home_url("", &agent_id, &app_id);
    let again = Some(("重新打开 Open again", reopen.as_str()));
    let Some(code) = form.get("code").filter(|c| c.len() <= 256) else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "缺少免登码 No sign-in code",
            "请关闭后从工作台重新打开应用。Close the app and open it again from the workbench.",
            None,
            again,
        ));
    };
    let app = match corp_app(&portal, &source).await {
        Ok(app) => app,
        Err(page) => return Ok(page),
    };
    let user = match portal.dingtalk.micro_app_user(&app, code).await {
        Ok(u) => u,
        Err(e) if *e.kind() == ErrorKind::InvalidAuthCode => {
            tracing::info!(source = %source.id, "micro-app sign-in refused: code expired or used");
            return Ok(problem(
                StatusCode::BAD_REQUEST,
                "免登码已过期或已使用 The sign-in code expired or was already used",
                "免登码 5 分钟内有效且只能用一次：请关闭后从工作台重新打开应用。A sign-in code lasts 5 minutes and works once: close the app and open it again from the workbench.",
                None,
                again,
            ));
        }
        Err(e) => {
            return Ok(dingtalk_problem(
                &source,
                "reading the free-login code",
                &e,
                again,
            ));
        }
    };
    let person = DingPerson {
        corp_id: app.corp_id.clone(),
        userid: user.userid.to_string(),
        unionid: user.unionid.filter(|u| !u.is_empty()),
        name: user.name.filter(|n| !n.is_empty()),
    };
    let next = Some(format!("/portal/apps/{app_id}"));
    let response = super::sign_in_as(&portal, &headers, &source, &app, person, next).await?;
    Ok(with_cookies(
        response,
        &[set_cookie(LOGIN_CSRF_COOKIE, "", 0, portal.secure_cookies)],
    ))
}
