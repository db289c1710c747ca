//! Every call needs a stored admin token; bootstrap stores the configured one or generates the first.

use axum::http::{Method, StatusCode, header};

use crate::support::Env;

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_with_a_bearer_challenge() {
    let env = Env::new().await;
    for token in [None, Some("not-the-token"), Some("")] {
        let answer = env
            .call_as(token, Method::GET, "/admin/api/connectors", None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(answer.body["error"], "unauthorized");
    }
    let answer = env.call(Method::GET, "/admin/api/connectors", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn a_configured_token_is_stored_and_no_second_token_is_generated() {
    let env = Env::new().await;
    let clock: std::sync::Arc<dyn dingbridge::ports::Clock> =
        std::sync::Arc::new(dingbridge::ports::SystemClock);
    let configured = "configured-admin-token-0123456789";
    let generated = admin::bootstrap_admin_token(
        env.table.clone(),
        clock.clone(),
        Some(format!(" {configured} ")),
    )
    .await
    .unwrap();
    assert_eq!(generated, None);
    let again = admin::bootstrap_admin_token(env.table.clone(), clock, None)
        .await
        .unwrap();
    assert_eq!(again, None, "a token exists, so none is generated");
    let answer = env
        .call_as(Some(configured), Method::GET, "/admin/api/connectors", None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // The first (generated) token still works too.
    let answer = env.call(Method::GET, "/admin/api/org-units", None).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// The real table, with its writes counted: what a cold start costs is the behaviour under test.
struct WritesCounted {
    inner: std::sync::Arc<dyn dingbridge::ports::Table>,
    writes: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl dingbridge::ports::Table for WritesCounted {
    async fn get(
        &self,
        key: &dingbridge::ports::Key,
    ) -> Result<Option<dingbridge::ports::Item>, dingbridge::ports::TableError> {
        self.inner.get(key).await
    }
    async fn put(
        &self,
        item: dingbridge::ports::Item,
        cond: dingbridge::ports::Cond,
    ) -> Result<(), dingbridge::ports::TableError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.put(item, cond).await
    }
    async fn delete(
        &self,
        key: &dingbridge::ports::Key,
        cond: dingbridge::ports::Cond,
    ) -> Result<(), dingbridge::ports::TableError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.delete(key, cond).await
    }
    async fn query(
        &self,
        query: &dingbridge::ports::Query,
    ) -> Result<dingbridge::ports::Page, dingbridge::ports::TableError> {
        self.inner.query(query).await
    }
    async fn transact(
        &self,
        ops: Vec<dingbridge::ports::TxOp>,
    ) -> Result<(), dingbridge::ports::TableError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.transact(ops).await
    }
    async fn batch_write(
        &self,
        ops: Vec<dingbridge::ports::BatchOp>,
    ) -> Result<(), dingbridge::ports::TableError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.batch_write(ops).await
    }
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }
}

#[tokio::test]
async fn the_configured_token_is_written_at_the_first_start_only() {
    let env = Env::new().await;
    let counted = std::sync::Arc::new(WritesCounted {
        inner: env.table.clone(),
        writes: std::sync::atomic::AtomicUsize::new(0),
    });
    let clock: std::sync::Arc<dyn dingbridge::ports::Clock> =
        std::sync::Arc::new(dingbridge::ports::SystemClock);
    let configured = "configured-admin-token-0123456789";
    for start in 1..=3 {
        admin::bootstrap_admin_token(counted.clone(), clock.clone(), Some(configured.into()))
            .await
            .unwrap();
        assert_eq!(
            counted.writes.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "after start {start}"
        );
    }
    let answer = env
        .call_as(Some(configured), Method::GET, "/admin/api/connectors", None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}
