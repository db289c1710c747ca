//! Tokens: same token inside the lifetime, 42001 after expiry, 40014 when unknown, 88 wrapping.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{config, env};

#[tokio::test]
async fn a_token_is_reused_inside_its_lifetime_and_answers_42001_once_expired() {
    let env = env(config()).await;
    let token = env.token().await;
    assert_eq!(env.token().await, token);
    let ok = env
        .post("/topapi/user/count", &token, json!({"only_active": false}))
        .await;
    assert_eq!(ok["errcode"], 0);
    assert_eq!(ok["result"]["count"], 600);

    env.control(Method::POST, "/_sim/tokens/expire", json!({}))
        .await;
    let expired = env.post("/topapi/user/count", &token, json!({})).await;
    assert_eq!(expired["errcode"], 42001);
    let unknown = env.post("/topapi/user/count", "nope", json!({})).await;
    assert_eq!(unknown["errcode"], 40014);

    let fresh = env.token().await;
    assert_ne!(fresh, token);
    assert_eq!(
        env.post("/topapi/user/count", &fresh, json!({})).await["errcode"],
        0
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_on_both_api_families() {
    let env = env(config()).await;
    let legacy = env
        .get(&format!(
            "/gettoken?appkey={}&appsecret=wrong",
            env.app.app_key
        ))
        .await;
    assert_eq!(legacy["errcode"], 40089);

    let url = format!("{}/v1.0/oauth2/accessToken", env.base);
    let good = json!({"appKey": env.app.app_key, "appSecret": env.app.app_secret});
    let response = env.http.post(&url).json(&good).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expireIn"], 7200);
    assert_eq!(body["accessToken"].as_str().unwrap(), env.token().await);

    let bad = json!({"appKey": env.app.app_key, "appSecret": "x"});
    let response = env.http.post(&url).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalidClientIdOrSecret");
    assert!(body["requestid"].is_string());
}

#[tokio::test]
async fn auth_failures_can_arrive_wrapped_as_errcode_88() {
    let env = env(dingtalk_sim::SimConfig {
        auth_88_share: 1.0,
        ..config()
    })
    .await;
    let body = env
        .post("/topapi/v2/user/get", "bogus", json!({"userid": "x"}))
        .await;
    assert_eq!(body["errcode"], 88);
    assert_eq!(body["sub_code"], "40014");
}
