//! The OpenID provider: discovery, the authorization endpoint (code flow, PKCE S256), the token
//! endpoint (authorization code and refresh token; `client_secret_basic`, `client_secret_post`,
//! or none with PKCE for public clients), userinfo, and RP-initiated logout. What it supports is
//! exactly what discovery says.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingbridge::domain::directory::{Account, AccountStatus};
use dingbridge::oauth::{basic_credentials, bearer_token};
use dingbridge::signing::Verifier;
use dingbridge::store::apps::{App, AppKind};
use dingbridge::store::grants::{Authorization, Grant, Redeemed, Tokens};
use dingbridge::store::throttle::Subject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::claims::{CLAIMS, SCOPES, released};
use crate::signin::{SignedIn, append_query, check_csrf, signed_in, units_with_ancestors};
use crate::web::{PageError, Params, is_form, no_store, same_token};
use crate::{Portal, pages};

/// id_tokens live ten minutes: they prove a sign-in, they are not a session.
const ID_TOKEN_LIFETIME_S: i64 = 600;
const MAX_NONCE_LEN: usize = 512;
const MAX_STATE_LEN: usize = 2048;

pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth2/token", axum::routing::post(token))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/logout", get(logout_get).post(logout_post))
}

async fn discovery(State(portal): State<Portal>) -> Response {
    let iss = &portal.issuer;
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{iss}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES,
        "claims_supported": CLAIMS,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        axum::Json(doc),
    )
        .into_response()
}

async fn authorize_get(
    State(portal): State<Portal>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes())?;
    authorize(&portal, &headers, &params).await
}

async fn authorize_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !is_form(&headers) {
        return Err(PageError::BadRequest(
            "an authorization request sent by POST must be a form".into(),
        ));
    }
    let params = Params::parse(&body)?;
    authorize(&portal, &headers, &params).await
}

/// An error sent back to the client's (registered) redirect URI.
fn redirect_error(redirect_uri: &str, state: Option<&str>, error: &str, why: &str) -> Response {
    let mut params = vec![
        ("error", error.to_owned()),
        ("error_description", why.to_owned()),
    ];
    if let Some(s) = state {
        params.push(("state", s.to_owned()));
    }
    Redirect::to(&append_query(redirect_uri, &params)).into_response()
}

/// The authorization request again, as a GET URL without `drop` (to come back to after sign-in).
fn authorize_url(params: &Params, drop: &[&str]) -> String {
    let kept: Vec<(&String, &String)> = params
        .pairs()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .collect();
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(kept).unwrap_or_default()
    )
}

/// A well-formed PKCE challenge (S256: 43 base64url characters) or verifier (RFC 7636 §4.1).
fn pkce_text(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn authorize(
    portal: &Portal,
    headers: &HeaderMap,
    p: &Params,
) -> Result<Response, PageError> {
    // Until the client and its redirect URI are known, errors are pages: never a redirect.
    let Some(client_id) = p.get("client_id") else {
        return Err(PageError::BadRequest("client_id is missing.".into()));
    };
    let app = portal
        .apps
        .by_client_id(client_id)
        .await?
        .filter(|a| a.enabled && a.kind == AppKind::Oidc);
    let Some(app) = app else {
        return Err(PageError::BadRequest(format!(
            "{client_id:?} is not a registered OpenID Connect client."
        )));
    };
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return Err(PageError::BadRequest("redirect_uri is missing.".into()));
    };
    if !app.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(PageError::BadRequest(format!(
            "The redirect_uri is not registered for {}; nothing was sent to it.",
            app.name
        )));
    }
    let state = p.get("state").filter(|s| s.len() <= MAX_STATE_LEN);
    let fail = |error: &str, why: &str| Ok(redirect_error(redirect_uri, state, error, why));
    if let Some(name) = p.repeated().first() {
        return fail(
            "invalid_request",
            &format!("{name} is given more than once"),
        );
    }
    if p.get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if p.get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    match p.get("response_type") {
        None => return fail("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    if p.get("response_mode").is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    let asked: Vec<&str> = p.get("scope").unwrap_or("").split_whitespace().collect();
    if !asked.contains(&"openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in asked {
        let allowed = s == "openid" || app.scopes.iter().any(|a| a == s);
        if SCOPES.contains(&s) && allowed && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    let challenge = p.get("code_challenge");
    match (challenge, p.get("code_challenge_method")) {
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (Some(_), m) if m != Some("S256") => {
            return fail("invalid_request", "code_challenge_method must be S256");
        }
        (Some(c), _) if !pkce_text(c, 43, 43) => {
            return fail("invalid_request", "code_challenge is not an S256 challenge");
        }
        (None, None) if app.public => {
            return fail(
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)",
            );
        }
        _ => {}
    }
    let nonce = p.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return fail("invalid_request", "nonce is too long");
    }
    let prompt: Vec<&str> = p.get("prompt").unwrap_or("").split_whitespace().collect();
    if prompt.contains(&"none") && prompt.len() > 1 {
        return fail("invalid_request", "prompt=none cannot be combined");
    }
    let max_age = match p.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(v)) if v >= 0 => Some(v),
        Some(_) => {
            return fail(
                "invalid_request",
                "max_age must be a whole number of seconds",
            );
        }
    };

    let now = portal.clock.now_millis();
    let session = signed_in(portal, headers).await?;
    let too_old = |s: &SignedIn| max_age.is_some_and(|m| now - s.session.auth_time_ms > m * 1000);
    let force_login = prompt.contains(&"login") || session.as_ref().is_some_and(too_old);
    let Some(s) = session.filter(|_| !force_login) else {
        if prompt.contains(&"none") {
            return fail("login_required", "the user is not signed in");
        }
        // Back here after the sign-in, which satisfies `prompt=login` and `max_age`.
        let next = authorize_url(p, &["prompt", "max_age"]);
        let mut query = vec![("next", next)];
        if force_login {
            query.push(("prompt", "login".to_owned()));
        }
        if let Some(hint) = p.get("login_hint") {
            query.push(("login_hint", hint.chars().take(256).collect()));
        }
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        return Ok(Redirect::to(&format!("/login?{query}")).into_response());
    };
    if s.session.must_change_password {
        if prompt.contains(&"none") {
            return fail(
                "login_required",
                "the user must change their password first",
            );
        }
        let next = authorize_url(p, &["prompt", "max_age"]);
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        return Ok(Redirect::to(&format!("/password?{query}")).into_response());
    }
    let units = units_with_ancestors(portal, &s.account).await?;
    if !app.is_assigned(&s.account.id, &units) {
        return fail(
            "access_denied",
            "the application is not assigned to this user",
        );
    }
    let acr = p
        .get("acr_values")
        .and_then(|v| v.split_whitespace().next())
        .map(str::to_owned);
    let code = portal
        .grants
        .issue_code(Authorization {
            client_id: app.client_id.clone(),
            account_id: s.account.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            nonce: nonce.map(str::to_owned),
            code_challenge: challenge.map(str::to_owned),
            auth_time_ms: s.session.auth_time_ms,
            amr: s.session.amr.clone(),
            acr,
        })
        .await?;
    let mut params = vec![("code", code)];
    if let Some(st) = state {
        params.push(("state", st.to_owned()));
    }
    Ok((
        no_store(),
        Redirect::to(&append_query(redirect_uri, &params)),
    )
        .into_response())
}

/// An RFC 6749 §5.2 error of the token endpoint.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    why: String,
}

impl TokenError {
    fn new(error: &'static str, why: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            error,
            why: why.into(),
        }
    }
}

impl From<PageError> for TokenError {
    fn from(e: PageError) -> Self {
        let status = match &e {
            PageError::Unavailable(cause) => {
                tracing::warn!(%cause, "token endpoint: storage unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            other => {
                tracing::error!(cause = ?other, "token endpoint failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let error = if status == StatusCode::SERVICE_UNAVAILABLE {
            "temporarily_unavailable"
        } else {
            "server_error"
        };
        Self {
            status,
            error,
            why: "try again later".into(),
        }
    }
}

impl From<dingbridge::store::DirectoryError> for TokenError {
    fn from(e: dingbridge::store::DirectoryError) -> Self {
        PageError::from(e).into()
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            no_store(),
            axum::Json(json!({ "error": self.error, "error_description": self.why })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="dingbridge""#),
            );
        }
        response
    }
}

/// The client a token request authenticates as: HTTP Basic or the form's secret (never both),
/// or a public client by its id alone (its code then needs the PKCE verifier).
async fn client(
    portal: &Portal,
    headers: &HeaderMap,
    p: &Params,
    from: &str,
) -> Result<App, TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let posted = p.get("client_secret");
    let (id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return Err(TokenError::new(
                "invalid_request",
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), None) => {
            if p.get("client_id").is_some_and(|c| c != id) {
                return Err(TokenError::new(
                    "invalid_request",
                    "two different client ids",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => match p.get("client_id") {
            Some(id) => (id.to_owned(), secret.map(str::to_owned)),
            None => {
                return Err(TokenError::new(
                    "invalid_client",
                    "no client authentication",
                ));
            }
        },
    };
    let refused = || TokenError::new("invalid_client", "client authentication failed");
    match secret {
        Some(secret) => {
            // Guessing a secret is slow: after too many failures, not even checked.
            let who = format!("app:{}", id.chars().take(128).collect::<String>());
            let subjects = [Subject::Client(&who), Subject::Source(from)];
            if let Some(wait) = portal.client_throttle.blocked(&subjects).await? {
                return Err(TokenError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    error: "temporarily_unavailable",
                    why: format!("too many failed attempts; retry in {wait} s"),
                });
            }
            let app = portal
                .apps
                .authenticate(&id, &secret)
                .await?
                .filter(|a| a.kind == AppKind::Oidc);
            if app.is_none() {
                portal.client_throttle.failed(&subjects).await?;
            }
            app.ok_or_else(refused)
        }
        None => portal
            .apps
            .by_client_id(&id)
            .await?
            .filter(|a| a.enabled && a.kind == AppKind::Oidc && a.public)
            .ok_or_else(refused),
    }
}

async fn token(
    State(portal): State<Portal>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, TokenError> {
    if !is_form(&headers) {
        return Err(TokenError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let p = Params::parse(&body)
        .map_err(|_| TokenError::new("invalid_request", "the form could not be read"))?;
    if let Some(name) = p.repeated().first() {
        return Err(TokenError::new(
            "invalid_request",
            format!("{name} is given more than once"),
        ));
    }
    let app = client(&portal, &headers, &p, &crate::web::source(&extensions)).await?;
    let (grant, tokens) = match p.get("grant_type") {
        Some("authorization_code") => redeem_code(&portal, &app, &p).await?,
        Some("refresh_token") => {
            let Some(refresh) = p.get("refresh_token") else {
                return Err(TokenError::new(
                    "invalid_request",
                    "refresh_token is missing",
                ));
            };
            match portal.grants.refresh(refresh).await? {
                Some((grant, tokens)) if grant.authorization.client_id == app.client_id => {
                    (grant, tokens)
                }
                Some((grant, _)) => {
                    portal.grants.revoke(&grant.id).await?;
                    return Err(TokenError::new(
                        "invalid_grant",
                        "the refresh token is not this client's",
                    ));
                }
                None => {
                    return Err(TokenError::new(
                        "invalid_grant",
                        "the refresh token is unknown, used, expired or revoked",
                    ));
                }
            }
        }
        None => return Err(TokenError::new("invalid_request", "grant_type is missing")),
        Some(_) => {
            return Err(TokenError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ));
        }
    };
    let Some(account) = live_account(&portal, &grant).await? else {
        portal.grants.revoke(&grant.id).await?;
        return Err(TokenError::new(
            "invalid_grant",
            "the account is disabled or gone",
        ));
    };
    let with_nonce = p.get("grant_type") == Some("authorization_code");
    let id_token = id_token(&portal, &app, &account, &grant, &tokens, with_nonce).await?;
    let answer = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in_s,
        "refresh_token": tokens.refresh_token,
        "id_token": id_token,
        "scope": grant.authorization.scopes.join(" "),
    });
    Ok((no_store(), axum::Json(answer)).into_response())
}

async fn live_account(portal: &Portal, grant: &Grant) -> Result<Option<Account>, PageError> {
    Ok(portal
        .directory
        .account(&grant.authorization.account_id)
        .await?
        .filter(|a| a.status == AccountStatus::Enabled))
}

async fn redeem_code(
    portal: &Portal,
    app: &App,
    p: &Params,
) -> Result<(Grant, Tokens), TokenError> {
    let Some(code) = p.get("code") else {
        return Err(TokenError::new("invalid_request", "code is missing"));
    };
    let grant = match portal.grants.redeem(code).await? {
        Redeemed::Granted(grant) => *grant,
        Redeemed::Invalid(why) => return Err(TokenError::new("invalid_grant", why)),
    };
    let a = &grant.authorization;
    let refuse = |why: &str| TokenError::new("invalid_grant", why);
    if a.client_id != app.client_id {
        portal.grants.revoke(&grant.id).await?;
        return Err(refuse("the code was issued to another client"));
    }
    if p.get("redirect_uri") != Some(a.redirect_uri.as_str()) {
        portal.grants.revoke(&grant.id).await?;
        return Err(refuse(
            "redirect_uri differs from the authorization request's",
        ));
    }
    let verifier = p.get("code_verifier");
    let pkce_ok = match (&a.code_challenge, verifier) {
        (Some(challenge), Some(v)) => pkce_text(v, 43, 128) && same_token(&s256(v), challenge),
        (None, None) => true,
        _ => false,
    };
    if !pkce_ok {
        portal.grants.revoke(&grant.id).await?;
        return Err(refuse("the PKCE code_verifier does not match"));
    }
    let tokens = portal.grants.issue_tokens(&grant).await?;
    Ok((grant, tokens))
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (OIDC Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

async fn id_token(
    portal: &Portal,
    app: &App,
    account: &Account,
    grant: &Grant,
    tokens: &Tokens,
    with_nonce: bool,
) -> Result<String, PageError> {
    let a = &grant.authorization;
    let now_s = portal.clock.now_millis().div_euclid(1000);
    let mut claims = released(portal, app, account, &a.scopes).await?;
    claims.insert("iss".into(), json!(portal.issuer));
    claims.insert("aud".into(), json!(app.client_id));
    claims.insert("azp".into(), json!(app.client_id));
    claims.insert("iat".into(), json!(now_s));
    claims.insert("exp".into(), json!(now_s + ID_TOKEN_LIFETIME_S));
    claims.insert("auth_time".into(), json!(a.auth_time_ms.div_euclid(1000)));
    claims.insert("at_hash".into(), json!(at_hash(&tokens.access_token)));
    if !a.amr.is_empty() {
        claims.insert("amr".into(), json!(a.amr));
    }
    if let Some(acr) = &a.acr {
        claims.insert("acr".into(), json!(acr));
    }
    if with_nonce {
        if let Some(nonce) = &a.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
    }
    let key = portal.keys.get_or_create().await?;
    Ok(key.sign(&claims)?)
}

/// A userinfo refusal (RFC 6750 §3).
fn bearer_error(status: StatusCode, error: Option<&str>, why: &str) -> Response {
    let challenge = match error {
        Some(e) => format!(r#"Bearer realm="dingbridge", error="{e}", error_description="{why}""#),
        None => r#"Bearer realm="dingbridge""#.to_owned(),
    };
    let mut response = (
        status,
        no_store(),
        axum::Json(json!({ "error": error.unwrap_or("invalid_token"), "error_description": why })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

async fn userinfo(
    State(portal): State<Portal>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let form_token = if method == Method::POST && is_form(&headers) {
        Params::parse(&body)
            .ok()
            .and_then(|p| p.get("access_token").map(str::to_owned))
    } else {
        None
    };
    let token = match (header_token, form_token) {
        (Some(_), Some(_)) => {
            return Ok(bearer_error(
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "send the access token once",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Ok(bearer_error(
                StatusCode::UNAUTHORIZED,
                None,
                "an access token is required",
            ));
        }
    };
    let refused = || {
        bearer_error(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is unknown, expired or revoked",
        )
    };
    let Some(grant) = portal.grants.by_access_token(&token).await? else {
        return Ok(refused());
    };
    let app = portal
        .apps
        .by_client_id(&grant.authorization.client_id)
        .await?
        .filter(|a| a.enabled);
    let (Some(app), Some(account)) = (app, live_account(&portal, &grant).await?) else {
        return Ok(refused());
    };
    let claims = released(&portal, &app, &account, &grant.authorization.scopes).await?;
    Ok((no_store(), axum::Json(Value::Object(claims))).into_response())
}

#[derive(serde::Deserialize)]
struct HintClaims {
    aud: Value,
}

/// The client a logout request names: `client_id`, or the audience of its `id_token_hint` (one
/// of our id_tokens, expired or not).
async fn logout_client(portal: &Portal, p: &Params) -> Result<Option<App>, PageError> {
    let mut client_id = p.get("client_id").map(str::to_owned);
    if client_id.is_none() {
        if let Some(hint) = p.get("id_token_hint") {
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_issuer(&[portal.issuer.as_str()]);
            validation.validate_aud = false;
            validation.validate_exp = false;
            validation.required_spec_claims.clear();
            let verifier = Verifier::new(portal.table.clone());
            if let Ok(claims) = verifier.verify::<HintClaims>(hint, &validation).await? {
                client_id = match claims.aud {
                    Value::String(s) => Some(s),
                    Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
                    _ => None,
                };
            }
        }
    }
    match client_id {
        Some(id) => Ok(portal.apps.by_client_id(&id).await?),
        None => Ok(None),
    }
}

/// Where a logout goes afterwards: the registered `post_logout_redirect_uri` (with `state`), or
/// the sign-in page. An unregistered one is an error page, never a redirect.
fn after_logout(app: Option<&App>, p: &Params) -> Result<String, PageError> {
    match p.get("post_logout_redirect_uri") {
        None => Ok("/login".to_owned()),
        Some(uri) => {
            let registered =
                app.is_some_and(|a| a.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(PageError::BadRequest(
                    "post_logout_redirect_uri is not registered for this client; nothing was sent to it.".into(),
                ));
            }
            let mut params = Vec::new();
            if let Some(state) = p.get("state").filter(|s| s.len() <= MAX_STATE_LEN) {
                params.push(("state", state.to_owned()));
            }
            Ok(append_query(uri, &params))
        }
    }
}

/// RP-initiated logout: with a session, a confirmation page (a cross-site link cannot sign a
/// person out); without one, straight on.
async fn logout_get(
    State(portal): State<Portal>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let p = Params::parse(query.unwrap_or_default().as_bytes())?;
    let app = logout_client(&portal, &p).await?;
    let location = after_logout(app.as_ref(), &p)?;
    let Some(s) = signed_in(&portal, &headers).await? else {
        return Ok(Redirect::to(&location).into_response());
    };
    let page = pages::logout(&pages::Logout {
        csrf: &s.session.csrf,
        app_name: app.as_ref().map(|a| a.name.as_str()),
        client_id: app.as_ref().map(|a| a.client_id.as_str()).unwrap_or(""),
        redirect: p.get("post_logout_redirect_uri").unwrap_or(""),
        state: p.get("state").unwrap_or(""),
    });
    Ok((no_store(), Html(page)).into_response())
}

async fn logout_post(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let p = Params::parse(&body)?;
    let app = logout_client(&portal, &p).await?;
    let location = after_logout(app.as_ref(), &p)?;
    if let Some(s) = signed_in(&portal, &headers).await? {
        check_csrf(&s.session, &p)?;
        portal.sessions.end(&s.id).await?;
        tracing::info!(account = %s.account.id, "portal sign-out (RP-initiated)");
    }
    let mut response = Redirect::to(&location).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::web::set_cookie(crate::web::SESSION_COOKIE, "", 0, portal.secure_cookies),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_vector_gives_its_challenge() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_text_keeps_to_the_unreserved_characters_and_lengths() {
        assert!(pkce_text(&"a".repeat(43), 43, 128));
        assert!(!pkce_text(&"a".repeat(42), 43, 128));
        assert!(!pkce_text(&"a".repeat(129), 43, 128));
        assert!(!pkce_text(&format!("{}+", "a".repeat(43)), 43, 128));
    }
}
