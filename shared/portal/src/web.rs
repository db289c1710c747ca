//! The portal's HTTP plumbing: cookies, form bodies, safe redirects, and the error page every
//! handler answers with (a page a person can read; causes are logged, never shown).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dingbridge::oauth::SourceIp;
use dingbridge::store::DirectoryError;

use crate::pages;

/// The session cookie.
pub const SESSION_COOKIE: &str = "dbsid";
/// The double-submit token of the sign-in form (there is no session yet to hold it).
pub const LOGIN_CSRF_COOKIE: &str = "dbcsrf";

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    dingbridge::web::cookie(headers, name).map(str::to_owned)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, path `/`, `Secure` unless on plain http.
/// `max_age_s = 0` deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A form or query string as name → value (the first of repeated names; RFC 6749 §3.1 refuses
/// repeated parameters, which [`Params::repeated`] tells).
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, PageError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|_| PageError::BadRequest("the form could not be read".into()))?;
        let mut out = Self::default();
        for (k, v) in pairs {
            match out.values.entry(k) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    out.repeated.push(e.key().clone())
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Names given more than once.
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }

    /// Every pair, in name order.
    pub fn pairs(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values.iter()
    }
}

/// Whether the request's body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false)
}

/// A form body, or the page that says `what` was not sent as one.
pub fn form_of(headers: &HeaderMap, body: &[u8], what: &str) -> Result<Params, PageError> {
    if !is_form(headers) {
        return Err(PageError::BadRequest(format!(
            "{what} was not sent as a form"
        )));
    }
    Params::parse(body)
}

/// The double-submit check of a form shown before sign-in: its `csrf` field must be the
/// `dbcsrf` cookie's value.
pub fn check_login_csrf(headers: &HeaderMap, form: &Params) -> Result<(), PageError> {
    let expected = cookie(headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(form.get("csrf").unwrap_or(""), &expected) {
        return Err(PageError::Csrf);
    }
    Ok(())
}

/// The username, email or mobile a form names: trimmed, at most 256 characters.
pub fn identifier_of(form: &Params) -> String {
    form.get("identifier")
        .unwrap_or("")
        .trim()
        .chars()
        .take(256)
        .collect()
}

/// `next` when it is a path of this site (never another host: `//evil`, `/\evil` and absolute
/// URLs are refused), else the portal. Only visible ASCII is kept (the paths this site makes are
/// percent-encoded), so the path is always a valid `Location`.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
                && n.len() <= 4096 =>
        {
            n.to_owned()
        }
        _ => "/portal".to_owned(),
    }
}

/// The caller's address (API Gateway's `sourceIp`, or the peer locally).
pub fn source(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<SourceIp>()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Constant-time comparison of two tokens.
pub use dingbridge::secrets::same_token;

/// A request the portal cannot serve, as a page.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    /// The form's CSRF token is missing or wrong.
    Csrf,
    NotFound,
    Forbidden(String),
    /// Storage did not answer; the same request may succeed later.
    Unavailable(String),
    Internal(String),
}

impl From<DirectoryError> for PageError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Storage(t) if t.is_transient() => Self::Unavailable(t.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<dingbridge::signing::SigningError> for PageError {
    fn from(e: dingbridge::signing::SigningError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            Self::BadRequest(why) => (StatusCode::BAD_REQUEST, "请求无效 Bad request", why),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "页面已过期 This page expired",
                "The form was sent without its security token (or from another site). Go back, reload the page and try again.".to_owned(),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "未找到 Not found",
                "There is no such page.".to_owned(),
            ),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, "无权访问 Not allowed", why),
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "portal: storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "暂时不可用 Temporarily unavailable",
                    "Please try again in a moment.".to_owned(),
                )
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "portal request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "出错了 Something went wrong",
                    "The error was logged. Please try again later.".to_owned(),
                )
            }
        };
        (status, no_store(), Html(pages::message(title, &detail))).into_response()
    }
}

/// Headers that keep a page or answer out of every cache (pages carry CSRF tokens; token
/// answers carry tokens).
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}
