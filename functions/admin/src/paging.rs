//! The one paging shape of every admin list: `?limit=` (default 100, at most 1000) and an opaque
//! `?cursor=`, answered as `{"items": [...], "next_cursor": ...}` with `null` on the last page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use dingbridge::ports::TableError;
use dingbridge::store::{DirectoryError, PageOf};
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: usize = 100;
/// The engines' page cap: DynamoDB answers at most 1 MB per query, and 1000 small items stay
/// inside it.
pub const MAX_LIMIT: usize = dingbridge::ports::MAX_QUERY_LIMIT;

/// The paging part of a list request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The table's own cursor: already opaque (URL-safe base64) and checked by the engine.
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<String>,
    cursor: Option<String>,
}

impl PageRequest {
    fn parse(raw: RawPage) -> Result<Self, ApiError> {
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let limit = match blank(raw.limit) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        Ok(Self {
            limit,
            cursor: blank(raw.cursor),
        })
    }

    /// Runs one store listing with this page's limit and cursor. A cursor the engine does not
    /// recognise is the client's mistake (400), not a storage failure.
    pub async fn load<T, F, Fut>(&self, list: F) -> Result<PageOf<T>, ApiError>
    where
        F: FnOnce(usize, Option<String>) -> Fut,
        Fut: Future<Output = Result<PageOf<T>, DirectoryError>>,
    {
        match list(self.limit, self.cursor.clone()).await {
            Ok(page) => Ok(page),
            Err(DirectoryError::Storage(TableError::Invalid(_))) if self.cursor.is_some() => Err(
                ApiError::invalid("cursor", "is not a cursor this list returned"),
            ),
            Err(e) => Err(e.into()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // axum's own decoder, so `limit`/`cursor` sit beside each list's other filters.
        let raw = axum::extract::Query::<RawPage>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Self::parse(raw.0)
    }
}

/// One page of a list, as every admin list answers.
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// A store page with its items turned into their API views.
    pub fn from_page<S>(page: PageOf<S>, view: impl FnMut(S) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(view).collect(),
            next_cursor: page.next,
        }
    }

    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(limit: Option<&str>) -> Result<PageRequest, ApiError> {
        PageRequest::parse(RawPage {
            limit: limit.map(str::to_owned),
            cursor: Some("  ".to_owned()),
        })
    }

    #[test]
    fn limits_default_to_100_and_stop_at_1000() {
        assert_eq!(parse(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse(Some("")).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse(Some("1000")).unwrap().limit, 1000);
        assert_eq!(parse(None).unwrap().cursor, None);
        for bad in ["1001", "0", "-1", "ten"] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
