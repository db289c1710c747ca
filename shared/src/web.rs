//! The one place errors become HTTP responses: `ApiError`, the JSON extractor whose rejections use
//! it, and the layer that gives a router's empty 404s and 405s the same JSON body. Handlers return
//! `Result<_, ApiError>`; no handler writes its own 400/500 match.

mod json;

use axum::Router;
use axum::body::HttpBody;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use json::{Json, decode};

use crate::lifecycle::{ConfirmError, StartError};
use crate::ports::{QueueError, TableError};
use crate::store::DirectoryError;
use crate::store::runs::RunError;

/// What went wrong, in terms a client can act on. Internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, bad query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// One field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Several fields are invalid: every problem is listed, so a form can be fixed in one go.
    #[error("invalid input: {}", FieldProblem::join(.0))]
    InvalidFields(Vec<FieldProblem>),
    /// No or bad credentials.
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The path exists, but not with this method (the `Allow` header lists those it has).
    #[error("method not allowed: the Allow header lists the methods of this path")]
    MethodNotAllowed,
    /// The write conflicts with the stored state (a version race, a taken unique value).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// A dependency is unavailable for now; the same request may succeed later.
    #[error("temporarily unavailable")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged once, the client sees a generic text.
    #[error("internal error")]
    Internal(String),
}

/// One invalid field of an [`ApiError::InvalidFields`], as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn join(problems: &[Self]) -> String {
        problems
            .iter()
            .map(|p| format!("{} {}", p.field, p.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl From<crate::domain::values::InvalidField> for FieldProblem {
    fn from(f: crate::domain::values::InvalidField) -> Self {
        Self::new(f.field, f.reason)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a [FieldProblem]>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Invalid { .. } | Self::InvalidFields(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Invalid { .. } | Self::InvalidFields(_) => "invalid",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The text the client sees: the reason for 4xx, a fixed sentence for 5xx.
    fn public_message(&self) -> String {
        match self {
            Self::Unavailable(_) => "temporarily unavailable, retry later".to_owned(),
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let field = match &self {
            Self::Invalid { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let problems = match &self {
            Self::InvalidFields(list) => Some(list.as_slice()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            message: self.public_message(),
            field,
            problems,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Gives the router's body-less 404s and 405s (axum's own: an unrouted path, a routed path with
/// another method) the JSON error body. A response layer, not a `fallback`, so that routers wrapped
/// with it can still be merged (axum refuses to merge two routers that both have a fallback);
/// wrapping twice is harmless. axum adds a 405's `Allow` header outside route layers, after this
/// runs; one already present is kept.
/// A cookie's value from the request (the first of that name), trimmed.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

pub fn json_errors<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(map_response(json_error_body))
}

async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    if response.body().size_hint().exact() != Some(0) {
        return response;
    }
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut json = ApiError::MethodNotAllowed.into_response();
            if let Some(allow) = response.headers().get(header::ALLOW) {
                json.headers_mut().insert(header::ALLOW, allow.clone());
            }
            json
        }
        _ => response,
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::ConditionFailed | TableError::TransactionCancelled { .. } => {
                Self::Conflict("the resource was changed concurrently; reload and retry".to_owned())
            }
            TableError::Transient(cause) => Self::Unavailable(cause),
            TableError::Invalid(cause) | TableError::Permanent(cause) => Self::Internal(cause),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Transient(cause) => Self::Unavailable(cause),
            QueueError::Invalid(cause) | QueueError::Permanent(cause) => Self::Internal(cause),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(f) => ApiError::invalid(f.field, f.reason),
            DirectoryError::NotFound(what) => {
                tracing::debug!(%what, "not found");
                ApiError::NotFound
            }
            DirectoryError::Conflict { detail, .. } => ApiError::Conflict(detail),
            e @ DirectoryError::NotEmpty { .. } => ApiError::Conflict(e.to_string()),
            DirectoryError::Stale => ApiError::Conflict(
                "the entity was changed concurrently; reload and retry".to_owned(),
            ),
            DirectoryError::Corrupt(cause) => ApiError::Internal(cause),
            DirectoryError::Storage(e) => e.into(),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound(_) => ApiError::NotFound,
            e @ RunError::InvalidTransition { .. } => ApiError::Conflict(e.to_string()),
            RunError::Stale => {
                ApiError::Conflict("the run was changed concurrently; reload and retry".to_owned())
            }
            RunError::Directory(e) => e.into(),
        }
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Busy(_) => {
                Self::Conflict("a pull of this connector is already running".to_owned())
            }
            StartError::Store(e) => e.into(),
            // The run is failed and the lock freed: the same request may succeed later.
            StartError::Queue(e) => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<ConfirmError> for ApiError {
    fn from(e: ConfirmError) -> Self {
        match e {
            e @ (ConfirmError::Refused(_) | ConfirmError::Busy) => Self::Conflict(e.to_string()),
            ConfirmError::Store(e) => e.into(),
            ConfirmError::Queue(e) => Self::Unavailable(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }

    async fn echo(Json(n): Json<Named>) -> Result<String, ApiError> {
        if n.name.is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        Ok(n.name)
    }

    async fn call(body: &'static str, content_type: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/", post(echo));
        let response = app
            .oneshot(
                Request::post("/")
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    #[tokio::test]
    async fn a_bad_json_body_is_a_400_in_our_format() {
        let (status, body) = call("{\"nam\":1}", "application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["problems"][0]["field"], "name", "{body}");
        let (status, body) = call("{\"name\":", "application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "bad_request", "{body}");
    }

    #[tokio::test]
    async fn a_missing_content_type_is_a_400() {
        let (status, body) = call("{\"name\":\"a\"}", "text/plain").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }

    #[tokio::test]
    async fn an_invalid_field_names_the_field() {
        let (status, body) = call("{\"name\":\"\"}", "application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["field"], "name");
    }

    async fn send(app: Router, request: Request) -> (StatusCode, HeaderMapSnapshot, String) {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned());
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            HeaderMapSnapshot {
                allow,
                content_type,
            },
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    struct HeaderMapSnapshot {
        allow: Option<String>,
        content_type: Option<String>,
    }

    fn get(path: &str) -> Request {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn empty_404s_and_405s_get_the_json_body_and_keep_allow() {
        let app = json_errors(Router::new().route("/named", post(echo)).route(
            "/gone",
            axum::routing::get(|| async { StatusCode::NOT_FOUND }),
        ));
        let (status, headers, body) = send(app.clone(), get("/nowhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers.content_type.as_deref(), Some("application/json"));
        assert!(body.contains("\"error\":\"not_found\""), "{body}");
        let (status, _, body) = send(app.clone(), get("/gone")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            body.contains("not_found"),
            "a handler's bare 404 too: {body}"
        );
        let (status, headers, body) = send(app, get("/named")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers.allow.as_deref(), Some("POST"));
        assert!(body.contains("\"error\":\"method_not_allowed\""), "{body}");
    }

    #[tokio::test]
    async fn responses_with_a_body_are_left_alone_and_wrapped_routers_still_merge() {
        let teapot = json_errors(Router::new().route(
            "/tea",
            axum::routing::get(|| async { (StatusCode::NOT_FOUND, "no tea today") }),
        ));
        let other = json_errors(Router::new().route("/named", post(echo)));
        let merged = json_errors(teapot.merge(other));
        let (status, _, body) = send(merged.clone(), get("/tea")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::NOT_FOUND, "no tea today")
        );
        let (status, _, body) = send(merged, get("/elsewhere")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not_found"), "{body}");
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let response = ApiError::Internal("secret=hunter2 exploded".to_owned()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let e = ApiError::from(TableError::Permanent("table arn:aws:... denied".to_owned()));
        assert_eq!(e.public_message(), "internal error");
    }

    #[tokio::test]
    async fn several_invalid_fields_are_listed_together() {
        let response = ApiError::InvalidFields(vec![
            FieldProblem::new("name", "is required"),
            FieldProblem::new("corp_id", "is required"),
        ])
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["problems"][1]["field"], "corp_id");
        assert_eq!(
            body["message"],
            "invalid input: name is required; corp_id is required"
        );
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized.into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn storage_conflicts_are_409_and_throttling_is_503() {
        assert_eq!(
            ApiError::from(TableError::ConditionFailed).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(TableError::Transient("throttled".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
