//! The one place errors become HTTP responses, and the JSON extractor whose rejections use it.
//! Handlers return `Result<_, ApiError>`; no handler writes its own 400/500 match.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{QueueError, TableError};

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

/// `axum::Json` with our rejection: a bad body is a 400 (413 when too large) in our error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::BadRequest(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::BadRequest("expected Content-Type: application/json".to_owned())
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
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
        assert_eq!(body["error"], "bad_request");
        assert!(body["message"].as_str().unwrap().contains("name"), "{body}");
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
