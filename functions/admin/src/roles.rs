//! Admin roles: `PUT /admin/api/accounts/{id}/roles` `{"roles": ["admin"]}` (or `["viewer"]`, or
//! `[]` to take them away), the account's roles, the accounts holding one, and `GET /me`: who the
//! caller is (a session's account, role and CSRF token for its writes; or a token).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use dingbridge::domain::ids::AccountId;
use dingbridge::store::Actor;
use dingbridge::store::roles::Role;
use dingbridge::web::{ApiError, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Admin;
use crate::auth::Caller;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/accounts/{id}/roles", get(read).put(set))
        .route("/roles", get(holders))
        .route("/me", get(me))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

async fn account(admin: &Admin, raw: &str) -> Result<AccountId, ApiError> {
    let id = AccountId::parse(raw).map_err(|_| ApiError::NotFound)?;
    admin
        .directory
        .account(&id)
        .await?
        .map(|a| a.id)
        .ok_or(ApiError::NotFound)
}

async fn read(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = account(&admin, &id).await?;
    let roles = admin
        .roles
        .get(&id)
        .await?
        .map(|r| r.roles)
        .unwrap_or_default();
    Ok(Json(json!({ "account_id": id, "roles": roles })))
}

async fn set(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(body): Json<RolesBody>,
) -> Result<Json<Value>, ApiError> {
    let id = account(&admin, &id).await?;
    let mut roles = Vec::new();
    for raw in &body.roles {
        roles.push(Role::parse(raw).ok_or_else(|| {
            ApiError::invalid("roles", format!("\"{raw}\" is not a role: admin or viewer"))
        })?);
    }
    let saved = admin.roles.set(&id, roles, &actor).await?;
    tracing::info!(account = %id, roles = ?saved.roles, "set an account's admin roles");
    Ok(Json(json!({ "account_id": id, "roles": saved.roles })))
}

async fn holders(State(admin): State<Admin>) -> Result<Json<Value>, ApiError> {
    let items = admin.roles.holders().await?;
    Ok(Json(json!({ "items": items })))
}

async fn me(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(match caller.session {
        Some(s) => json!({"kind": "session", "account_id": s.account_id, "role": s.role,
            "csrf_token": s.csrf, "csrf_header": crate::auth::CSRF_HEADER}),
        None => json!({"kind": "token", "role": "admin"}),
    })
}
