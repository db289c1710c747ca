//! Every SCIM error answers the RFC 7644 §3.12 body, `status` as a string, `application/scim+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dingbridge::store::DirectoryError;
use serde_json::json;

use crate::schema::ERROR;

/// The `scimType` values of RFC 7644 §3.12 we answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
}

impl ScimType {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
        }
    }
}

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// `WWW-Authenticate` of a 401.
    pub challenge: Option<String>,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            challenge: None,
        }
    }

    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, what)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "SCIM request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal error; the cause is logged",
        )
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%cause, "SCIM dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "temporarily unavailable; retry later",
        )
    }

    pub fn unauthorized(reason: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, None, reason.to_owned());
        e.challenge = Some(format!(
            "Bearer realm=\"dingbridge\", error=\"invalid_token\", error_description=\"{}\"",
            reason.replace(['"', '\\'], "'")
        ));
        e
    }

    pub fn method_not_allowed(detail: &str) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, None, detail.to_owned())
    }
}

impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(f) => {
                Self::bad(ScimType::InvalidValue, format!("{}: {}", f.field, f.reason))
            }
            DirectoryError::NotFound(what) => Self::not_found(format!("{what} not found")),
            DirectoryError::Conflict { detail, .. } => {
                Self::new(StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail)
            }
            e @ DirectoryError::NotEmpty { .. } => {
                Self::new(StatusCode::CONFLICT, None, e.to_string())
            }
            DirectoryError::Stale => Self::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the resource was changed since the version given (If-Match); read it again",
            ),
            e @ DirectoryError::Storage(_) if e.is_transient() => Self::unavailable(e),
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::SCIM_JSON),
        );
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        response
    }
}
