//! `GET /healthz`: the version, the engines in use, and whether the table answers. Served on Lambda
//! behind the HTTP API and by `infra/local`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use dingbridge::ports::{Key, Table};
use serde::Serialize;

/// What the health check reads: the table (pinged) and the names of the other engines (reported).
#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    pub queue_engine: &'static str,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub engines: Engines,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Engines {
    pub table: String,
    pub queue: String,
}

pub fn router(deps: Deps) -> Router {
    dingbridge::web::json_errors(
        Router::new()
            .route("/healthz", get(healthz))
            .with_state(deps),
    )
}

async fn healthz(State(deps): State<Deps>) -> (StatusCode, Json<Health>) {
    // A point read of a key nothing writes: proves the table is reachable and readable.
    let probe = deps.table.get(&Key::new("HEALTH", "HEALTH")).await;
    let (status, text) = match probe {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health probe of the table failed");
            (StatusCode::SERVICE_UNAVAILABLE, "degraded")
        }
    };
    let health = Health {
        status: text.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        engines: Engines {
            table: deps.table.engine().to_owned(),
            queue: deps.queue_engine.to_owned(),
        },
    };
    (status, Json(health))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::Request;
    use dingbridge::ports::{BatchOp, Cond, Item, Page, Query, TableError, TxOp};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A table whose every call fails, to see the degraded answer (not a mock of behaviour under
    /// test: the engines themselves are exercised by the contract suite).
    struct Unreachable;

    #[async_trait]
    impl Table for Unreachable {
        async fn get(&self, _: &Key) -> Result<Option<Item>, TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        async fn put(&self, _: Item, _: Cond) -> Result<(), TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        async fn delete(&self, _: &Key, _: Cond) -> Result<(), TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        async fn query(&self, _: &Query) -> Result<Page, TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        async fn transact(&self, _: Vec<TxOp>) -> Result<(), TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        async fn batch_write(&self, _: Vec<BatchOp>) -> Result<(), TableError> {
            Err(TableError::Transient("connection refused".into()))
        }
        fn engine(&self) -> &'static str {
            "unreachable"
        }
    }

    #[tokio::test]
    async fn unknown_paths_and_wrong_methods_answer_the_json_error_body() {
        let app = router(Deps {
            table: Arc::new(Unreachable),
            queue_engine: "embedded",
        });
        for (request, status, code) in [
            (
                Request::get("/nowhere").body(Body::empty()).unwrap(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                Request::post("/healthz").body(Body::empty()).unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            ),
        ] {
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), status);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(response.headers()["allow"], "GET,HEAD");
            }
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"], code);
        }
    }

    #[tokio::test]
    async fn an_unreachable_table_makes_health_503_degraded() {
        let app = router(Deps {
            table: Arc::new(Unreachable),
            queue_engine: "embedded",
        });
        let response = app
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let health: Health = serde_json::from_slice(&body).unwrap();
        assert_eq!(health.status, "degraded");
        assert_eq!(health.engines.table, "unreachable");
    }
}
