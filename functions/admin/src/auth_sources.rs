//! Auth sources (认证源): DingTalk QR login and micro-app free login. Create, list, read, change,
//! delete and test; every answer shows the address to register in DingTalk (a QR source's
//! RedirectUrl, a micro-app source's home-page URL per app), never a secret. Pasted values are
//! trimmed and the fields that had spaces around them are reported. Also the bindings of an
//! account (which DingTalk users sign in as it), readable and removable.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use dingbridge::dingtalk::{DingApp, DingTalkError, ErrorKind, TokenSource};
use dingbridge::domain::auth_source::{SourceInput, check_source};
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::values::InvalidField;
use dingbridge::store::auth_sources::{
    AuthSource, LoginFlow, SourceAppError, SourceKind, micro_home_url, qr_redirect_url,
};
use dingbridge::store::bindings::Binding;
use dingbridge::store::{Actor, DirectoryError};
use dingbridge::web::{ApiError, FieldProblem, Json};
use serde_json::{Value, json};

use crate::Admin;
use crate::directory_writes::{etag, expected_version};
use crate::explain::describe;
use crate::paging::{PageRequest, Paged};
use crate::test_connection::{Check, Report};

/// A free-login or login code DingTalk cannot know: its refusal (40078) proves the credentials.
const PROBE_CODE: &str = "dingbridge-test-probe-code";
/// A unionid no DingTalk user has: `getbyunionid` answers 60121 when the permission is there.
const PROBE_UNIONID: &str = "dingbridge-test-probe-unionid";

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/auth-sources", get(list).post(create))
        .route("/auth-sources/{id}", get(read).patch(update).delete(remove))
        .route("/auth-sources/{id}/test", post(test))
        .route("/accounts/{id}/bindings", get(bindings))
        .route("/accounts/{id}/bindings/{binding}", delete(unbind))
}

async fn load(admin: &Admin, id: &str) -> Result<AuthSource, ApiError> {
    admin
        .sources
        .get(id.trim())
        .await?
        .ok_or(ApiError::NotFound)
}

/// The source as the API shows it, with the addresses to register in DingTalk.
async fn view(admin: &Admin, s: &AuthSource) -> Result<Value, ApiError> {
    let base = &admin.deps.public_base_url;
    let mut v = s.view();
    match s.kind {
        SourceKind::DingtalkQr => {
            v["redirect_url"] = json!(qr_redirect_url(base, &s.id));
            v["sign_in_url"] = json!(format!("{base}/authenticate/ddtalk/{}", s.id));
        }
        SourceKind::DingtalkMicro => {
            let agent = s.agent_id.clone().unwrap_or_default();
            let apps: Vec<Value> = admin
                .apps
                .all()
                .await?
                .into_iter()
                .filter(|a| a.enabled)
                .map(|a| {
                    json!({
                        "app_id": a.client_id,
                        "name": a.name,
                        "home_url": micro_home_url(base, &agent, &a.client_id),
                    })
                })
                .collect();
            v["home_urls"] = json!(apps);
        }
    }
    Ok(v)
}

fn refused(problems: Vec<InvalidField>) -> ApiError {
    ApiError::InvalidFields(problems.into_iter().map(FieldProblem::from).collect())
}

/// A referenced connector must exist and be of the source's corp.
async fn check_connector(
    admin: &Admin,
    connector: Option<&ConnectorId>,
    corp_id: &str,
    problems: &mut Vec<InvalidField>,
) -> Result<(), ApiError> {
    let Some(id) = connector else {
        return Ok(());
    };
    match admin.connectors.get(id).await? {
        None => problems.push(InvalidField::new(
            "connector_id",
            format!("names no existing connector ({id})"),
        )),
        Some(c) if c.corp_id.as_str() != corp_id => problems.push(InvalidField::new(
            "connector_id",
            format!(
                "is a connector of corp {}, not of corp_id {corp_id}: a source turns unionids into userids with its own corp's app",
                c.corp_id
            ),
        )),
        Some(_) => {}
    }
    Ok(())
}

async fn create(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<SourceInput>,
) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
    let checked = check_source(&body, None).map_err(refused)?;
    let mut problems = Vec::new();
    check_connector(
        &admin,
        checked.settings.connector_id.as_ref(),
        &checked.settings.corp_id,
        &mut problems,
    )
    .await?;
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let trimmed = checked.trimmed.clone();
    let source = admin.sources.create(checked, &actor).await?;
    tracing::info!(source = %source.id, kind = source.kind.as_str(), "created an auth source");
    let mut v = view(&admin, &source).await?;
    v["warnings"] = crate::explain::trimmed(&trimmed);
    let mut headers = etag(source.version);
    if let Ok(loc) = format!("/admin/api/auth-sources/{}", source.id).parse() {
        headers.insert(header::LOCATION, loc);
    }
    Ok((StatusCode::CREATED, headers, Json(v)))
}

async fn list(State(admin): State<Admin>, page: PageRequest) -> Result<Json<Value>, ApiError> {
    let found = page
        .load(|limit, cursor| admin.sources.list(limit, cursor))
        .await?;
    let mut items = Vec::new();
    for s in &found.items {
        items.push(view(&admin, s).await?);
    }
    Ok(Json(json!(Paged::new(items, found.next))))
}

async fn read(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let source = load(&admin, &id).await?;
    Ok((etag(source.version), Json(view(&admin, &source).await?)))
}

/// Changes the fields the body names (the others are kept; `kind` cannot change), conditional
/// on `If-Match` when sent. Secrets are replaced only when sent.
async fn update(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SourceInput>,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let old = load(&admin, &id).await?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, None, &mut problems);
    if version.is_some_and(|v| v != old.version) {
        return Err(DirectoryError::Stale.into());
    }
    let checked = match check_source(&body, Some(&old.settings())) {
        Ok(c) => Some(c),
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    if let Some(c) = &checked {
        check_connector(
            &admin,
            c.settings.connector_id.as_ref(),
            &c.settings.corp_id,
            &mut problems,
        )
        .await?;
    }
    let checked = match checked {
        Some(c) if problems.is_empty() => c,
        _ => return Err(refused(problems)),
    };
    let trimmed = checked.trimmed.clone();
    let source = admin.sources.update(&old, checked, &actor).await?;
    tracing::info!(source = %source.id, "changed an auth source");
    let mut v = view(&admin, &source).await?;
    v["warnings"] = crate::explain::trimmed(&trimmed);
    Ok((etag(source.version), Json(v)))
}

async fn remove(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let old = load(&admin, &id).await?;
    admin.sources.delete(&old, &actor).await?;
    tracing::info!(source = %old.id, "deleted an auth source");
    Ok(Json(json!({ "id": old.id, "deleted": true })))
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        ok,
        detail: detail.into(),
    }
}

/// A probe that DingTalk must refuse with `expected`: that refusal proves the credentials and
/// the permission; any other answer says what is wrong.
fn probe(name: &str, what: &str, outcome: Result<(), DingTalkError>, expected: ErrorKind) -> Check {
    match outcome {
        Err(e) if *e.kind() == expected => check(name, true, format!("{what}: allowed")),
        Ok(()) => check(name, true, format!("{what}: allowed")),
        Err(e) => check(name, false, format!("{what}: {}", describe(&e))),
    }
}

/// Real calls to DingTalk with the source's settings: the corp app's credentials, the
/// permissions the flow needs, and the addresses to register.
async fn test(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let source = load(&admin, &id).await?;
    let dt = &admin.deps.dingtalk;
    let mut checks = Vec::new();
    let app: Option<DingApp> = match admin.sources.corp_app(&source).await {
        Ok(app) => Some(app),
        Err(SourceAppError::Storage(e)) => return Err(e.into()),
        Err(e) => {
            checks.push(check("credentials", false, e.to_string()));
            None
        }
    };
    if let Some(app) = &app {
        match dt.fetch_app_token(app, TokenSource::default()).await {
            Ok(_) => {
                checks.push(check(
                    "credentials",
                    true,
                    format!(
                        "DingTalk accepted AppKey {} of corp {}",
                        app.app_key, app.corp_id
                    ),
                ));
                if app.corp_id != source.corp_id {
                    checks.push(check(
                        "corp",
                        false,
                        format!(
                            "the app belongs to corp {}, the source says {}",
                            app.corp_id, source.corp_id
                        ),
                    ));
                }
                let lookup = dt.user_by_unionid(app, PROBE_UNIONID).await.map(|_| ());
                checks.push(probe(
                    "unionid_lookup",
                    "getbyunionid (only members of the corp sign in)",
                    lookup,
                    ErrorKind::NotFound,
                ));
                if source.kind == SourceKind::DingtalkMicro {
                    let free = dt.micro_app_user(app, PROBE_CODE).await.map(|_| ());
                    checks.push(probe(
                        "free_login",
                        "topapi/v2/user/getuserinfo (the free-login code)",
                        free,
                        ErrorKind::InvalidAuthCode,
                    ));
                } else if source.flow == LoginFlow::Oauth2 {
                    let login = dt.user_access_token(app, PROBE_CODE).await.map(|_| ());
                    checks.push(probe(
                        "login_app",
                        "oauth2/userAccessToken (the login app's AppKey/AppSecret)",
                        login,
                        ErrorKind::InvalidAuthCode,
                    ));
                    checks.push(check(
                        "users_me_permission",
                        true,
                        "users/me needs 通讯录个人信息读权限 (Contact.User.Read) on this app: DingTalk can only check it at a real sign-in, so make sure it is granted; a sign-in without it shows an error page that names it",
                    ));
                }
            }
            Err(e) => checks.push(check("credentials", false, describe(&e))),
        }
    }
    if source.kind == SourceKind::DingtalkQr && source.flow == LoginFlow::Sns {
        match admin.sources.sns_app(&source) {
            Ok(sns) => {
                let outcome = dt.sns_user_by_code(&sns, PROBE_CODE).await.map(|_| ());
                checks.push(probe(
                    "sns_login_app",
                    "sns/getuserinfo_bycode (the QR login app's AppId/AppSecret)",
                    outcome,
                    ErrorKind::InvalidAuthCode,
                ));
            }
            Err(e) => checks.push(check("sns_login_app", false, e.to_string())),
        }
    }
    let ok = checks.iter().all(|c| c.ok);
    let report = Report { ok, checks };
    let mut v = json!(report);
    let shown = view(&admin, &source).await?;
    match source.kind {
        SourceKind::DingtalkQr => {
            v["redirect_url"] = shown["redirect_url"].clone();
            v["register"] = json!(format!(
                "In DingTalk's developer console, register {} as the login app's RedirectUrl (回调域名){}.",
                shown["redirect_url"].as_str().unwrap_or_default(),
                if source.flow == LoginFlow::Sns {
                    " of the QR login app (扫码登录应用)"
                } else {
                    " under 登录与分享"
                }
            ));
        }
        SourceKind::DingtalkMicro => {
            v["home_urls"] = shown["home_urls"].clone();
            v["register"] = json!(
                "In DingTalk's developer console, set each micro-app's home page (应用首页地址, for mobile and PC) to its home_url below."
            );
        }
    }
    Ok(Json(v))
}

async fn bindings(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if admin.directory.account(&account).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let items: Vec<Binding> = admin.bindings.of_account(&account).await?;
    Ok(Json(json!({ "items": items })))
}

async fn unbind(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path((id, binding)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let account = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    match admin
        .bindings
        .remove(&account, binding.trim(), &actor)
        .await?
    {
        Some(b) => {
            tracing::info!(account = %account, binding = %b.id, "removed a DingTalk binding");
            Ok(Json(json!({ "id": b.id, "deleted": true })))
        }
        None => Err(ApiError::NotFound),
    }
}
