//! Our JSON body extractor: a malformed body is a 400 in our error format, and a body whose fields
//! have the wrong types names every such field at once, not only the first one serde meets.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{ApiError, FieldProblem};

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
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "expected Content-Type: application/json".to_owned(),
            ));
        }
        // `Bytes` honours the router's `DefaultBodyLimit`.
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        decode(&bytes).map(Self)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes a body into `T`, reporting every top-level field that fails on its own.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    match T::deserialize(&value) {
        Ok(decoded) => Ok(decoded),
        Err(first) => Err(field_problems::<T>(&value, &first)),
    }
}

/// serde stops at the first error, so each top-level field is decoded alone (`{field: value}`):
/// the fields that fail by themselves are the ones to report. A "missing field" from such a
/// one-field object only means the target has other required fields, so it is not the field's
/// fault; required fields that are really absent are found by decoding without the bad ones.
fn field_problems<T: DeserializeOwned>(value: &Value, first: &serde_json::Error) -> ApiError {
    let Some(object) = value.as_object() else {
        return ApiError::BadRequest(format!("the body {}", reason(&first.to_string())));
    };
    let mut problems = Vec::new();
    let mut rest = object.clone();
    for (field, v) in object {
        let alone = Value::Object(Map::from_iter([(field.clone(), v.clone())]));
        if let Err(e) = T::deserialize(&alone) {
            let text = e.to_string();
            if missing_field(&text).is_none() {
                problems.push(FieldProblem::new(field.clone(), reason(&text)));
                rest.remove(field);
            }
        }
    }
    if let Err(e) = T::deserialize(&Value::Object(rest)) {
        let text = e.to_string();
        match missing_field(&text) {
            Some(missing) => problems.push(FieldProblem::new(missing, "is required")),
            None if problems.is_empty() => problems.push(FieldProblem::new("body", reason(&text))),
            None => {}
        }
    }
    ApiError::InvalidFields(problems)
}

/// The field of serde's "missing field `x`".
fn missing_field(text: &str) -> Option<&str> {
    text.strip_prefix("missing field `")?.split('`').next()
}

/// serde's message in words for an admin, without the offending value (which may be a secret
/// sent in the wrong field or type).
fn reason(text: &str) -> String {
    let expected = text
        .split_once(", expected ")
        .map(|(_, e)| readable_type(e.trim()));
    let starts = |p: &str| text.starts_with(p);
    match expected {
        _ if starts("unknown field") => "is not a known field".to_owned(),
        Some(e) if starts("invalid type") => format!("has the wrong type: expected {e}"),
        Some(e) if starts("invalid value") => format!("has an invalid value: expected {e}"),
        Some(e) if starts("unknown variant") => format!("is not an allowed value: expected {e}"),
        Some(e) if starts("invalid length") => format!("has the wrong length: expected {e}"),
        _ => text.to_owned(),
    }
}

/// Rust type names as a person says them.
fn readable_type(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number".to_owned()
        }
        "f32" | "f64" => "a number".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Form {
        name: String,
        count: Option<u32>,
        enabled: Option<bool>,
    }

    fn problems(body: &str) -> Vec<(String, String)> {
        match decode::<Form>(body.as_bytes()) {
            Err(ApiError::InvalidFields(list)) => {
                list.into_iter().map(|p| (p.field, p.reason)).collect()
            }
            other => panic!("expected field problems, got {other:?}"),
        }
    }

    #[test]
    fn every_wrongly_typed_field_is_named_with_what_was_expected() {
        let found = problems(r#"{"name": "a", "count": "three", "enabled": 1}"#);
        assert_eq!(
            found,
            [
                (
                    "count".to_owned(),
                    "has the wrong type: expected a whole number".to_owned()
                ),
                (
                    "enabled".to_owned(),
                    "has the wrong type: expected a boolean".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_reported_beside_type_errors() {
        let found = problems(r#"{"count": -1, "colour": "red"}"#);
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["colour", "count", "name"]);
        assert_eq!(found[0].1, "is not a known field");
        assert_eq!(found[2].1, "is required");
    }

    #[test]
    fn offending_values_are_not_echoed() {
        let found = problems(r#"{"name": 123456789}"#);
        assert!(!format!("{found:?}").contains("123456789"), "{found:?}");
    }

    #[test]
    fn syntax_errors_and_non_objects_are_bad_requests() {
        for body in ["{\"name\":", "[1]", "null"] {
            assert!(
                matches!(
                    decode::<Form>(body.as_bytes()),
                    Err(ApiError::BadRequest(_))
                ),
                "{body}"
            );
        }
        assert_eq!(decode::<Form>(br#"{"name":"a"}"#).unwrap().name, "a");
    }

    #[test]
    fn json_content_types_include_suffixed_ones() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/scim+json"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
