//! SCIM clients (OAuth 2.0 client credentials for identity systems that push over SCIM): create,
//! list, read, change, rotate the secret, revoke, delete. A secret is shown once, in the answer
//! that made it; lists and reads never carry a secret or a hash. Every write is audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use dingbridge::domain::ids::{ConnectorId, OrgUnitId, ScimClientId};
use dingbridge::domain::values::InvalidField;
use dingbridge::oauth::{scim_audience, token_url};
use dingbridge::store::Actor;
use dingbridge::store::scim_clients::{
    DEFAULT_TOKEN_LIFETIME_S, NewScimClient, ScimClient, ScimClientChange, ScimClientView,
    TOKEN_LIFETIME_S, id_of_client_id,
};
use dingbridge::web::{ApiError, FieldProblem, Json, decode};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::paging::{PageRequest, Paged};

/// Names are labels in lists and audit entries.
const MAX_NAME_CHARS: usize = 100;
/// A day: long enough to roll a secret out to the identity system that uses it.
const DEFAULT_OVERLAP_S: i64 = 86_400;
/// A week at most: an old secret should not live on for long.
const MAX_OVERLAP_S: i64 = 7 * 86_400;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/scim-clients", get(list).post(create))
        .route("/scim-clients/{id}", get(read).patch(update).delete(delete))
        .route("/scim-clients/{id}/rotate", post(rotate))
        .route("/scim-clients/{id}/revoke", post(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    name: String,
    connector_id: Option<String>,
    root_org_unit_id: Option<String>,
    token_lifetime_s: Option<u32>,
    #[serde(default)]
    allow_basic: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    name: Option<String>,
    token_lifetime_s: Option<u32>,
    allow_basic: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    overlap_s: Option<i64>,
}

/// A client with where it gets tokens and what it talks to.
#[derive(Serialize)]
struct ClientAnswer {
    #[serde(flatten)]
    client: ScimClientView,
    scim_base_url: String,
    token_url: String,
}

/// The answer that carries the secret: creation and rotation, once.
#[derive(Serialize)]
struct WithSecret {
    #[serde(flatten)]
    client: ClientAnswer,
    client_secret: String,
}

#[derive(Serialize)]
struct Deleted {
    id: ScimClientId,
    deleted: bool,
}

fn answer(admin: &Admin, client: &ScimClient) -> ClientAnswer {
    ClientAnswer {
        client: ScimClientView::from(client),
        scim_base_url: scim_audience(&admin.deps.public_base_url),
        token_url: token_url(&admin.deps.public_base_url),
    }
}

/// The client a path names, by id or by public client id.
async fn load(admin: &Admin, raw: &str) -> Result<ScimClient, ApiError> {
    let id = ScimClientId::parse(raw)
        .ok()
        .or_else(|| id_of_client_id(raw.trim()))
        .ok_or(ApiError::NotFound)?;
    admin.scim_clients.get(&id).await?.ok_or(ApiError::NotFound)
}

fn check_name(raw: &str, problems: &mut Vec<InvalidField>) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() {
        problems.push(InvalidField::new("name", "is required"));
        None
    } else if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        problems.push(InvalidField::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters, without control characters"),
        ));
        None
    } else {
        Some(name.to_owned())
    }
}

fn check_lifetime(raw: Option<u32>, problems: &mut Vec<InvalidField>) -> Option<u32> {
    let lifetime = raw?;
    if TOKEN_LIFETIME_S.contains(&lifetime) {
        Some(lifetime)
    } else {
        problems.push(InvalidField::new(
            "token_lifetime_s",
            format!(
                "must be from {} to {} seconds",
                TOKEN_LIFETIME_S.start(),
                TOKEN_LIFETIME_S.end()
            ),
        ));
        None
    }
}

fn refused(problems: Vec<InvalidField>) -> ApiError {
    ApiError::InvalidFields(problems.into_iter().map(FieldProblem::from).collect())
}

fn blank(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// The connector and the root unit a new client is limited to. A connector without a given
/// root lends its push root; one with no push root cannot scope the client.
async fn scope(
    admin: &Admin,
    body: &NewClientBody,
    problems: &mut Vec<InvalidField>,
) -> Result<(Option<ConnectorId>, Option<OrgUnitId>), ApiError> {
    let mut connector = None;
    if let Some(raw) = blank(body.connector_id.as_deref()) {
        match ConnectorId::parse(raw) {
            Err(_) => problems.push(InvalidField::new("connector_id", "is not a connector id")),
            Ok(id) => match admin.connectors.get(&id).await? {
                None => problems.push(InvalidField::new(
                    "connector_id",
                    "does not name an existing connector",
                )),
                Some(c) => connector = Some(c),
            },
        }
    }
    let mut root = None;
    if let Some(raw) = blank(body.root_org_unit_id.as_deref()) {
        match OrgUnitId::parse(raw) {
            Err(_) => problems.push(InvalidField::new(
                "root_org_unit_id",
                "is not an org unit id",
            )),
            Ok(id) if admin.directory.org_unit(&id).await?.is_none() => problems.push(
                InvalidField::new("root_org_unit_id", "does not name an existing org unit"),
            ),
            Ok(id) => root = Some(id),
        }
    } else if let Some(c) = &connector {
        match &c.push.push_root_org_unit_id {
            Some(push_root) => root = Some(push_root.clone()),
            None => problems.push(InvalidField::new(
                "connector_id",
                "names a connector without a push root (push_root_org_unit_id): give \
                 root_org_unit_id, or set the connector's push root first",
            )),
        }
    }
    Ok((connector.map(|c| c.id), root))
}

async fn create(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<NewClientBody>,
) -> Result<(StatusCode, Json<WithSecret>), ApiError> {
    let mut problems = Vec::new();
    let name = check_name(&body.name, &mut problems);
    let lifetime = check_lifetime(body.token_lifetime_s, &mut problems);
    let (connector_id, root_org_unit_id) = scope(&admin, &body, &mut problems).await?;
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        return Err(refused(problems));
    };
    let (client, secret) = admin
        .scim_clients
        .create(
            NewScimClient {
                name,
                connector_id,
                root_org_unit_id,
                token_lifetime_s: lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME_S),
                allow_basic: body.allow_basic,
            },
            &actor,
        )
        .await?;
    tracing::info!(client_id = %client.client_id, "created a SCIM client");
    Ok((
        StatusCode::CREATED,
        Json(WithSecret {
            client: answer(&admin, &client),
            client_secret: secret,
        }),
    ))
}

async fn list(
    State(admin): State<Admin>,
    page: PageRequest,
) -> Result<Paged<ClientAnswer>, ApiError> {
    let found = page
        .load(|limit, cursor| admin.scim_clients.list(limit, cursor))
        .await?;
    Ok(Paged::from_page(found, |c| answer(&admin, &c)))
}

async fn read(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<ClientAnswer>, ApiError> {
    let client = load(&admin, &id).await?;
    Ok(Json(answer(&admin, &client)))
}

async fn update(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(body): Json<ChangeBody>,
) -> Result<Json<ClientAnswer>, ApiError> {
    let old = load(&admin, &id).await?;
    let mut problems = Vec::new();
    let name = body
        .name
        .as_deref()
        .and_then(|raw| check_name(raw, &mut problems));
    let lifetime = check_lifetime(body.token_lifetime_s, &mut problems);
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let change = ScimClientChange {
        name,
        token_lifetime_s: lifetime,
        allow_basic: body.allow_basic,
    };
    let saved = admin.scim_clients.update(&old, change, &actor).await?;
    Ok(Json(answer(&admin, &saved)))
}

/// A new secret, shown once; the old one keeps working for `overlap_s` (default a day).
async fn rotate(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<WithSecret>, ApiError> {
    let old = load(&admin, &id).await?;
    // The body is optional: `{}` or nothing rotates with the default overlap.
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        decode(&body)?
    };
    let overlap_s = body.overlap_s.unwrap_or(DEFAULT_OVERLAP_S);
    if !(0..=MAX_OVERLAP_S).contains(&overlap_s) {
        return Err(ApiError::invalid(
            "overlap_s",
            format!("must be from 0 to {MAX_OVERLAP_S} seconds (7 days)"),
        ));
    }
    if old.revoked_ms.is_some() {
        return Err(ApiError::Conflict(
            "the client is revoked; create a new one".to_owned(),
        ));
    }
    let (client, secret) = admin
        .scim_clients
        .rotate(&old, overlap_s * 1000, &actor)
        .await?;
    tracing::info!(client_id = %client.client_id, overlap_s, "rotated a SCIM client's secret");
    Ok(Json(WithSecret {
        client: answer(&admin, &client),
        client_secret: secret,
    }))
}

/// Revokes the client: no more tokens, and the tokens it holds stop working at once. Revoking
/// a revoked client changes nothing.
async fn revoke(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<ClientAnswer>, ApiError> {
    let old = load(&admin, &id).await?;
    if old.revoked_ms.is_some() {
        return Ok(Json(answer(&admin, &old)));
    }
    let client = admin.scim_clients.revoke(&old, &actor).await?;
    tracing::info!(client_id = %client.client_id, "revoked a SCIM client");
    Ok(Json(answer(&admin, &client)))
}

async fn delete(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let old = load(&admin, &id).await?;
    admin.scim_clients.delete(&old, &actor).await?;
    Ok(Json(Deleted {
        id: old.id,
        deleted: true,
    }))
}
