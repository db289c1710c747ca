//! Connector CRUD: input trimmed and checked with every problem reported at once, secrets
//! write-only (the answers are `ConnectorView`s), the callback registration kept in step on save.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use dingbridge::domain::connector::{
    CheckedConnector, Connector, ConnectorInput, ConnectorView, check_input,
};
use dingbridge::domain::ids::{ConnectorId, OrgUnitId};
use dingbridge::domain::values::InvalidField;
use dingbridge::store::Actor;
use dingbridge::store::connectors::Connectors;
use dingbridge::web::{ApiError, FieldProblem, Json};
use serde::Serialize;

use crate::Admin;
use crate::callback::{self, CallbackOutcome};
use crate::paging::{PageRequest, Paged};

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route(
            "/connectors/{id}",
            get(read).put(update).patch(update).delete(delete),
        )
}

/// A saved connector, with what happened at DingTalk when the save touched the callback.
#[derive(Serialize)]
struct Saved {
    #[serde(flatten)]
    connector: ConnectorView,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<CallbackOutcome>,
    /// The fields whose value had spaces around it (trimmed before saving).
    warnings: serde_json::Value,
}

#[derive(Serialize)]
struct Deleted {
    id: ConnectorId,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<CallbackOutcome>,
}

/// The stored connector a path names; an id that cannot exist is simply not found.
pub(crate) async fn load(admin: &Admin, raw_id: &str) -> Result<Connector, ApiError> {
    let id = ConnectorId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    admin.connectors.get(&id).await?.ok_or(ApiError::NotFound)
}

/// `check_input` plus what only the store knows (the root org unit exists), every problem at once.
async fn check(
    admin: &Admin,
    input: &ConnectorInput,
    base: Option<&Connector>,
) -> Result<CheckedConnector, ApiError> {
    let policy = admin.settings.password_policy().await?;
    let base = base.map(|c| (c, Connectors::stored_secrets(c)));
    let (checked, mut problems) = match check_input(input, base, &policy) {
        Ok(c) => (Some(c), Vec::new()),
        Err(problems) => (None, problems),
    };
    for (field, raw) in [
        ("root_org_unit_id", &input.root_org_unit_id),
        ("push_root_org_unit_id", &input.push_root_org_unit_id),
    ] {
        let unit = raw
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|raw| OrgUnitId::parse(raw).ok());
        if let Some(unit) = unit
            && admin.directory.org_unit(&unit).await?.is_none()
        {
            problems.push(InvalidField::new(
                field,
                "does not name an existing org unit",
            ));
        }
    }
    match checked {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(ApiError::InvalidFields(
            problems.into_iter().map(FieldProblem::from).collect(),
        )),
    }
}

async fn create(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(input): Json<ConnectorInput>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let checked = check(&admin, &input, None).await?;
    let root = admin.directory.ensure_root().await?;
    let created = admin.connectors.create(checked, root.id, &actor).await?;
    let (saved, callback) = callback::after_save(&admin, None, created, &actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(Saved {
            connector: ConnectorView::from(&saved),
            callback,
            warnings: crate::explain::trimmed(&input.trimmed_fields()),
        }),
    ))
}

async fn list(
    State(admin): State<Admin>,
    page: PageRequest,
) -> Result<Paged<ConnectorView>, ApiError> {
    let found = page
        .load(|limit, cursor| admin.connectors.list(limit, cursor))
        .await?;
    Ok(Paged::from_page(found, |c| ConnectorView::from(&c)))
}

async fn read(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<ConnectorView>, ApiError> {
    let c = load(&admin, &id).await?;
    Ok(Json(ConnectorView::from(&c)))
}

/// PUT and PATCH alike: absent fields keep their value, secrets are replaced only when given.
async fn update(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(input): Json<ConnectorInput>,
) -> Result<Json<Saved>, ApiError> {
    let old = load(&admin, &id).await?;
    let checked = check(&admin, &input, Some(&old)).await?;
    let updated = admin.connectors.update(&old, checked, &actor).await?;
    let (saved, callback) = callback::after_save(&admin, Some(&old), updated, &actor).await?;
    Ok(Json(Saved {
        connector: ConnectorView::from(&saved),
        callback,
        warnings: crate::explain::trimmed(&input.trimmed_fields()),
    }))
}

async fn delete(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let old = load(&admin, &id).await?;
    // DingTalk first: once the connector is gone, its credentials to delete with are gone too.
    let callback = callback::before_delete(&admin, &old).await?;
    admin.connectors.delete(&old, &actor).await?;
    Ok(Json(Deleted {
        id: old.id,
        deleted: true,
        callback,
    }))
}
