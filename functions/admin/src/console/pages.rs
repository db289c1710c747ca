//! The console's pages whose data the page's script reads from the admin API (and whose forms it
//! sends there): the connector form, the directory, an account, sync history, security settings
//! and the audit log. The server renders the frame, the words and the forms' fields; the API
//! keeps every rule.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use dingbridge::domain::ids::{AccountId, AppId, ConnectorId};
use dingbridge::web::ApiError;

use super::{Chrome, LangQuery, Text, connector_choices, enter};
use crate::Admin;

/// One field of a form: its API name and how it is typed in.
pub(crate) struct Field {
    pub name: &'static str,
    /// `text`, `secret`, `int`, `float`, `bool` or `select`.
    pub input: &'static str,
    /// A select's values (each has a word `o.{value}`).
    pub options: &'static [&'static str],
    /// Required when creating.
    pub required: bool,
}

const fn field(name: &'static str, input: &'static str) -> Field {
    Field {
        name,
        input,
        options: &[],
        required: false,
    }
}

const fn required(name: &'static str, input: &'static str) -> Field {
    Field {
        name,
        input,
        options: &[],
        required: true,
    }
}

const fn select(name: &'static str, options: &'static [&'static str]) -> Field {
    Field {
        name,
        input: "select",
        options,
        required: false,
    }
}

/// The connector form, in the order of the IDaaS manual's 钉钉同步配置, each field explained
/// (`f.{name}` and `f.{name}.help`).
pub(crate) const CONNECTOR_FORM: &[(&str, &[Field])] = &[
    (
        "section.app",
        &[
            required("name", "text"),
            required("corp_id", "text"),
            required("app_key", "text"),
            required("app_secret", "secret"),
            field("agent_id", "int"),
            field("enabled", "bool"),
        ],
    ),
    (
        "section.callback",
        &[
            field("register_callback", "bool"),
            field("callback_token", "secret"),
            field("callback_aes_key", "secret"),
            select("receive_id_mode", &["corp_id", "app_key"]),
        ],
    ),
    (
        "section.pull",
        &[
            field("root_org_unit_id", "text"),
            select("email_field", &["email", "org_email"]),
            field("default_password", "secret"),
            select("leaver_policy", &["disable", "delete"]),
            select("pull_mode", &["review", "auto"]),
            field("pull_schedule", "text"),
            field("mass_delete_max_share", "float"),
            field("mass_delete_max_count", "int"),
        ],
    ),
    (
        "section.push",
        &[
            field("push_enabled", "bool"),
            field("push_root_org_unit_id", "text"),
            field("push_dingtalk_parent", "int"),
            select("push_link_mode", &["mapping", "association"]),
            select("push_delete_policy", &["delete", "move", "keep"]),
            field("push_move_dept_id", "int"),
            select("push_email_field", &["email", "org_email"]),
        ],
    ),
    (
        "section.advanced",
        &[
            field("oapi_base", "text"),
            field("api_base", "text"),
            field("login_base", "text"),
        ],
    ),
];

#[derive(Template)]
#[template(path = "console/connector.html")]
struct ConnectorPage {
    t: Text,
    chrome: Chrome,
    /// `None` on the creation page.
    id: Option<String>,
    /// Where DingTalk posts the connector's events (to enter in its event subscription).
    callback_url: String,
    sections: &'static [(&'static str, &'static [Field])],
}

pub(crate) async fn new_connector(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/connectors/new", "overview").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    Ok(e.respond(|t, chrome| ConnectorPage {
        t,
        chrome,
        id: None,
        callback_url: String::new(),
        sections: CONNECTOR_FORM,
    }))
}

pub(crate) async fn edit_connector(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let path = format!("/admin/connectors/{}", id.trim());
    let e = match enter(&admin, &headers, &q, &path, "overview").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let id = ConnectorId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if admin.connectors.get(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let callback_url = crate::callback::callback_url(&admin.deps.public_base_url, id.as_str());
    Ok(e.respond(|t, chrome| ConnectorPage {
        t,
        chrome,
        id: Some(id.to_string()),
        callback_url,
        sections: CONNECTOR_FORM,
    }))
}

/// A push-enabled connector of the sync page: its parked pushes are listed.
pub(crate) struct Pushed {
    id: String,
    name: String,
}

/// A connector's callback, as the sync page shows it.
pub(crate) struct CallbackRow {
    name: String,
    registered: bool,
    status: String,
}

#[derive(Template)]
#[template(path = "console/sync.html")]
struct SyncPage {
    t: Text,
    chrome: Chrome,
    callbacks: Vec<CallbackRow>,
    pushed: Vec<Pushed>,
}

pub(crate) async fn sync(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/sync", "sync").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let connectors = admin.connectors.all().await?;
    let callbacks = connectors
        .iter()
        .map(|c| CallbackRow {
            name: c.name.clone(),
            registered: c.register_callback,
            status: c.callback_status.clone().unwrap_or_else(|| "—".to_owned()),
        })
        .collect();
    let pushed = connectors
        .into_iter()
        .filter(|c| c.push.push_enabled)
        .map(|c| Pushed {
            id: c.id.to_string(),
            name: c.name,
        })
        .collect();
    Ok(e.respond(|t, chrome| SyncPage {
        t,
        chrome,
        callbacks,
        pushed,
    }))
}

#[derive(Template)]
#[template(path = "console/directory.html")]
struct DirectoryPage {
    t: Text,
    chrome: Chrome,
}

pub(crate) async fn directory(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/directory", "directory").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    Ok(e.respond(|t, chrome| DirectoryPage { t, chrome }))
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    t: Text,
    chrome: Chrome,
    id: String,
}

pub(crate) async fn account(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let path = format!("/admin/directory/accounts/{}", id.trim());
    let e = match enter(&admin, &headers, &q, &path, "directory").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let id = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if admin.directory.account(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(e.respond(|t, chrome| AccountPage {
        t,
        chrome,
        id: id.to_string(),
    }))
}

#[derive(Template)]
#[template(path = "console/security.html")]
struct SecurityPage {
    t: Text,
    chrome: Chrome,
    /// (id, name) of every connector, for the SCIM client's connector.
    connectors: Vec<(String, String)>,
}

pub(crate) async fn security(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/security", "security").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let connectors = connector_choices(&admin).await?;
    Ok(e.respond(|t, chrome| SecurityPage {
        t,
        chrome,
        connectors,
    }))
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    t: Text,
    chrome: Chrome,
    kinds: &'static [&'static str],
}

pub(crate) async fn audit(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let e = match enter(&admin, &headers, &q, "/admin/audit", "audit").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    Ok(e.respond(|t, chrome| AuditPage {
        t,
        chrome,
        kinds: &dingbridge::store::audit::ENTITY_KINDS,
    }))
}

#[derive(Template)]
#[template(path = "console/source.html")]
struct SourcePage {
    t: Text,
    chrome: Chrome,
    id: String,
    /// (id, name) of every connector, for the source's corp app.
    connectors: Vec<(String, String)>,
    editing: bool,
}

/// An auth source's settings, in the creation form's fields.
pub(crate) async fn source(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let path = format!("/admin/sign-in/sources/{}", id.trim());
    let e = match enter(&admin, &headers, &q, &path, "sign_in").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let source = admin.sources.get(&id).await?.ok_or(ApiError::NotFound)?;
    let connectors = connector_choices(&admin).await?;
    Ok(e.respond(|t, chrome| SourcePage {
        t,
        chrome,
        id: source.id,
        connectors,
        editing: true,
    }))
}

#[derive(Template)]
#[template(path = "console/app.html")]
struct AppPage {
    t: Text,
    chrome: Chrome,
    id: String,
    editing: bool,
}

/// An app's settings, in the creation form's fields (sent whole: the API replaces them).
pub(crate) async fn app(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let path = format!("/admin/sign-in/apps/{}", id.trim());
    let e = match enter(&admin, &headers, &q, &path, "sign_in").await? {
        Ok(e) => e,
        Err(away) => return Ok(away),
    };
    let id = AppId::parse(&id).map_err(|_| ApiError::NotFound)?;
    if admin.apps.get(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(e.respond(|t, chrome| AppPage {
        t,
        chrome,
        id: id.to_string(),
        editing: true,
    }))
}
