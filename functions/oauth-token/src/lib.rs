//! The OAuth 2.0 token endpoint for SCIM clients (client credentials grant, RFC 6749 §4.4 and §5)
//! and the JWKS its tokens verify against. Access tokens are RS256 JWTs signed with the
//! deployment's key (`dingbridge::signing`); the SCIM endpoint checks them with `BearerCheck`.

mod config;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dingbridge::oauth::{
    AccessClaims, AuthFailure, ClientAuth, SCIM_SCOPE, SourceIp, basic_credentials, scim_audience,
};
use dingbridge::ports::{Clock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::signing::{SigningKeys, Verifier};
use dingbridge::store::throttle::ThrottleSettings;
use serde::Serialize;

pub use config::Config;

/// Largest token request accepted: a client-credentials form is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The realm of the `Basic` challenge of an `invalid_client` answer.
const REALM: &str = r#"Basic realm="dingbridge""#;

/// What the token endpoint uses, and so what its IAM policy grants: the table (clients, the
/// signing key, the failure counters) and the data key (the signing key's private half).
#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    pub secrets: SecretBox,
    /// The tokens' issuer (no trailing slash); their audience is `{public_url}/scim/v2`.
    pub public_url: String,
    pub throttle: ThrottleSettings,
}

#[derive(Clone)]
struct Token {
    auth: ClientAuth,
    keys: SigningKeys,
    verifier: Verifier,
    clock: Arc<dyn Clock>,
    issuer: String,
    audience: String,
}

pub fn router(deps: Deps) -> Router {
    let issuer = deps.public_url.trim_end_matches('/').to_owned();
    let state = Token {
        auth: ClientAuth::new(deps.table.clone(), deps.clock.clone(), deps.throttle),
        keys: SigningKeys::new(deps.table.clone(), deps.clock.clone(), deps.secrets),
        verifier: Verifier::new(deps.table),
        clock: deps.clock,
        audience: scim_audience(&issuer),
        issuer,
    };
    dingbridge::web::json_errors(
        Router::new()
            .route("/oauth/token", post(token))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(state),
    )
}

/// An RFC 6749 §5.2 error (plus the throttle's and storage's answers).
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    InvalidRequest(String),
    InvalidClient(&'static str),
    UnsupportedGrantType,
    InvalidScope,
    /// Too many failed attempts: not checked.
    SlowDown {
        retry_after_s: i64,
    },
    /// Storage did not answer; the same request may succeed later.
    Unavailable(String),
    /// A bug or a broken signing key: logged, never described.
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::InvalidRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why.clone()),
            Self::InvalidClient(why) => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                (*why).to_owned(),
            ),
            Self::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported".to_owned(),
            ),
            Self::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("the only scope is {SCIM_SCOPE}"),
            ),
            Self::SlowDown { retry_after_s } => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("too many failed attempts; retry in {retry_after_s} s"),
            ),
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "token request: storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "temporarily unavailable, retry later".to_owned(),
                )
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "token request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error".to_owned(),
                )
            }
        };
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error,
                error_description: description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        match self {
            Self::InvalidClient(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
            }
            Self::SlowDown { retry_after_s } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_s.max(1).to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        response
    }
}

/// RFC 6749 §5.1: token responses, and their errors, are never cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
    scope: &'static str,
}

/// The request's parameters, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, TokenError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            TokenError::InvalidRequest("the body is not application/x-www-form-urlencoded".into())
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(TokenError::InvalidRequest(format!(
                    "{} is given more than once",
                    printable(name)
                )));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parameter name as an error may repeat it: short and plain.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

/// `POST /oauth/token`.
async fn token(State(t): State<Token>, request: Request) -> Response {
    let source = request.extensions().get::<SourceIp>().cloned();
    let (parts, body) = request.into_parts();
    match issue(
        &t,
        &parts.headers,
        body,
        source.as_ref().map(|s| s.0.as_str()),
    )
    .await
    {
        Ok(answer) => {
            let mut response = axum::Json(answer).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn issue(
    t: &Token,
    headers: &HeaderMap,
    body: Body,
    source: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| TokenError::InvalidRequest("the body is larger than 16 KiB".into()))?;
    let form = Form::parse(&body)?;
    match form.get("grant_type") {
        None => return Err(TokenError::InvalidRequest("grant_type is missing".into())),
        Some("client_credentials") => {}
        Some(_) => return Err(TokenError::UnsupportedGrantType),
    }
    if let Some(scope) = form.get("scope") {
        let mut scopes = scope.split(' ').filter(|s| !s.is_empty());
        if !scopes.all(|s| s == SCIM_SCOPE) {
            return Err(TokenError::InvalidScope);
        }
    }
    let (client_id, secret) = credentials(headers, &form)?;
    let client = match t.auth.authenticate(&client_id, &secret, source).await {
        Ok(client) => client,
        Err(AuthFailure::Throttled { retry_after_s }) => {
            tracing::warn!(client_id = %printable(&client_id), source, "token refused: throttled");
            return Err(TokenError::SlowDown { retry_after_s });
        }
        Err(AuthFailure::Invalid(reason)) => {
            tracing::info!(client_id = %printable(&client_id), source, reason, "token refused");
            return Err(TokenError::InvalidClient(reason));
        }
        Err(AuthFailure::Unavailable(cause)) => return Err(TokenError::Unavailable(cause)),
    };
    let key = t
        .keys
        .get_or_create()
        .await
        .map_err(|e| TokenError::Internal(e.to_string()))?;
    let now = t.clock.now_seconds();
    let claims = AccessClaims {
        iss: t.issuer.clone(),
        aud: t.audience.clone(),
        sub: client.client_id.clone(),
        client_id: client.client_id.clone(),
        iat: now,
        exp: now + i64::from(client.token_lifetime_s),
        jti: uuid::Uuid::new_v4().to_string(),
        scope: SCIM_SCOPE.to_owned(),
    };
    let access_token = key
        .sign_typed(&claims, "at+jwt")
        .map_err(|e| TokenError::Internal(e.to_string()))?;
    tracing::info!(client_id = %client.client_id, jti = %claims.jti, "issued a SCIM access token");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: client.token_lifetime_s,
        scope: SCIM_SCOPE,
    })
}

/// The client's id and secret: `client_secret_basic` or `client_secret_post`, never both
/// (RFC 6749 §2.3: one method per request).
fn credentials(headers: &HeaderMap, form: &Form) -> Result<(String, String), TokenError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let in_body = (form.get("client_id"), form.get("client_secret"));
    match (authorization, in_body) {
        (Some(_), (Some(_), _) | (_, Some(_))) => Err(TokenError::InvalidRequest(
            "use one client authentication method: the Authorization header or the body".into(),
        )),
        (Some(value), _) => basic_credentials(value).ok_or(TokenError::InvalidClient(
            "the Basic credentials do not decode",
        )),
        (None, (Some(id), Some(secret))) if !id.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        (None, (Some(_), None)) => Err(TokenError::InvalidClient("client_secret is missing")),
        (None, _) => Err(TokenError::InvalidClient(
            "no client authentication: use HTTP Basic or client_id and client_secret",
        )),
    }
}

/// `GET /.well-known/jwks.json`: the public keys the tokens verify against (empty until the
/// first token is issued).
async fn jwks(State(t): State<Token>) -> Response {
    // The key is made at first need; a relying party that reads the JWKS before any token was
    // signed must still find the key its first id_token will carry.
    if let Err(e) = t.keys.get_or_create().await {
        return dingbridge::web::ApiError::Unavailable(e.to_string()).into_response();
    }
    match t.verifier.jwks().await {
        Ok(set) => {
            let mut response = axum::Json(set).into_response();
            // Keys never change once made; a short cache keeps a first key visible soon.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(e) => dingbridge::web::ApiError::Unavailable(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests;
