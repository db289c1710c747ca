//! Admin authentication: a bearer token on every call, looked up by its SHA-256 digest (the token
//! itself is never stored), and the first token's bootstrap at start-up.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use dingbridge::domain::directory::Origin;
use dingbridge::ports::{Clock, Table};
use dingbridge::secrets::generate_token;
use dingbridge::store::admin_tokens::{AdminToken, AdminTokens};
use dingbridge::store::{Actor, DirectoryError};
use dingbridge::web::ApiError;

use crate::Admin;

/// Longer headers are no token of ours; refusing them early keeps the digest input bounded.
const MAX_TOKEN_LEN: usize = 512;
/// Generated tokens start with this, so a leaked one is recognisable in a secret scanner.
pub const TOKEN_PREFIX: &str = "dbadm_";

/// Makes sure an admin token exists. With `token` (from `DINGBRIDGE_ADMIN_TOKEN` or the Lambda's
/// secret) its digest is stored if it is not yet — once: later starts only look it up —; without
/// one, a token is generated only when no admin token exists at all, and returned so that the local binary can keep it (in its data
/// directory's `admin.token`, owner-only) — only its digest is stored in the table.
pub async fn bootstrap_admin_token(
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    token: Option<String>,
) -> Result<Option<String>, DirectoryError> {
    let tokens = AdminTokens::new(table, clock);
    match token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(token) => {
            if token.len() < 16 {
                tracing::warn!("the configured admin token is shorter than 16 characters");
            }
            // A read, not a write, on every cold start but the first: a conditional put that
            // fails still costs a write.
            if tokens.find(&token).await?.is_none() {
                tokens.add(&token, "configured").await?;
            }
            Ok(None)
        }
        None if tokens.any().await? => Ok(None),
        None => {
            let token = generate_token(TOKEN_PREFIX);
            tokens.add(&token, "generated").await?;
            Ok(Some(token))
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    dingbridge::oauth::bearer_token(value).filter(|token| token.len() <= MAX_TOKEN_LEN)
}

/// Who the audit log says made a change: the token's label and the start of its digest.
fn actor(t: &AdminToken) -> Actor {
    let short: String = t.digest.chars().take(8).collect();
    Actor::new(Origin::Admin, format!("admin-token:{}:{short}", t.name))
}

/// Refuses the request with 401 unless it carries a stored admin token; passes the `Actor` on.
pub(crate) async fn require_admin(
    State(admin): State<Admin>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(request.headers()).ok_or(ApiError::Unauthorized)?;
    // A lookup by digest: the comparison happens on a hash, so timing says nothing about the token.
    let stored = admin
        .tokens
        .find(token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    request.extensions_mut().insert(actor(&stored));
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_a_non_empty_bearer_token_is_taken() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(
            bearer(&headers(&format!("Bearer {}", "a".repeat(600)))),
            None
        );
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
