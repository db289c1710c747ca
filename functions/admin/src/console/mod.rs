//! The admin console's first pages under `/admin/`: server-rendered askama pages (compiled into
//! the binary) in Chinese by default and English on request (`?lang=en`, kept in a cookie), with
//! one small script of our own that calls the admin API with the session's CSRF token. The API
//! stays the one place where the rules live: pages only read the stores and show them; every
//! action goes through `/admin/api/`. Admins sign in on the portal's sign-in page; the first
//! admin is made once with the deployment's bootstrap admin token (`/admin/bootstrap`).
//!
//! Pages: the connectors (list, create and edit with each field explained, test connection), the
//! imports (start a full pull, its progress, the review of its staged rows, confirm, discard),
//! sync history (runs, parked events and failed pushes with re-drive, callbacks), the directory
//! (org tree, accounts, create/edit/move/disable/delete, DingTalk ids, push state, bindings),
//! sign-in and apps, security settings (password policy, SCIM clients, signing keys), the admin
//! roles and the audit log (`docs/CONSOLE.md`).

mod form_words;
mod pages;
mod text;
mod words;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use dingbridge::domain::directory::{AccountStatus, Origin};
use dingbridge::domain::ids::AccountId;
use dingbridge::store::Actor;
use dingbridge::store::auth_sources::{SourceKind, micro_home_url, qr_redirect_url};
use dingbridge::store::roles::Role;
use dingbridge::store::sessions::Session;
use dingbridge::web::ApiError;
use serde::Deserialize;

use crate::Admin;
use crate::auth::SESSION_COOKIE;
pub use text::{Lang, Text};

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");
const RUN_JS: &str = include_str!("../../assets/run.js");
const DIRECTORY_JS: &str = include_str!("../../assets/directory.js");
const LANG_COOKIE: &str = "dblang";

/// Every console page: only this site's script and style sheet, no framing, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        // `/admin` is the API Gateway route of the home page; `/admin/` serves it too.
        .route("/admin", get(overview))
        .route("/admin/", get(overview))
        .route("/admin/sign-in", get(sign_in))
        .route("/admin/roles", get(roles))
        .route("/admin/imports", get(imports))
        .route("/admin/imports/{id}", get(run))
        .route("/admin/connectors/new", get(pages::new_connector))
        .route("/admin/connectors/{id}", get(pages::edit_connector))
        .route("/admin/sync", get(pages::sync))
        .route("/admin/directory", get(pages::directory))
        .route("/admin/directory/accounts/{id}", get(pages::account))
        .route("/admin/security", get(pages::security))
        .route("/admin/sign-in/sources/{id}", get(pages::source))
        .route("/admin/sign-in/apps/{id}", get(pages::app))
        .route("/admin/audit", get(pages::audit))
        .route("/admin/bootstrap", axum::routing::post(bootstrap))
        .route(
            "/admin/assets/console.css",
            get(|| async { asset(CSS, "text/css") }),
        )
        .route(
            "/admin/assets/console.js",
            get(|| async { asset(JS, "text/javascript") }),
        )
        .route(
            "/admin/assets/run.js",
            get(|| async { asset(RUN_JS, "text/javascript") }),
        )
        .route(
            "/admin/assets/directory.js",
            get(|| async { asset(DIRECTORY_JS, "text/javascript") }),
        )
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let kind = HeaderValue::from_static(kind);
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

/// The page's language: `?lang=`, else the cookie, else Chinese; and the cookie to set.
fn language(headers: &HeaderMap, q: &LangQuery) -> (Lang, Option<HeaderValue>) {
    match q.lang.as_deref().and_then(Lang::parse) {
        Some(lang) => {
            let cookie = format!(
                "{LANG_COOKIE}={}; Path=/admin; SameSite=Lax; Max-Age=31536000",
                lang.code()
            );
            (lang, HeaderValue::from_str(&cookie).ok())
        }
        None => (
            crate::auth::cookie(headers, LANG_COOKIE)
                .and_then(Lang::parse)
                .unwrap_or_default(),
            None,
        ),
    }
}

fn page(html: String, set_lang: Option<HeaderValue>, status: StatusCode) -> Response {
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = set_lang {
        h.append(header::SET_COOKIE, c);
    }
    response
}

fn render<T: Template>(t: &T) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a console page failed to render");
        "internal error".to_owned()
    })
}

/// The signed-in admin of a page request.
struct Viewer {
    name: String,
    role: Role,
}

/// What every page's frame shows: the page it is, who is signed in, and whether they may change
/// anything (a viewer's page shows no working write control; the API refuses their writes too).
pub(crate) struct Chrome {
    page: &'static str,
    who: String,
    role: &'static str,
    readonly: bool,
}

/// A page request that may see its page: its words, the language cookie to set, its frame.
struct Entered {
    t: Text,
    set_lang: Option<HeaderValue>,
    chrome: Chrome,
}

impl Entered {
    fn respond<T: Template>(self, page_of: impl FnOnce(Text, Chrome) -> T) -> Response {
        let html = render(&page_of(self.t, self.chrome));
        page(html, self.set_lang, StatusCode::OK)
    }
}

/// Who may see the console: the session's enabled account with a role; else where to go.
enum Gate {
    Allowed(Viewer),
    SignIn,
    ChangePassword,
    /// Signed in, no role: the page that says so (with the bootstrap form while no admin exists).
    NoRole(Box<Session>),
}

async fn gate(admin: &Admin, headers: &HeaderMap) -> Result<Gate, ApiError> {
    let Some(id) = crate::auth::cookie(headers, SESSION_COOKIE) else {
        return Ok(Gate::SignIn);
    };
    let Some(session) = admin.sessions.get(id).await? else {
        return Ok(Gate::SignIn);
    };
    let account = admin.directory.account(&session.account_id).await?;
    let Some(account) = account.filter(|a| a.status == AccountStatus::Enabled) else {
        return Ok(Gate::SignIn);
    };
    if session.must_change_password {
        return Ok(Gate::ChangePassword);
    }
    match admin
        .roles
        .get(&account.id)
        .await?
        .and_then(|r| r.strongest())
    {
        Some(role) => Ok(Gate::Allowed(Viewer {
            name: format!(
                "{} ({})",
                account.display_name.as_str(),
                account.username.as_str()
            ),
            role,
        })),
        None => Ok(Gate::NoRole(Box::new(session))),
    }
}

#[derive(Template)]
#[template(path = "console/gate.html")]
struct GatePage<'a> {
    t: Text,
    bootstrap: bool,
    csrf: &'a str,
    error: Option<&'a str>,
}

/// The answer for a request that may not see the page.
async fn turned_away(
    admin: &Admin,
    gate: Gate,
    t: Text,
    set_lang: Option<HeaderValue>,
    path: &str,
) -> Result<Response, ApiError> {
    let next = serde_urlencoded::to_string([("next", path)]).unwrap_or_default();
    Ok(match gate {
        Gate::SignIn => Redirect::to(&format!("/login?{next}")).into_response(),
        Gate::ChangePassword => Redirect::to(&format!("/password?{next}")).into_response(),
        Gate::NoRole(session) => {
            let bootstrap = admin.roles.holders().await?.is_empty();
            let html = render(&GatePage {
                t,
                bootstrap,
                csrf: &session.csrf,
                error: None,
            });
            page(html, set_lang, StatusCode::FORBIDDEN)
        }
        Gate::Allowed(_) => Redirect::to(path).into_response(),
    })
}

struct ConnectorRow {
    id: String,
    name: String,
    corp_id: String,
    app_key: String,
    callback: String,
    push: bool,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    t: Text,
    chrome: Chrome,
    connectors: Vec<ConnectorRow>,
}

/// A page request's language and signed-in admin, or the answer that turns it away.
async fn enter(
    admin: &Admin,
    headers: &HeaderMap,
    q: &LangQuery,
    path: &str,
    page: &'static str,
) -> Result<Result<Entered, Response>, ApiError> {
    let (lang, set_lang) = language(headers, q);
    let t = Text(lang);
    Ok(match gate(admin, headers).await? {
        Gate::Allowed(v) => Ok(Entered {
            t,
            set_lang,
            chrome: Chrome {
                page,
                who: v.name,
                role: role_name(t, v.role),
                readonly: v.role != Role::Admin,
            },
        }),
        other => Err(turned_away(admin, other, t, set_lang, path).await?),
    })
}

/// (id, name) of every connector: the choices of a page's connector menus.
async fn connector_choices(admin: &Admin) -> Result<Vec<(String, String)>, ApiError> {
    Ok(admin
        .connectors
        .all()
        .await?
        .into_iter()
        .map(|c| (c.id.to_string(), c.name))
        .collect())
}

fn role_name(t: Text, role: Role) -> &'static str {
    match role {
        Role::Admin => t.s("role.admin"),
        Role::Viewer => t.s("role.viewer"),
    }
}

async fn overview(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin", "overview").await? {
        Ok(entered) => entered,
        Err(away) => return Ok(away),
    };
    let connectors = admin
        .connectors
        .all()
        .await?
        .into_iter()
        .map(|c| ConnectorRow {
            id: c.id.to_string(),
            name: c.name,
            corp_id: c.corp_id.to_string(),
            app_key: c.app_key.to_string(),
            callback: c.callback_status.unwrap_or_else(|| "—".to_owned()),
            push: c.push.push_enabled,
        })
        .collect();
    Ok(e.respond(|t, chrome| Overview {
        t,
        chrome,
        connectors,
    }))
}

struct SourceRow {
    id: String,
    name: String,
    kind: &'static str,
    /// (label, URL to register in DingTalk).
    urls: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignIn {
    t: Text,
    chrome: Chrome,
    sources: Vec<SourceRow>,
    /// (id, name) of every connector, for a source's corp app.
    connectors: Vec<(String, String)>,
    /// The forms create (the edit pages share their fields).
    editing: bool,
}

async fn sign_in(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/sign-in", "sign_in").await? {
        Ok(entered) => entered,
        Err(away) => return Ok(away),
    };
    let base = admin.deps.public_base_url.clone();
    let apps = admin.apps.all().await?;
    let sources = admin
        .sources
        .all()
        .await?
        .into_iter()
        .map(|s| {
            let urls = match s.kind {
                SourceKind::DingtalkQr => {
                    vec![("RedirectUrl".to_owned(), qr_redirect_url(&base, &s.id))]
                }
                SourceKind::DingtalkMicro => apps
                    .iter()
                    .filter(|a| a.enabled)
                    .map(|a| {
                        let agent = s.agent_id.clone().unwrap_or_default();
                        (a.name.clone(), micro_home_url(&base, &agent, &a.client_id))
                    })
                    .collect(),
            };
            SourceRow {
                id: s.id,
                name: s.name,
                kind: match s.kind {
                    SourceKind::DingtalkQr => e.t.s("kind.qr"),
                    SourceKind::DingtalkMicro => e.t.s("kind.micro"),
                },
                urls,
            }
        })
        .collect();
    let connectors = connector_choices(&admin).await?;
    Ok(e.respond(|t, chrome| SignIn {
        t,
        chrome,
        sources,
        connectors,
        editing: false,
    }))
}

struct RunRow {
    id: String,
    started: String,
    kind: &'static str,
    state: &'static str,
    counts: String,
    confirmed_by: String,
}

#[derive(Template)]
#[template(path = "console/imports.html")]
struct Imports {
    t: Text,
    chrome: Chrome,
    /// (id, name).
    connectors: Vec<(String, String)>,
    runs: Vec<RunRow>,
}

/// Runs listed on the imports page.
const RECENT_RUNS: usize = 50;

async fn imports(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/imports", "imports").await? {
        Ok(entered) => entered,
        Err(away) => return Ok(away),
    };
    let connectors = connector_choices(&admin).await?;
    let page_of = admin
        .pull_runs
        .store()
        .list(None, RECENT_RUNS, None)
        .await
        .map_err(ApiError::from)?;
    let runs = page_of
        .items
        .into_iter()
        .map(|r| RunRow {
            id: r.id.to_string(),
            started: chrono::DateTime::from_timestamp_millis(r.started_ms)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            kind: r.kind.as_str(),
            state: r.state.as_str(),
            counts: format!(
                "{} / {} / {}",
                r.counters.departments, r.counters.users, r.counters.api_calls
            ),
            confirmed_by: r.confirmed_by.unwrap_or_default(),
        })
        .collect();
    Ok(e.respond(|t, chrome| Imports {
        t,
        chrome,
        connectors,
        runs,
    }))
}

#[derive(Template)]
#[template(path = "console/run.html")]
struct RunPage {
    t: Text,
    chrome: Chrome,
    id: String,
}

/// A run's review: the page's script reads the run and its staged rows from the admin API
/// (progress while it walks) and acts through it.
async fn run(
    State(admin): State<Admin>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let path = format!("/admin/imports/{}", id.trim());
    let e = match enter(&admin, &headers, &q, &path, "imports").await? {
        Ok(entered) => entered,
        Err(away) => return Ok(away),
    };
    let id = dingbridge::domain::ids::RunId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if admin
        .pull_runs
        .store()
        .get(&id)
        .await
        .map_err(ApiError::from)?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    Ok(e.respond(|t, chrome| RunPage {
        t,
        chrome,
        id: id.to_string(),
    }))
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct Roles {
    t: Text,
    chrome: Chrome,
    /// (account id, account, role).
    holders: Vec<(String, String, &'static str)>,
}

async fn roles(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/roles", "roles").await? {
        Ok(entered) => entered,
        Err(away) => return Ok(away),
    };
    let mut holders = Vec::new();
    for r in admin.roles.holders().await? {
        let name = match admin.directory.account(&r.account_id).await? {
            Some(a) => format!("{} ({})", a.display_name.as_str(), a.username.as_str()),
            None => r.account_id.to_string(),
        };
        if let Some(role) = r.strongest() {
            holders.push((r.account_id.to_string(), name, role_name(e.t, role)));
        }
    }
    Ok(e.respond(|t, chrome| Roles { t, chrome, holders }))
}

/// The first admin: a signed-in account without a role gives the deployment's bootstrap admin
/// token once, while no account holds a role; it becomes `admin`.
async fn bootstrap(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (lang, set_lang) = language(&headers, &LangQuery::default());
    let t = Text(lang);
    let session = match gate(&admin, &headers).await? {
        Gate::NoRole(session) => session,
        other => return turned_away(&admin, other, t, set_lang, "/admin").await,
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::BadRequest("the form could not be read".into()))?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if !dingbridge::secrets::same_token(field("csrf"), &session.csrf) {
        return Err(ApiError::Forbidden);
    }
    let refuse = |error: &str| {
        let html = render(&GatePage {
            t,
            bootstrap: true,
            csrf: &session.csrf,
            error: Some(error),
        });
        page(html, None, StatusCode::FORBIDDEN)
    };
    if !admin.roles.holders().await?.is_empty() {
        return Ok(refuse(t.s("bootstrap.done")));
    }
    let token = field("token").trim();
    if token.is_empty() || token.len() > 512 || admin.tokens.find(token).await?.is_none() {
        tracing::info!(account = %session.account_id, "console bootstrap refused: not an admin token");
        return Ok(refuse(t.s("bootstrap.wrong")));
    }
    let account: AccountId = session.account_id.clone();
    let actor = Actor::new(Origin::Admin, format!("bootstrap:{account}"));
    admin.roles.set(&account, vec![Role::Admin], &actor).await?;
    tracing::info!(account = %account, "the first admin was made with the bootstrap token");
    Ok(Redirect::to("/admin").into_response())
}
