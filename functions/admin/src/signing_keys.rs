//! The deployment's token-signing keys (id_tokens, JWT-app tokens, SCIM access tokens): list
//! them, and start a rotation — a new key published at once that signs ten minutes later, the
//! old one kept in the JWKS until the tokens it signed have expired. Private halves never leave
//! the table.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use dingbridge::signing::{KeyInfo, SigningError, SigningKeys, key_infos};
use dingbridge::store::Actor;
use dingbridge::web::{ApiError, Json};
use serde::Serialize;

use crate::Admin;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/signing-keys", get(list))
        .route("/signing-keys/rotate", post(rotate))
}

#[derive(Serialize)]
struct Listed {
    items: Vec<KeyInfo>,
}

fn refused(e: SigningError) -> ApiError {
    match e {
        SigningError::RotationPending => ApiError::Conflict(e.to_string()),
        SigningError::Storage(t) if t.is_transient() => ApiError::Unavailable(t.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Every published key: the current one, the next one while a rotation waits, the retired ones
/// still kept.
async fn list(State(admin): State<Admin>) -> Result<Json<Listed>, ApiError> {
    let now = admin.deps.clock.now_millis();
    let items = key_infos(admin.deps.table.as_ref(), now)
        .await
        .map_err(refused)?;
    Ok(Json(Listed { items }))
}

/// Starts a rotation (409 while one waits for its time).
async fn rotate(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    let keys = SigningKeys::new(
        admin.deps.table.clone(),
        admin.deps.clock.clone(),
        admin.deps.secrets.clone(),
    );
    let next = keys.rotate().await.map_err(refused)?;
    tracing::info!(kid = %next.kid, by = %actor.name, "signing-key rotation started");
    Ok((StatusCode::ACCEPTED, Json(next)))
}
