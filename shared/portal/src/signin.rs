//! Password sign-in, sign-out, the forced and voluntary password change, the portal page of a
//! person's apps and the launch of one app.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use dingbridge::domain::directory::{Account, AccountStatus, Origin};
use dingbridge::domain::values::{Email, Mobile, Username};
use dingbridge::secrets::{DUMMY_PHC, generate_token, hash_password, verify_password};
use dingbridge::store::Actor;
use dingbridge::store::apps::{App, AppKind};
use dingbridge::store::sessions::Session;
use dingbridge::store::throttle::Subject;

use crate::web::{
    LOGIN_CSRF_COOKIE, PageError, Params, SESSION_COOKIE, check_login_csrf, cookie, form_of,
    identifier_of, local_path, no_store, same_token, set_cookie, source,
};
use crate::{Portal, claims, pages};

pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/password", get(password_page).post(change_password))
        .route("/portal", get(home))
        .route(
            "/portal/bindings/{id}/remove",
            axum::routing::post(remove_binding),
        )
        .route("/portal/apps/{client_id}", get(launch))
}

/// A signed-in request: the session's cookie value, the session and its (enabled) account.
pub(crate) struct SignedIn {
    pub id: String,
    pub session: Session,
    pub account: Account,
}

/// The request's live session, when its account still exists and is enabled (a disabled
/// account's session ends at its next request).
pub(crate) async fn signed_in(
    portal: &Portal,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, PageError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = portal.sessions.get(&id).await? else {
        return Ok(None);
    };
    match portal.directory.account(&session.account_id).await? {
        Some(account) if account.status == AccountStatus::Enabled => Ok(Some(SignedIn {
            id,
            session,
            account,
        })),
        _ => {
            portal.sessions.end(&id).await?;
            Ok(None)
        }
    }
}

fn redirect_to_login(next: &str) -> Response {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub(crate) fn with_cookies(mut response: Response, cookies: &[HeaderValue]) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    response
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// `login`: show the form even to a signed-in person (OIDC `prompt=login`, `max_age`).
    prompt: Option<String>,
    login_hint: Option<String>,
}

/// The sign-in page; a signed-in person goes straight on.
async fn login_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = local_path(q.next.as_deref());
    let again = q.prompt.as_deref() == Some("login");
    if !again && signed_in(&portal, &headers).await?.is_some() {
        return Ok(see_other(&next));
    }
    let hint: String = q.login_hint.unwrap_or_default().chars().take(256).collect();
    login_form(&portal, &headers, &next, &hint, None, StatusCode::OK).await
}

/// The double-submit CSRF token of a form shown before sign-in: the browser's cookie, or a new
/// one (set by the caller for an hour).
pub(crate) fn login_csrf(headers: &HeaderMap) -> String {
    cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|c| {
            c.len() >= 32
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| generate_token(""))
}

/// The sign-in form with a double-submit CSRF token (the cookie's, or a new one), and a button
/// per visible DingTalk QR source.
async fn login_form(
    portal: &Portal,
    headers: &HeaderMap,
    next: &str,
    identifier: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let sources = crate::dingtalk::buttons(portal, next).await?;
    let csrf = login_csrf(headers);
    let page = pages::login(&pages::Login {
        csrf: &csrf,
        next,
        identifier,
        error,
        sources,
    });
    let response = (status, no_store(), Html(page)).into_response();
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

/// The account a sign-in names: by username, else email, else mobile.
async fn find_account(portal: &Portal, raw: &str) -> Result<Option<Account>, PageError> {
    let raw = raw.trim();
    if let Ok(u) = Username::parse(raw) {
        if let Some(a) = portal
            .directory
            .find_account("username", u.as_str())
            .await?
        {
            return Ok(Some(a));
        }
    }
    if raw.contains('@') {
        if let Ok(e) = Email::parse(raw) {
            if let Some(a) = portal.directory.find_account("email", e.as_str()).await? {
                return Ok(Some(a));
            }
        }
    }
    if let Ok(m) = Mobile::parse(raw) {
        return Ok(portal.directory.find_account("mobile", m.as_str()).await?);
    }
    Ok(None)
}

/// What a username-or-email-or-mobile and password came to.
pub(crate) enum Checked {
    Account(Box<Account>),
    /// Too many failures for the account or the address: the sentence to show.
    Blocked(String),
    /// No such account, or the wrong password (the two look the same): the sentence to show.
    Wrong(String),
}

/// Checks a password for the sign-in page and the bind page alike: failures count per account
/// (whichever of its names was typed) and per address `from`; an identifier that names nobody
/// is counted under itself and checked against a dummy hash, so both cost the same.
pub(crate) async fn check_password(
    portal: &Portal,
    identifier: &str,
    password: &str,
    from: &str,
) -> Result<Checked, PageError> {
    let account = find_account(portal, identifier).await?;
    let who = match &account {
        Some(a) => format!("account:{}", a.id),
        None => format!("login:{}", identifier.to_lowercase()),
    };
    let subjects = [Subject::Client(&who), Subject::Source(from)];
    if let Some(wait) = portal.throttle.blocked(&subjects).await? {
        let minutes = (wait + 59) / 60;
        return Ok(Checked::Blocked(format!(
            "登录失败次数过多，请 {minutes} 分钟后再试。Too many failed sign-ins: try again in {minutes} minute(s)."
        )));
    }
    let hash = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let ok = password_matches(password, hash).await && hash.is_some();
    match account.filter(|_| ok) {
        Some(account) => Ok(Checked::Account(Box::new(account))),
        None => {
            portal.throttle.failed(&subjects).await?;
            Ok(Checked::Wrong(
                "用户名或密码错误。Wrong username or password.".to_owned(),
            ))
        }
    }
}

/// Checks a password off the async threads (argon2 takes tens of milliseconds); an account
/// without a password is checked against a dummy hash, so the work is the same.
async fn password_matches(password: &str, hash: Option<&str>) -> bool {
    let password = password.to_owned();
    let hash = hash.unwrap_or(DUMMY_PHC).to_owned();
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

async fn login(
    State(portal): State<Portal>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = form_of(&headers, &body, "the sign-in form")?;
    check_login_csrf(&headers, &form)?;
    let next = local_path(form.get("next"));
    let identifier = identifier_of(&form);
    let password = form.get("password").unwrap_or("");
    if identifier.is_empty() || password.is_empty() {
        let why =
            "请输入用户名和密码。Enter your username (or email, or mobile) and your password.";
        return login_form(
            &portal,
            &headers,
            &next,
            &identifier,
            Some(why),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let from = source(&extensions);
    let (p, h, n, i) = (&portal, &headers, &next, &identifier);
    let refused =
        move |why: String, status| async move { login_form(p, h, n, i, Some(&why), status).await };
    let account = match check_password(&portal, &identifier, password, &from).await? {
        Checked::Account(account) => account,
        Checked::Blocked(why) => return refused(why, StatusCode::TOO_MANY_REQUESTS).await,
        Checked::Wrong(why) => {
            tracing::info!(source = %from, "portal sign-in refused: wrong username or password");
            return refused(why, StatusCode::UNAUTHORIZED).await;
        }
    };
    if account.status != AccountStatus::Enabled {
        let why =
            "该账号已停用，请联系 IT 管理员。This account is disabled: ask your IT administrator.";
        return login_form(
            &portal,
            &headers,
            &next,
            &identifier,
            Some(why),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // A password past the policy's maximum age is changed before anything else, like a default
    // one at the first sign-in.
    let policy = portal.settings.password_policy().await?;
    let changed = account.password_changed_ms.unwrap_or(account.created_ms);
    let expired = policy.expired(changed, portal.clock.now_millis());
    let must_change = account.must_change_password || expired;
    let mut response =
        start_session(&portal, &headers, &account, &["pwd"], must_change, &next).await?;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", 0, portal.secure_cookies),
    );
    Ok(response)
}

/// Signs `account` in: a new session (a new id at every sign-in: an id planted before it is
/// worth nothing after), its cookie, and a redirect to `next` — through the password change
/// first when it must be changed.
pub(crate) async fn start_session(
    portal: &Portal,
    headers: &HeaderMap,
    account: &Account,
    amr: &[&str],
    must_change: bool,
    next: &str,
) -> Result<Response, PageError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        portal.sessions.end(&old).await?;
    }
    let (id, session) = portal
        .sessions
        .create(&account.id, amr, must_change)
        .await?;
    tracing::info!(account = %account.id, method = %amr.join(" "), "portal sign-in");
    let location = if session.must_change_password {
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        format!("/password?{query}")
    } else {
        next.to_owned()
    };
    Ok(with_cookies(
        see_other(&location),
        &[set_cookie(
            SESSION_COOKIE,
            &id,
            session_max_age(portal),
            portal.secure_cookies,
        )],
    ))
}

fn session_max_age(portal: &Portal) -> i64 {
    portal.sessions.settings().absolute_ms / 1000
}

/// Checks a signed-in form's CSRF token.
pub(crate) fn check_csrf(session: &Session, form: &Params) -> Result<(), PageError> {
    if same_token(form.get("csrf").unwrap_or(""), &session.csrf) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

async fn logout(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Params::parse(&body)?;
    if let Some(s) = signed_in(&portal, &headers).await? {
        check_csrf(&s.session, &form)?;
        portal.sessions.end(&s.id).await?;
        tracing::info!(account = %s.account.id, "portal sign-out");
    }
    Ok(with_cookies(
        see_other("/login"),
        &[set_cookie(SESSION_COOKIE, "", 0, portal.secure_cookies)],
    ))
}

fn policy_words(policy: &dingbridge::domain::password::PasswordPolicy) -> String {
    let mut rules = vec![format!("at least {} characters", policy.min_length)];
    if policy.require_lower {
        rules.push("a lower-case letter".into());
    }
    if policy.require_upper {
        rules.push("an upper-case letter".into());
    }
    if policy.require_digit {
        rules.push("a digit".into());
    }
    if policy.require_symbol {
        rules.push("a symbol".into());
    }
    format!("The password needs {}.", rules.join(", "))
}

async fn password_form(
    portal: &Portal,
    s: &SignedIn,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let policy = portal.settings.password_policy().await?;
    let page = pages::password(&pages::Password {
        csrf: &s.session.csrf,
        next,
        forced: s.session.must_change_password,
        error,
        policy: &policy_words(&policy),
    });
    Ok((status, no_store(), Html(page)).into_response())
}

async fn password_page(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = local_path(q.next.as_deref());
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(redirect_to_login("/password"));
    };
    password_form(&portal, &s, &next, None, StatusCode::OK).await
}

async fn change_password(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(redirect_to_login("/password"));
    };
    let form = Params::parse(&body)?;
    check_csrf(&s.session, &form)?;
    let next = local_path(form.get("next"));
    let current = form.get("current").unwrap_or("");
    let new = form.get("new").unwrap_or("");
    if !password_matches(current, s.account.password_hash.as_deref()).await {
        let why = "当前密码不正确。The current password is wrong.";
        return password_form(&portal, &s, &next, Some(why), StatusCode::BAD_REQUEST).await;
    }
    if new != form.get("confirm").unwrap_or("") {
        let why = "两次输入的新密码不一致。The two new passwords differ.";
        return password_form(&portal, &s, &next, Some(why), StatusCode::BAD_REQUEST).await;
    }
    if new == current {
        let why = "新密码不能与当前密码相同。The new password must differ from the current one.";
        return password_form(&portal, &s, &next, Some(why), StatusCode::BAD_REQUEST).await;
    }
    let policy = portal.settings.password_policy().await?;
    let broken = policy.violations(new);
    if !broken.is_empty() {
        let why = format!("The new password {}.", broken.join("; it "));
        return password_form(&portal, &s, &next, Some(&why), StatusCode::BAD_REQUEST).await;
    }
    let owned = new.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&owned))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let actor = Actor::new(Origin::Portal, s.account.id.to_string());
    portal
        .directory
        .update_account(&s.account.id, None, &actor, |a| {
            a.password_hash = Some(hash.clone());
            a.must_change_password = false;
            Ok(())
        })
        .await?;
    portal.sessions.password_changed(&s.id).await?;
    tracing::info!(account = %s.account.id, "portal password changed");
    Ok(see_other(&next))
}

/// The account's units and all their ancestors: an app assigned to a unit is for its sub-units
/// too.
pub(crate) async fn units_with_ancestors(
    portal: &Portal,
    account: &Account,
) -> Result<BTreeSet<dingbridge::domain::ids::OrgUnitId>, PageError> {
    let mut out = BTreeSet::new();
    for unit in account.unit_ids() {
        out.extend(portal.directory.ancestry(&unit).await?);
    }
    Ok(out)
}

/// The enabled apps `account` may use, by name.
pub(crate) async fn apps_of(portal: &Portal, account: &Account) -> Result<Vec<App>, PageError> {
    let units = units_with_ancestors(portal, account).await?;
    let mut apps: Vec<App> = portal
        .apps
        .all()
        .await?
        .into_iter()
        .filter(|a| a.enabled && a.is_assigned(&account.id, &units))
        .collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

async fn home(State(portal): State<Portal>, headers: HeaderMap) -> Result<Response, PageError> {
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(redirect_to_login("/portal"));
    };
    if s.session.must_change_password {
        return Ok(see_other("/password?next=%2Fportal"));
    }
    let apps = apps_of(&portal, &s.account)
        .await?
        .into_iter()
        .map(|a| pages::AppTile {
            initial: a.name.chars().next().map(String::from).unwrap_or_default(),
            client_id: a.client_id,
            name: a.name,
            icon_url: a.icon_url,
        })
        .collect();
    let bindings = portal
        .bindings
        .of_account(&s.account.id)
        .await?
        .into_iter()
        .map(|b| pages::BindingRow {
            name: b.name.unwrap_or_else(|| b.userid.clone()),
            corp_id: b.corp_id,
            userid: b.userid,
            id: b.id,
        })
        .collect();
    let a = &s.account;
    let page = pages::home(&pages::Home {
        csrf: &s.session.csrf,
        display_name: a.display_name.as_str(),
        username: a.username.as_str(),
        email: a.email.as_ref().map(|e| e.as_str()).unwrap_or("—"),
        mobile: a.mobile.as_ref().map(|m| m.as_str()).unwrap_or("—"),
        apps,
        bindings,
    });
    Ok((no_store(), Html(page)).into_response())
}

/// The person removes one of their DingTalk bindings (the next DingTalk sign-in binds again).
async fn remove_binding(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(redirect_to_login("/portal"));
    };
    let form = Params::parse(&body)?;
    check_csrf(&s.session, &form)?;
    let actor = dingbridge::store::Actor::new(Origin::Portal, s.account.id.to_string());
    if portal
        .bindings
        .remove(&s.account.id, id.trim(), &actor)
        .await?
        .is_none()
    {
        return Err(PageError::NotFound);
    }
    tracing::info!(account = %s.account.id, binding = %id, "portal: DingTalk binding removed by its person");
    Ok(see_other("/portal"))
}

/// One click into an app: an OIDC app's own login (third-party-initiated, OIDC Core §4), which
/// completes silently on this session, or its home page; a JWT app gets its signed JWT.
async fn launch(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, PageError> {
    let path = format!("/portal/apps/{client_id}");
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(redirect_to_login(&path));
    };
    if s.session.must_change_password {
        let query = serde_urlencoded::to_string([("next", path.as_str())]).unwrap_or_default();
        return Ok(see_other(&format!("/password?{query}")));
    }
    let Some(app) = portal
        .apps
        .by_client_id(&client_id)
        .await?
        .filter(|a| a.enabled)
    else {
        return Err(PageError::NotFound);
    };
    let units = units_with_ancestors(&portal, &s.account).await?;
    if !app.is_assigned(&s.account.id, &units) {
        return Err(PageError::Forbidden(format!(
            "{} is not assigned to you. Ask your IT administrator for access.",
            app.name
        )));
    }
    let location = match app.kind {
        AppKind::Oidc => match (&app.initiate_login_uri, &app.home_url) {
            (Some(initiate), home) => {
                let mut params = vec![("iss", portal.issuer.clone())];
                if let Some(home) = home {
                    params.push(("target_link_uri", home.clone()));
                }
                append_query(initiate, &params)
            }
            // Through the URL parser: an address registered with non-ASCII text is encoded.
            (None, Some(home)) => append_query::<&str>(home, &[]),
            (None, None) => {
                return Err(PageError::BadRequest(format!(
                    "{} has no sign-in address (initiate_login_uri or home_url): ask your IT administrator.",
                    app.name
                )));
            }
        },
        AppKind::Jwt => {
            let jwt = claims::jwt_for_app(&portal, &app, &s).await?;
            let Some(target) = &app.target_url else {
                return Err(PageError::BadRequest(format!(
                    "{} has no target URL.",
                    app.name
                )));
            };
            let mut params = vec![(app.jwt_param.as_str(), jwt)];
            if let Some(r) = &app.jwt_redirect_url {
                params.push(("redirect_url", r.clone()));
            }
            append_query(target, &params)
        }
    };
    tracing::info!(account = %s.account.id, app = %app.client_id, "portal app launch");
    Ok((no_store(), Redirect::to(&location)).into_response())
}

/// `base` with `params` added to its query.
pub(crate) fn append_query<K: AsRef<str>>(base: &str, params: &[(K, String)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k.as_ref(), v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_owned(),
    }
}
