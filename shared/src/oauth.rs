//! OAuth 2.0 for SCIM clients: the access token's claims, client authentication by secret (with
//! the brute-force counters), and the bearer check the SCIM endpoint runs on every request.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{ConnectorId, OrgUnitId};
use crate::ports::{Clock, Table};
use crate::signing::Verifier;
use crate::store::DirectoryError;
use crate::store::scim_clients::{
    MAX_CREDENTIAL_LEN, ScimClient, ScimClients, verify_against_nothing,
};
use crate::store::throttle::{Subject, Throttle, ThrottleSettings};

/// The one scope a SCIM client's token carries.
pub const SCIM_SCOPE: &str = "scim";
/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_S: u64 = 30;
/// Longer `Authorization` values are no credential of ours.
const MAX_AUTHORIZATION_LEN: usize = 8192;

/// The audience of SCIM access tokens: the SCIM base URL.
pub fn scim_audience(public_url: &str) -> String {
    format!("{}/scim/v2", public_url.trim_end_matches('/'))
}

/// The token endpoint's URL.
pub fn token_url(public_url: &str) -> String {
    format!("{}/oauth/token", public_url.trim_end_matches('/'))
}

/// The caller's address as the platform saw it (API Gateway's `sourceIp`, the local server's
/// peer), put into the request's extensions by the function's wiring. Never taken from a header
/// a client can write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceIp(pub String);

/// API Gateway's `sourceIp` into the request as [`SourceIp`] (a `map_request` layer of the HTTP
/// functions on Lambda that count failures by address).
#[cfg(feature = "lambda-http")]
pub async fn api_gateway_source_ip(mut request: axum::extract::Request) -> axum::extract::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    if let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref()
        && let Some(ip) = ctx.http.source_ip.clone()
    {
        request.extensions_mut().insert(SourceIp(ip));
    }
    request
}

/// The claims of a SCIM access token (RFC 9068's profile: iss, aud, sub = client id, iat, exp,
/// jti, scope; `client_id` as RFC 9068 §2.2 asks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
}

/// Why a client's credentials were not accepted. The reason is for logs and the error
/// description; it never holds the secret.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Too many failures lately: not checked; retry after this many seconds.
    Throttled { retry_after_s: i64 },
    /// Unknown client, wrong secret, revoked client.
    Invalid(&'static str),
    /// Storage did not answer.
    Unavailable(String),
}

impl From<DirectoryError> for AuthFailure {
    fn from(e: DirectoryError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Client authentication by secret, for the token endpoint and for SCIM's Basic fallback.
#[derive(Clone)]
pub struct ClientAuth {
    clients: ScimClients,
    throttle: Throttle,
    clock: Arc<dyn Clock>,
}

impl ClientAuth {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, settings: ThrottleSettings) -> Self {
        Self {
            clients: ScimClients::new(table.clone(), clock.clone()),
            throttle: Throttle::new(table, clock.clone(), settings),
            clock,
        }
    }

    pub fn clients(&self) -> &ScimClients {
        &self.clients
    }

    /// The client whose id and secret these are. Throttled subjects are refused before any
    /// lookup or hash; an unknown client id costs a hash all the same; every failure is counted
    /// against the client id and the source address.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
        source: Option<&str>,
    ) -> Result<ScimClient, AuthFailure> {
        let mut subjects = vec![Subject::Client(client_id)];
        subjects.extend(source.map(Subject::Source));
        if let Some(retry_after_s) = self.throttle.blocked(&subjects).await? {
            return Err(AuthFailure::Throttled { retry_after_s });
        }
        let outcome = self.check(client_id, secret).await;
        if matches!(outcome, Err(AuthFailure::Invalid(_))) {
            self.throttle.failed(&subjects).await?;
        }
        outcome
    }

    async fn check(&self, client_id: &str, secret: &str) -> Result<ScimClient, AuthFailure> {
        if client_id.len() > MAX_CREDENTIAL_LEN || secret.len() > MAX_CREDENTIAL_LEN {
            return Err(AuthFailure::Invalid("the credentials are too long"));
        }
        let Some(client) = self.clients.by_client_id(client_id).await? else {
            verify_against_nothing(secret).await;
            return Err(AuthFailure::Invalid("unknown client or wrong secret"));
        };
        if !client.secret_matches(secret, self.clock.now_millis()).await {
            return Err(AuthFailure::Invalid("unknown client or wrong secret"));
        }
        if client.revoked_ms.is_some() {
            return Err(AuthFailure::Invalid("the client is revoked"));
        }
        Ok(client)
    }
}

/// The token of an `Authorization: Bearer …` value (RFC 6750 §2.1; the scheme in any case),
/// `None` for another scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `client_id` and secret of an `Authorization: Basic …` value, each form-url-decoded as RFC 6749
/// §2.3.1 requires. `None` when the value is not Basic or does not decode.
pub fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    (!id.is_empty()).then_some((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(value: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={}", value.replace('&', "%26"))).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// Who called the SCIM endpoint: the client and the scope its writes are limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimCaller {
    pub client_id: String,
    pub name: String,
    pub connector_id: Option<ConnectorId>,
    pub root_org_unit_id: Option<OrgUnitId>,
}

impl From<&ScimClient> for ScimCaller {
    fn from(c: &ScimClient) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            connector_id: c.connector_id.clone(),
            root_org_unit_id: c.root_org_unit_id.clone(),
        }
    }
}

/// Why a SCIM request's credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BearerRefusal {
    /// No `Authorization` header.
    Missing,
    /// Expired, bad signature, wrong audience or issuer, revoked, unknown client, bad Basic
    /// credentials: the reason, never the token.
    Invalid(String),
    /// Storage is down: the same request may succeed later.
    Unavailable(String),
}

/// The SCIM endpoint's credential check: an access token of ours (or, for clients that allow
/// it, Basic with the client's secret). The public key is read once and kept; a check is then
/// one read (the client) and one signature verification.
#[derive(Clone)]
pub struct BearerCheck {
    verifier: Verifier,
    auth: ClientAuth,
    validation: Validation,
}

impl BearerCheck {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, public_url: &str) -> Self {
        Self::with_throttle(table, clock, public_url, ThrottleSettings::default())
    }

    pub fn with_throttle(
        table: Arc<dyn Table>,
        clock: Arc<dyn Clock>,
        public_url: &str,
        settings: ThrottleSettings,
    ) -> Self {
        Self {
            verifier: Verifier::new(table.clone()),
            auth: ClientAuth::new(table, clock, settings),
            validation: access_validation(public_url),
        }
    }

    /// `authorization` = the raw `Authorization` header value.
    pub async fn caller(
        &self,
        authorization: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<ScimCaller, BearerRefusal> {
        let value = authorization
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(BearerRefusal::Missing)?;
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(BearerRefusal::Invalid(
                "the Authorization header is too long".to_owned(),
            ));
        }
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            self.bearer(rest.trim()).await
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic(value, source_ip).await
        } else {
            Err(BearerRefusal::Invalid(
                "the Authorization scheme is neither Bearer nor Basic".to_owned(),
            ))
        }
    }

    async fn bearer(&self, token: &str) -> Result<ScimCaller, BearerRefusal> {
        let claims: AccessClaims = match self.verifier.verify(token, &self.validation).await {
            Ok(Ok(claims)) => claims,
            Ok(Err(refused)) => return Err(BearerRefusal::Invalid(refused.0)),
            // Storage down, or a stored key that does not read: nothing the caller did.
            Err(e) => return Err(BearerRefusal::Unavailable(e.to_string())),
        };
        if !claims.scope.split(' ').any(|s| s == SCIM_SCOPE) {
            return Err(BearerRefusal::Invalid(
                "the token has no scim scope".to_owned(),
            ));
        }
        let client = self
            .auth
            .clients()
            .by_client_id(&claims.sub)
            .await
            .map_err(|e| BearerRefusal::Unavailable(e.to_string()))?
            .ok_or_else(|| BearerRefusal::Invalid("the client no longer exists".to_owned()))?;
        if client.revoked_ms.is_some() {
            return Err(BearerRefusal::Invalid("the client is revoked".to_owned()));
        }
        if claims.iat.saturating_mul(1000) + (LEEWAY_S as i64) * 1000 < client.created_ms {
            // A token older than the client: not issued to it.
            return Err(BearerRefusal::Invalid(
                "the token predates the client".to_owned(),
            ));
        }
        Ok(ScimCaller::from(&client))
    }

    async fn basic(&self, value: &str, source: Option<&str>) -> Result<ScimCaller, BearerRefusal> {
        let (client_id, secret) = basic_credentials(value).ok_or_else(|| {
            BearerRefusal::Invalid("the Basic credentials do not decode".to_owned())
        })?;
        match self.auth.authenticate(&client_id, &secret, source).await {
            Ok(client) if client.allow_basic => Ok(ScimCaller::from(&client)),
            Ok(_) => Err(BearerRefusal::Invalid(
                "Basic authentication is not allowed for this client".to_owned(),
            )),
            Err(AuthFailure::Throttled { retry_after_s }) => Err(BearerRefusal::Invalid(format!(
                "too many failed attempts; retry in {retry_after_s} s"
            ))),
            Err(AuthFailure::Invalid(reason)) => Err(BearerRefusal::Invalid(reason.to_owned())),
            Err(AuthFailure::Unavailable(cause)) => Err(BearerRefusal::Unavailable(cause)),
        }
    }
}

/// What a SCIM access token must satisfy: RS256 only, our issuer and the SCIM audience pinned,
/// `exp`, `iat` and `sub` required.
pub fn access_validation(public_url: &str) -> Validation {
    let issuer = public_url.trim_end_matches('/');
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[scim_audience(issuer)]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = LEEWAY_S;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        assert_eq!(
            basic_credentials(&basic("dbscim_1:s%2Bx+y%3A")),
            Some(("dbscim_1".to_owned(), "s+x y:".to_owned()))
        );
        assert_eq!(
            basic_credentials(&basic("a:b:c")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(basic_credentials(&basic("no-colon")), None);
        assert_eq!(basic_credentials(&basic(":secret")), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(
            basic_credentials(&basic("a:x&y=z")),
            Some(("a".into(), "x&y=z".into()))
        );
    }

    #[test]
    fn urls_are_built_from_the_public_url() {
        assert_eq!(
            scim_audience("https://idm.example/"),
            "https://idm.example/scim/v2"
        );
        assert_eq!(
            token_url("https://idm.example"),
            "https://idm.example/oauth/token"
        );
    }
}
