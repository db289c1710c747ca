//! Admin authentication: a bearer token, looked up by its SHA-256 digest (the token itself is never
//! stored), or the portal session of an account with an admin role — `admin` may do everything,
//! `viewer` only read; a session's writes carry its CSRF token in `X-CSRF-Token`. And the first
//! token's bootstrap at start-up.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use dingbridge::domain::directory::{AccountStatus, Origin};
use dingbridge::ports::{Clock, Table};
use dingbridge::secrets::generate_token;
use dingbridge::store::admin_tokens::{AdminToken, AdminTokens};
use dingbridge::store::roles::Role;
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

/// The session cookie the portal sets (`portal::web::SESSION_COOKIE`).
pub const SESSION_COOKIE: &str = "dbsid";
/// The header a session's writes carry their CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, as the handlers see it.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// `None` for a bearer token: tokens may do everything.
    pub session: Option<SessionCaller>,
}

#[derive(Clone, Debug)]
pub(crate) struct SessionCaller {
    pub account_id: dingbridge::domain::ids::AccountId,
    pub role: Role,
    pub csrf: String,
}

pub(crate) use dingbridge::web::cookie;

fn reads_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The caller of a request without a bearer token: the portal session of an enabled account
/// with a role. A viewer may only read; a write must carry the session's CSRF token.
async fn session_caller(
    admin: &Admin,
    headers: &HeaderMap,
    method: &Method,
) -> Result<(Actor, Caller), ApiError> {
    let id = cookie(headers, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
    let session = admin
        .sessions
        .get(id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let account = admin
        .directory
        .account(&session.account_id)
        .await?
        .filter(|a| a.status == AccountStatus::Enabled)
        .ok_or(ApiError::Unauthorized)?;
    if session.must_change_password {
        return Err(ApiError::Forbidden);
    }
    let role = admin
        .roles
        .get(&account.id)
        .await?
        .and_then(|r| r.strongest())
        .ok_or(ApiError::Forbidden)?;
    if !reads_only(method) {
        if role != Role::Admin {
            return Err(ApiError::Forbidden);
        }
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !dingbridge::secrets::same_token(sent, &session.csrf) {
            return Err(ApiError::Forbidden);
        }
    }
    let actor = Actor::new(Origin::Admin, format!("account:{}", account.id));
    let caller = Caller {
        session: Some(SessionCaller {
            account_id: account.id,
            role,
            csrf: session.csrf,
        }),
    };
    Ok((actor, caller))
}

/// Refuses the request with 401 unless it carries a stored admin token or the session of an
/// account with a role (403 for what the role does not allow); passes the `Actor` on.
pub(crate) async fn require_admin(
    State(admin): State<Admin>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (actor, caller) = match bearer(request.headers()) {
        Some(token) => {
            // A lookup by digest: the comparison happens on a hash, so timing says nothing
            // about the token.
            let stored = admin
                .tokens
                .find(token)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            (actor(&stored), Caller { session: None })
        }
        None => {
            let (headers, method) = (request.headers().clone(), request.method().clone());
            session_caller(&admin, &headers, &method).await?
        }
    };
    request.extensions_mut().insert(actor);
    request.extensions_mut().insert(caller);
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
