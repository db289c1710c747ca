//! Every list pages the same way: `limit` (default 100, at most 1000), an opaque `cursor`, and
//! `next_cursor` null on the last page.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::Env;

#[tokio::test]
async fn lists_page_with_an_opaque_cursor_until_next_cursor_is_null() {
    let env = Env::new().await;
    for name in ["Alpha", "Beta", "Gamma"] {
        let mut input = env.connector_input();
        input["name"] = json!(name);
        // One connector per DingTalk app: each needs its own app key.
        input["app_key"] = json!(format!("key{name}"));
        env.create_connector(input).await;
    }
    let first = env
        .call(Method::GET, "/admin/api/connectors?limit=2", None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = env
        .call(
            Method::GET,
            &format!("/admin/api/connectors?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["items"][0]["name"], "Gamma");
    assert!(second.body["next_cursor"].is_null(), "{}", second.text);

    let all = env.call(Method::GET, "/admin/api/connectors", None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    assert!(all.body["next_cursor"].is_null());
}

#[tokio::test]
async fn a_limit_beyond_1000_or_a_foreign_cursor_is_a_400() {
    let env = Env::new().await;
    for path in [
        "/admin/api/connectors?limit=1001",
        "/admin/api/accounts?limit=0",
        "/admin/api/org-units?limit=many",
        "/admin/api/parked-events?limit=5000",
        "/admin/api/connectors?cursor=bm90LWEtY3Vyc29y",
        "/admin/api/accounts?cursor=%%%",
    ] {
        let answer = env.call(Method::GET, path, None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
    }
    let answer = env
        .call(Method::GET, "/admin/api/accounts?limit=1000", None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}
