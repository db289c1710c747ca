//! The QR login (钉钉扫码登录). `GET /authenticate/ddtalk/{source}` stores a single-use state bound
//! to the browser and sends the browser to DingTalk's login page (the new flow at
//! `login.dingtalk.com/oauth2/auth`, or the legacy `connect/qrconnect`); DingTalk brings it back
//! to `GET /authenticate/ddtalk/forward/{source}` — the RedirectUrl registered in DingTalk — with a
//! code, which is exchanged for the person's unionid, turned into the corp's userid (an outsider
//! is refused there), and signed in.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use dingbridge::dingtalk::ErrorKind;
use dingbridge::secrets::generate_token;
use dingbridge::store::auth_sources::{AuthSource, LoginFlow, SourceKind, qr_redirect_url};
use dingbridge::store::login_states::Stage;
use serde::Deserialize;

use super::{DingPerson, QR_COOKIE, STATE_TTL_MS, corp_app, dingtalk_problem, outsider, problem};
use crate::Portal;
use crate::signin::{append_query, see_other, with_cookies};
use crate::web::{PageError, cookie, local_path, set_cookie};

pub(crate) fn routes() -> Router<Portal> {
    Router::new()
        .route("/authenticate/ddtalk/{source}", get(start))
        .route("/authenticate/ddtalk/forward/{source}", get(forward))
}

#[derive(Deserialize)]
struct StartQuery {
    /// An app to enter after sign-in (its client id).
    app: Option<String>,
    /// A local path to continue to (an OIDC authorization request, …).
    next: Option<String>,
}

async fn qr_source(portal: &Portal, id: &str) -> Result<Option<AuthSource>, PageError> {
    Ok(portal
        .sources
        .get(id)
        .await?
        .filter(|s| s.enabled && s.kind == SourceKind::DingtalkQr))
}

fn no_source() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "没有这种登录方式 No such sign-in method",
        "这个钉钉登录方式不存在或已停用。This DingTalk sign-in method does not exist or is turned off.",
        None,
        Some(("返回登录 Back to sign-in", "/login")),
    )
}

fn start_path(source: &AuthSource, next: Option<&str>) -> String {
    match next {
        Some(n) => {
            let q = serde_urlencoded::to_string([("next", n)]).unwrap_or_default();
            format!("/authenticate/ddtalk/{}?{q}", source.id)
        }
        None => format!("/authenticate/ddtalk/{}", source.id),
    }
}

async fn start(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, PageError> {
    let Some(source) = qr_source(&portal, &id).await? else {
        return Ok(no_source());
    };
    let next = match (&q.app, &q.next) {
        (Some(app), _)
            if !app.is_empty() && app.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Some(format!("/portal/apps/{app}"))
        }
        (_, Some(n)) if !n.is_empty() => Some(local_path(Some(n))),
        _ => None,
    };
    let browser = generate_token("");
    let state = portal
        .login_states
        .start(&source.id, next, &browser, Stage::Started, STATE_TTL_MS)
        .await?;
    let redirect_uri = qr_redirect_url(&portal.issuer, &source.id);
    let location = match source.flow {
        LoginFlow::Oauth2 => {
            let app = match corp_app(&portal, &source).await {
                Ok(app) => app,
                Err(page) => return Ok(page),
            };
            append_query(
                &format!("{}/oauth2/auth", source.login_base),
                &[
                    ("redirect_uri", redirect_uri),
                    ("response_type", "code".to_owned()),
                    ("client_id", app.app_key),
                    ("scope", "openid".to_owned()),
                    ("state", state),
                    ("prompt", "consent".to_owned()),
                ],
            )
        }
        LoginFlow::Sns => append_query(
            &format!("{}/connect/qrconnect", source.oapi_base),
            &[
                ("appid", source.sns_app_id.clone().unwrap_or_default()),
                ("response_type", "code".to_owned()),
                ("scope", "snsapi_login".to_owned()),
                ("state", state),
                ("redirect_uri", redirect_uri),
            ],
        ),
    };
    Ok(with_cookies(
        see_other(&location),
        &[set_cookie(
            QR_COOKIE,
            &browser,
            STATE_TTL_MS / 1000,
            portal.secure_cookies,
        )],
    ))
}

#[derive(Deserialize)]
struct ForwardQuery {
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn forward(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ForwardQuery>,
) -> Result<Response, PageError> {
    let Some(source) = qr_source(&portal, &id).await? else {
        return Ok(no_source());
    };
    let restart = start_path(&source, None);
    let again = Some(("重新扫码登录 Start again", restart.as_str()));
    let Some(state_id) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "缺少登录状态 The sign-in state is missing",
            "这是钉钉登录完成后返回的地址，需从登录页开始。This is the address DingTalk returns to after a sign-in; start from the sign-in page.",
            Some(&format!(
                "DingTalk came back without `state`. The RedirectUrl to register in DingTalk (回调域名) is {} — and the login must start at {}{}.",
                qr_redirect_url(&portal.issuer, &source.id),
                portal.issuer,
                restart
            )),
            again,
        ));
    };
    // Single use: taken before anything else, so a replay finds nothing.
    let Some(state) = portal.login_states.take(state_id).await? else {
        tracing::info!(source = %source.id, "DingTalk sign-in refused: unknown, expired or used state");
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "登录已失效 This sign-in expired or was already used",
            "每次扫码登录只能完成一次，且需在 10 分钟内完成：请重新开始。Each QR sign-in completes once, within 10 minutes: start again.",
            None,
            again,
        ));
    };
    if state.source_id != source.id || !state.is_for(cookie(&headers, QR_COOKIE).as_deref()) {
        tracing::info!(source = %source.id, "DingTalk sign-in refused: state of another browser or source");
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "登录未在此浏览器中发起 This sign-in was started elsewhere",
            "扫码登录必须在发起它的浏览器中完成（浏览器需允许 Cookie）：请在此浏览器中重新开始。A QR sign-in must finish in the browser that started it (with cookies allowed): start again here.",
            None,
            again,
        ));
    }
    if let Some(error) = q.error.as_deref() {
        tracing::info!(source = %source.id, %error, "DingTalk sign-in: DingTalk answered an error");
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "钉钉未授权登录 DingTalk did not authorise the sign-in",
            "你在钉钉中取消了授权，或钉钉拒绝了这次登录。You declined in DingTalk, or DingTalk refused the sign-in.",
            Some(&format!(
                "DingTalk answered error={error}. If its page said \"redirect_url的域名不在appid的安全域名内\", register {} as the app's RedirectUrl (回调域名).",
                qr_redirect_url(&portal.issuer, &source.id)
            )),
            again,
        ));
    }
    let Some(code) = q
        .auth_code
        .as_deref()
        .or(q.code.as_deref())
        .filter(|c| !c.is_empty() && c.len() <= 256)
    else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "缺少登录码 DingTalk sent no code",
            "请重新开始登录。Start the sign-in again.",
            None,
            again,
        ));
    };
    let app = match corp_app(&portal, &source).await {
        Ok(app) => app,
        Err(page) => return Ok(page),
    };
    // The code → the person's unionid (and nick).
    let (unionid, nick) = match source.flow {
        LoginFlow::Oauth2 => {
            let token = match portal.dingtalk.user_access_token(&app, code).await {
                Ok(t) => t,
                Err(e) => return Ok(dingtalk_problem(&source, "exchanging the code", &e, again)),
            };
            match portal
                .dingtalk
                .current_user(&app, &token.access_token)
                .await
            {
                Ok(me) => (me.union_id, me.nick),
                Err(e) => return Ok(dingtalk_problem(&source, "reading users/me", &e, again)),
            }
        }
        LoginFlow::Sns => {
            let sns = match portal.sources.sns_app(&source) {
                Ok(app) => app,
                Err(e) => return Ok(super::source_app_problem(&source, e)),
            };
            match portal.dingtalk.sns_user_by_code(&sns, code).await {
                Ok(u) => (u.unionid, u.nick),
                Err(e) => return Ok(dingtalk_problem(&source, "exchanging the code", &e, again)),
            }
        }
    };
    // Only members of the source's corp: the corp's app turns the unionid into its userid.
    let userid = match portal.dingtalk.user_by_unionid(&app, &unionid).await {
        Ok(m) => m.userid,
        Err(e) if *e.kind() == ErrorKind::NotFound => return Ok(outsider(&source, again)),
        Err(e) => {
            return Ok(dingtalk_problem(
                &source,
                "finding the user in the company",
                &e,
                again,
            ));
        }
    };
    let person = DingPerson {
        corp_id: app.corp_id.clone(),
        userid: userid.to_string(),
        unionid: Some(unionid),
        name: Some(nick).filter(|n| !n.is_empty()),
    };
    super::sign_in_as(&portal, &headers, &source, &app, person, state.next).await
}
