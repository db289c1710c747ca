//! `scim`: the SCIM 2.0 server under `/scim/v2` (job J3, second half). Identity systems (Entra ID,
//! Okta, IDaaS, HR scripts) provision Users and Groups (= org units); every write goes through
//! the directory's push outbox (`PushingDirectory`), so DingTalk follows. Clients authenticate
//! with a bearer token from `/oauth/token` (or HTTP Basic where their client allows it) and
//! reach only the org units and accounts below their root unit.

mod discovery;
mod doc;
mod error;
mod groups;
mod list;
mod patch;
mod render;
mod schema;
mod scope;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dingbridge::oauth::{BearerCheck, BearerRefusal};
use dingbridge::ports::{Clock, Queue, Table};
use dingbridge::push::PushingDirectory;
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::mappings::Mappings;
use dingbridge::store::outbox::Outbox;
use dingbridge::store::settings::Settings;
use serde_json::Value;

pub use error::{ScimError, ScimType};
pub use scope::Caller;

/// The media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";
/// The largest request body (a group with a few thousand members fits).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// `filter.maxResults`: the most resources one list or search answers.
pub const MAX_RESULTS: usize = 200;

/// What the SCIM server uses, and so what its IAM policy grants: the table and the push queue.
/// It never opens a connector's secrets, so it has no data key.
#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    /// The push queue: writes inside a push-enabled connector's root are queued for `push-worker`.
    pub push_queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    /// The deployment's public URL (no trailing slash): the SCIM base is `{public_url}/scim/v2`.
    pub public_url: String,
}

/// The stores every handler uses, built once per router.
#[derive(Clone)]
pub(crate) struct Scim {
    pub directory: Directory,
    pub pushing: PushingDirectory,
    pub connectors: Connectors,
    pub mappings: Mappings,
    pub outbox: Outbox,
    pub settings: Settings,
    pub bearer: BearerCheck,
    /// `{public_url}/scim/v2`.
    pub base: String,
}

impl Scim {
    fn new(deps: Deps) -> Self {
        let (table, clock) = (deps.table.clone(), deps.clock.clone());
        // Connectors are only read here (which ones push, and their roots): nothing is sealed or
        // opened, so an ephemeral key stands in for the data key this function never has.
        let connectors = Connectors::new(table.clone(), clock.clone(), SecretBox::ephemeral());
        let directory = Directory::new(table.clone(), clock.clone());
        let outbox = Outbox::new(table.clone(), clock.clone());
        let public_url = deps.public_url.trim_end_matches('/').to_owned();
        Self {
            pushing: PushingDirectory::new(
                directory.clone(),
                connectors.clone(),
                outbox.clone(),
                deps.push_queue.clone(),
            ),
            directory,
            connectors,
            mappings: Mappings::new(table.clone()),
            outbox,
            settings: Settings::new(table.clone(), clock.clone()),
            bearer: BearerCheck::new(table, clock, &public_url),
            base: format!("{public_url}/scim/v2"),
        }
    }
}

pub fn router(deps: Deps) -> Router {
    let scim = Scim::new(deps);
    let api = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(discovery::read_only),
        )
        .route(
            "/ResourceTypes",
            get(discovery::resource_types).fallback(discovery::read_only),
        )
        .route(
            "/ResourceTypes/{id}",
            get(discovery::resource_type).fallback(discovery::read_only),
        )
        .route(
            "/Schemas",
            get(discovery::schemas).fallback(discovery::read_only),
        )
        .route(
            "/Schemas/{id}",
            get(discovery::schema).fallback(discovery::read_only),
        )
        .route("/.search", post(list::search_all))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route_layer(middleware::from_fn_with_state(scim.clone(), authenticate))
        .fallback(|| async { ScimError::not_found("no such SCIM endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(scim_error_bodies))
        .with_state(scim);
    Router::new().nest("/scim/v2", api)
}

/// A response the framework made without a body (405, 404) gets the SCIM error body.
async fn scim_error_bodies(response: Response) -> Response {
    use axum::body::HttpBody as _;
    let status = response.status();
    if !status.is_client_error() || response.body().size_hint().exact() != Some(0) {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not support the method",
        StatusCode::NOT_FOUND => "no such SCIM endpoint",
        _ => "the request was refused",
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut out = ScimError::new(status, None, detail).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// Every SCIM route needs a caller: a bearer token from `/oauth/token` (or Basic for a client
/// that allows it). Refusals are 401 with the SCIM error body and `WWW-Authenticate`.
async fn authenticate(State(scim): State<Scim>, mut request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The platform's view of the caller's address (never a header the client writes).
    let source_ip = request
        .extensions()
        .get::<dingbridge::oauth::SourceIp>()
        .map(|s| s.0.clone());
    let caller = match scim
        .bearer
        .caller(authorization.as_deref(), source_ip.as_deref())
        .await
    {
        Ok(c) => c,
        Err(BearerRefusal::Missing) => {
            return ScimError::unauthorized("a bearer token is required (from /oauth/token)")
                .into_response();
        }
        Err(BearerRefusal::Invalid(reason)) => {
            return ScimError::unauthorized(&reason).into_response();
        }
        Err(BearerRefusal::Unavailable(cause)) => {
            return ScimError::unavailable(cause).into_response();
        }
    };
    match scope::Caller::resolve(&scim, caller).await {
        Ok(c) => {
            request.extensions_mut().insert(c);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// A SCIM request body: `application/scim+json` or `application/json` (any charset; a missing
/// type is read as JSON too), parsed as JSON; anything else is a SCIM error.
pub(crate) struct ScimJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimJson {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if let Some(ct) = &content_type
            && ct != "application/scim+json"
            && ct != "application/json"
        {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("bodies are application/scim+json or application/json, not {ct}"),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    ScimError::bad(ScimType::InvalidSyntax, "the body could not be read")
                }
            })?;
        serde_json::from_slice(&bytes).map(ScimJson).map_err(|e| {
            ScimError::bad(
                ScimType::InvalidSyntax,
                format!("the body is not JSON: {e}"),
            )
        })
    }
}

/// A SCIM resource answer: the JSON, `application/scim+json`, and the headers given.
pub(crate) fn scim_response(status: StatusCode, headers: HeaderMap, body: &Value) -> Response {
    let mut response = (status, headers, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// The version a write is conditional on: `If-Match: W/"3"` (or `"3"`); `*` and absence mean
/// any. A value that is not one of our ETags can never match: 412.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ScimError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or("").trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| {
            ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!("If-Match {raw:?} is not a version of this resource"),
            )
        })
}

/// The weak ETag of a version.
pub(crate) fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}
