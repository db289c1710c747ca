//! Sign-in with DingTalk: the QR login (`qr`), the micro-app free login (`micro`) and the bind
//! page of a first sign-in (`bind`). All three end here: a DingTalk user of the source's corp
//! (already checked to be a member) is resolved to an account — a binding, the corp's connector
//! mapping, the source's mobile/email rule — or sent to the bind page, then signed in.

pub(crate) mod bind;
pub(crate) mod micro;
pub(crate) mod qr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use dingbridge::dingtalk::{DingApp, DingTalkError, DingUserId, ErrorKind};
use dingbridge::domain::directory::{Account, AccountStatus, Origin};
use dingbridge::domain::values::{Email, Mobile};
use dingbridge::store::Actor;
use dingbridge::store::auth_sources::{AuthSource, MatchBy, SourceAppError, SourceKind, Unbound};
use dingbridge::store::bindings::BoundBy;
use dingbridge::store::login_states::Stage;

use crate::signin::{self, see_other, with_cookies};
use crate::web::{PageError, local_path, no_store, set_cookie};
use crate::{Portal, pages};

/// The cookie that binds a QR login's `state` to the browser that started it.
pub(crate) const QR_COOKIE: &str = "dbqr";
/// The cookie that holds a pending binding (the bind page's state).
pub(crate) const BIND_COOKIE: &str = "dbbind";
/// How long a started sign-in or a pending binding lives.
pub(crate) const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// Who DingTalk said the person is, after the corp confirmed the membership.
#[derive(Clone, Debug)]
pub(crate) struct DingPerson {
    pub corp_id: String,
    pub userid: String,
    pub unionid: Option<String>,
    pub name: Option<String>,
}

/// A page that names what happened and, when it is the admin's to fix, how.
pub(crate) fn problem(
    status: StatusCode,
    title: &str,
    detail: &str,
    fix: Option<&str>,
    again: Option<(&str, &str)>,
) -> Response {
    let page = pages::problem(&pages::Problem {
        title,
        detail,
        fix,
        link: again.map(|(l, h)| (l.to_owned(), h.to_owned())),
    });
    (status, no_store(), Html(page)).into_response()
}

/// The sign-in page's buttons: every enabled, visible QR source, continuing to `next`.
pub(crate) async fn buttons(
    portal: &Portal,
    next: &str,
) -> Result<Vec<(String, String)>, PageError> {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Ok(portal
        .sources
        .all()
        .await?
        .into_iter()
        .filter(|s| s.enabled && s.visible && s.kind == SourceKind::DingtalkQr)
        .map(|s| (s.name, format!("/authenticate/ddtalk/{}?{query}", s.id)))
        .collect())
}

/// The corp's internal app of a source, or the page that says why there is none.
pub(crate) async fn corp_app(portal: &Portal, source: &AuthSource) -> Result<DingApp, Response> {
    portal
        .sources
        .corp_app(source)
        .await
        .map_err(|e| source_app_problem(source, e))
}

pub(crate) fn source_app_problem(source: &AuthSource, e: SourceAppError) -> Response {
    match e {
        SourceAppError::Storage(e) => PageError::from(e).into_response(),
        other => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "登录方式配置不完整 This sign-in method is not fully set up",
            "钉钉登录暂时无法使用。DingTalk sign-in cannot be used right now.",
            Some(&format!("auth source \"{}\": {other}", source.name)),
            None,
        ),
    }
}

/// A failed DingTalk call as a page: what the person can do, and what the admin must fix.
pub(crate) fn dingtalk_problem(
    source: &AuthSource,
    what: &str,
    e: &DingTalkError,
    again: Option<(&str, &str)>,
) -> Response {
    tracing::warn!(source = %source.id, error = %e, "DingTalk sign-in: {what} failed");
    let (status, title, detail, fix): (StatusCode, &str, &str, String) = match e.kind() {
        ErrorKind::InvalidAuthCode => (
            StatusCode::BAD_REQUEST,
            "登录码已过期或已使用 The DingTalk code expired or was already used",
            "每个登录码只能用一次且很快过期：请重新开始登录。Each DingTalk code works once and soon expires: start the sign-in again.",
            String::new(),
        ),
        ErrorKind::PermissionDenied => (
            StatusCode::FORBIDDEN,
            "钉钉应用缺少权限 The DingTalk app lacks a permission",
            "钉钉拒绝了登录所需的调用，请联系 IT 管理员。DingTalk refused a call the sign-in needs: ask your IT administrator.",
            format!(
                "{what} ({}) was refused: {}. In DingTalk's developer console, open app {} → 权限管理 and grant {}.",
                e.api(),
                e.message(),
                source.app_key.as_deref().unwrap_or("(the connector's app)"),
                permission_for(e.api())
            ),
        ),
        ErrorKind::InvalidCredentials => (
            StatusCode::SERVICE_UNAVAILABLE,
            "钉钉登录配置有误 DingTalk sign-in is misconfigured",
            "钉钉不接受此登录方式的应用凭证，请联系 IT 管理员。DingTalk refused this sign-in method's app credentials: ask your IT administrator.",
            format!(
                "{what} ({}): {} — check the AppKey/AppSecret (and for the SNS flow the login app's AppId/AppSecret) of auth source \"{}\".",
                e.api(),
                e.message(),
                source.name
            ),
        ),
        ErrorKind::IpNotWhitelisted { ip } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "钉钉拒绝了本服务的地址 DingTalk refused this service's address",
            "请联系 IT 管理员。Ask your IT administrator.",
            format!(
                "add {} to the app's IP whitelist (开发管理 → 服务器出口IP) in DingTalk's developer console.",
                ip.as_deref().unwrap_or("this deployment's egress IP")
            ),
        ),
        k if k.is_transient() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "钉钉暂时没有响应 DingTalk did not answer",
            "请稍后重试。Please try again in a moment.",
            String::new(),
        ),
        ErrorKind::Rejected
            if e.message().contains("signature") || e.message().contains("appid") =>
        {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "钉钉登录配置有误 DingTalk sign-in is misconfigured",
                "钉钉不接受此登录方式的应用凭证，请联系 IT 管理员。DingTalk refused this sign-in method's app credentials: ask your IT administrator.",
                format!(
                    "{what} ({}): {} — check sns_app_id and sns_app_secret of auth source \"{}\" (and this server's clock: the signature carries the time).",
                    e.api(),
                    e.message(),
                    source.name
                ),
            )
        }
        _ => (
            StatusCode::BAD_GATEWAY,
            "钉钉登录失败 DingTalk sign-in failed",
            "钉钉拒绝了这次登录，请重试或联系 IT 管理员。DingTalk refused this sign-in: try again or ask your IT administrator.",
            format!("{what} ({}): {}", e.api(), e.message()),
        ),
    };
    let fix = (!fix.is_empty()).then_some(fix.as_str());
    problem(status, title, detail, fix, again)
}

/// The DingTalk permission an API needs, in the developer console's words.
fn permission_for(api: &str) -> &'static str {
    if api.contains("users/me") {
        "通讯录个人信息读权限 (Contact.User.Read)"
    } else if api.contains("getbyunionid") || api.contains("user/get") {
        "成员信息读权限 (qyapi_get_member)"
    } else {
        "the permission the API's documentation names"
    }
}

/// The page of a DingTalk user who is not a member of the source's corp.
pub(crate) fn outsider(source: &AuthSource, again: Option<(&str, &str)>) -> Response {
    tracing::info!(source = %source.id, "DingTalk sign-in refused: not a member of the corp");
    problem(
        StatusCode::FORBIDDEN,
        "你不是该企业的成员 Not a member of this company",
        "只有本企业钉钉组织的成员可以登录。你扫码使用的钉钉账号不在该组织中：请切换到企业的钉钉账号后重试。Only members of this company's DingTalk organisation can sign in here, and the DingTalk account you used is not one of them: switch to your company DingTalk account and try again.",
        None,
        again,
    )
}

/// The DingTalk user's account: a binding, the corp's connector mapping (then bound), the
/// source's mobile/email rule (then bound); `None` when none of them knows the person.
async fn known_account(
    portal: &Portal,
    source: &AuthSource,
    app: &DingApp,
    person: &DingPerson,
) -> Result<Result<Option<Account>, Response>, PageError> {
    let actor = Actor::new(Origin::Portal, format!("dingtalk:{}", person.userid));
    if let Some(b) = portal.bindings.get(&person.corp_id, &person.userid).await? {
        match portal.directory.account(&b.account_id).await? {
            Some(account) => return Ok(Ok(Some(account))),
            // The account was deleted: the binding goes with it, and the person is resolved
            // afresh below.
            None => {
                portal.bindings.remove(&b.account_id, &b.id, &actor).await?;
            }
        }
    }
    let bind = |account: Account, how: BoundBy| async move {
        portal
            .bindings
            .bind(
                &person.corp_id,
                &person.userid,
                person.unionid.as_deref(),
                person.name.as_deref(),
                &account.id,
                &source.id,
                how,
                &actor,
            )
            .await
            .map(|_| Some(account))
    };
    // The corp's connectors: the user came from DingTalk, so we already know who it is.
    if let Ok(userid) = DingUserId::parse(&person.userid) {
        let mut connectors: Vec<_> = portal
            .connectors
            .all()
            .await?
            .into_iter()
            .filter(|c| c.corp_id.as_str() == person.corp_id)
            .collect();
        connectors.sort_by_key(|c| Some(&c.id) != source.connector_id.as_ref());
        for c in connectors {
            if let Some(id) = portal.mappings.account_of(&c.id, &userid).await? {
                if let Some(account) = portal.directory.account(&id).await? {
                    return Ok(Ok(bind(account, BoundBy::Synced).await?));
                }
            }
        }
    }
    if source.binding.match_by.is_empty() {
        return Ok(Ok(None));
    }
    let user = match DingUserId::parse(&person.userid) {
        Ok(id) => match portal.dingtalk.get_user(app, &id).await {
            Ok(u) => u,
            Err(e) => {
                return Ok(Err(dingtalk_problem(
                    source,
                    "reading the DingTalk user",
                    &e,
                    None,
                )));
            }
        },
        Err(_) => return Ok(Ok(None)),
    };
    for rule in &source.binding.match_by {
        let found = match rule {
            MatchBy::Mobile => match user.mobile.as_deref().map(Mobile::parse) {
                Some(Ok(m)) => portal.directory.find_account("mobile", m.as_str()).await?,
                _ => None,
            },
            MatchBy::Email => match user.email.as_deref().map(Email::parse) {
                Some(Ok(e)) => portal.directory.find_account("email", e.as_str()).await?,
                _ => None,
            },
        };
        if let Some(account) = found {
            let how = match rule {
                MatchBy::Mobile => BoundBy::Mobile,
                MatchBy::Email => BoundBy::Email,
            };
            return Ok(Ok(bind(account, how).await?));
        }
    }
    Ok(Ok(None))
}

/// Signs the DingTalk user in, or sends them to the bind page.
pub(crate) async fn sign_in_as(
    portal: &Portal,
    headers: &HeaderMap,
    source: &AuthSource,
    app: &DingApp,
    person: DingPerson,
    next: Option<String>,
) -> Result<Response, PageError> {
    let account = match known_account(portal, source, app, &person).await? {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let Some(account) = account else {
        if source.binding.unbound == Unbound::Refuse {
            tracing::info!(source = %source.id, userid = %person.userid, "DingTalk sign-in refused: no account");
            return Ok(problem(
                StatusCode::FORBIDDEN,
                "没有关联的账号 No account for this DingTalk user",
                "你的钉钉账号还没有关联到本系统的账号，请联系 IT 管理员。Your DingTalk account is not linked to an account here: ask your IT administrator.",
                Some(
                    "the auth source refuses unbound users: sync this user with a connector, or allow the bind page in the source's binding rules.",
                ),
                None,
            ));
        }
        let id = generate_bind_cookie();
        let state = portal
            .login_states
            .start(
                &source.id,
                next,
                &id,
                Stage::Binding {
                    corp_id: person.corp_id,
                    userid: person.userid,
                    unionid: person.unionid,
                    name: person.name,
                    csrf: dingbridge::secrets::generate_token(""),
                },
                STATE_TTL_MS,
            )
            .await?;
        // The cookie carries the state's id and the browser secret the state is bound to.
        let value = format!("{state}.{id}");
        return Ok(with_cookies(
            see_other("/authenticate/bind"),
            &[set_cookie(
                BIND_COOKIE,
                &value,
                STATE_TTL_MS / 1000,
                portal.secure_cookies,
            )],
        ));
    };
    finish(portal, headers, source, &account, next).await
}

fn generate_bind_cookie() -> String {
    dingbridge::secrets::generate_token("")
}

/// The page of a disabled account.
pub(crate) fn disabled(account: &Account) -> Response {
    tracing::info!(account = %account.id, "DingTalk sign-in refused: account disabled");
    problem(
        StatusCode::FORBIDDEN,
        "账号已停用 This account is disabled",
        "你的账号已停用，请联系 IT 管理员。Your account is disabled: ask your IT administrator.",
        None,
        None,
    )
}

/// The account signed in (when enabled), then on to where the sign-in was going.
pub(crate) async fn finish(
    portal: &Portal,
    headers: &HeaderMap,
    source: &AuthSource,
    account: &Account,
    next: Option<String>,
) -> Result<Response, PageError> {
    if account.status != AccountStatus::Enabled {
        return Ok(disabled(account));
    }
    let next = match next {
        Some(n) => local_path(Some(&n)),
        None => source
            .front_end_callback_url
            .clone()
            .unwrap_or_else(|| "/portal".to_owned()),
    };
    let amr = match source.kind {
        SourceKind::DingtalkQr => "dingtalk_qr",
        SourceKind::DingtalkMicro => "dingtalk_micro",
    };
    signin::start_session(portal, headers, account, &[amr], false, &next).await
}
