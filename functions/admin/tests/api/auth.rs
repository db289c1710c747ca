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
