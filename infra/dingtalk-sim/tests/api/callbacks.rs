//! Callback registration (`check_url` round trip), event delivery, retries and the failed list,
//! against a small receiver built on our crypto module.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use dingbridge::dingtalk::crypto::CallbackCrypto;
use dingtalk_sim::fixtures::{fixture, with};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Env, config, env};

const TOKEN: &str = "simtoken123";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[derive(Clone)]
struct Receiver {
    crypto: CallbackCrypto,
    healthy: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn receive(
    State(r): State<Receiver>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let sig = q
        .get("msg_signature")
        .or_else(|| q.get("signature"))
        .cloned()
        .unwrap_or_default();
    let (ts, nonce) = (q["timestamp"].clone(), q["nonce"].clone());
    let plain = r
        .crypto
        .verify_and_decrypt(&sig, &ts, &nonce, body["encrypt"].as_str().unwrap())
        .unwrap();
    r.seen
        .lock()
        .unwrap()
        .push(serde_json::from_str(&plain).unwrap());
    if r.healthy.load(Ordering::SeqCst) {
        Json(serde_json::to_value(r.crypto.success_reply(&ts, &nonce).unwrap()).unwrap())
    } else {
        Json(json!({"errcode": 1}))
    }
}

async fn receiver(corp_id: &str) -> (String, Receiver) {
    let r = Receiver {
        crypto: CallbackCrypto::new(TOKEN, AES_KEY, corp_id).unwrap(),
        healthy: Arc::new(AtomicBool::new(true)),
        seen: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/cb", post(receive))
        .with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/cb"), r)
}

async fn register(env: &Env, t: &str, url: &str) -> Value {
    let body = json!({"call_back_tag": ["user_add_org", "user_leave_org", "org_dept_create"], "token": TOKEN, "aes_key": AES_KEY, "url": url});
    env.post("/call_back/register_call_back", t, body).await
}

async fn wait_for(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn registration_runs_the_check_url_round_trip() {
    let env = env(config()).await;
    let t = env.token().await;
    let (url, r) = receiver(&env.app.corp_id).await;
    let registered = register(&env, &t, &url).await;
    assert_eq!(registered["errcode"], 0, "{registered}");
    // The check is the shared fixture, byte for byte.
    assert_eq!(r.seen.lock().unwrap()[0], fixture("check_url"));
    assert_eq!(register(&env, &t, &url).await["errcode"], 71006);
    let got = env
        .get(&format!("/call_back/get_call_back?access_token={t}"))
        .await;
    assert_eq!(got["url"], url.as_str());
    assert_eq!(
        env.get(&format!("/call_back/delete_call_back?access_token={t}"))
            .await["errcode"],
        0
    );
    assert_eq!(
        env.get(&format!("/call_back/get_call_back?access_token={t}"))
            .await["errcode"],
        71007
    );

    r.healthy.store(false, Ordering::SeqCst);
    assert_eq!(register(&env, &t, &url).await["errcode"], 71009);
    assert_eq!(
        register(&env, &t, "http://127.0.0.1:9/cb").await["errcode"],
        71012
    );
}

#[tokio::test]
async fn org_changes_are_pushed_as_encrypted_events() {
    let env = env(config()).await;
    let t = env.token().await;
    let (url, r) = receiver(&env.app.corp_id).await;
    assert_eq!(register(&env, &t, &url).await["errcode"], 0);
    let body =
        json!({"userid": "newbie", "name": "新人", "mobile": "13700000001", "dept_id_list": "1"});
    assert_eq!(
        env.post("/topapi/v2/user/create", &t, body).await["errcode"],
        0
    );
    let (status, _) = env
        .control(
            Method::POST,
            "/_sim/depts",
            json!({"name": "控制台部", "parent_id": 1}),
        )
        .await;
    assert_eq!(status, 200);
    wait_for(|| r.seen.lock().unwrap().len() >= 3).await;
    let seen = r.seen.lock().unwrap().clone();
    // A legacy push is the fixture of its type with this user, this corp and the push's time.
    assert_eq!(
        seen[1],
        with(
            "user_add_org",
            &[
                ("UserId", json!(["newbie"])),
                ("CorpId", json!(env.app.corp_id)),
                ("TimeStamp", seen[1]["TimeStamp"].clone()),
            ]
        )
    );
    assert_eq!(seen[1]["UserId"], json!(["newbie"]));
    assert_eq!(seen[1]["CorpId"], env.app.corp_id.as_str());
    assert_eq!(seen[2]["EventType"], "org_dept_create");
    assert!(seen[2]["DeptId"].is_array());

    env.control(
        Method::POST,
        "/_sim/settings",
        json!({"key_casing": "current"}),
    )
    .await;
    env.control(Method::DELETE, "/_sim/users/newbie", json!(null))
        .await;
    wait_for(|| r.seen.lock().unwrap().len() >= 4).await;
    let leave = r.seen.lock().unwrap()[3].clone();
    assert_eq!(leave["EventType"], "user_leave_org");
    assert_eq!(leave["userId"], json!(["newbie"]));
    let (_, log) = env
        .control(Method::GET, "/_sim/callbacks", json!(null))
        .await;
    assert_eq!(log["delivered"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn undelivered_events_are_retried_then_listed_once_as_failed() {
    let env = env(config()).await;
    let t = env.token().await;
    let (url, r) = receiver(&env.app.corp_id).await;
    assert_eq!(register(&env, &t, &url).await["errcode"], 0);
    r.healthy.store(false, Ordering::SeqCst);
    let body =
        json!({"userid": "lost", "name": "丢失", "mobile": "13700000002", "dept_id_list": "1"});
    assert_eq!(
        env.post("/topapi/v2/user/create", &t, body).await["errcode"],
        0
    );

    let failed_url = format!("/call_back/get_call_back_failed_result?access_token={t}");
    let mut listed = Value::Null;
    for _ in 0..200 {
        listed = env.get(&failed_url).await;
        if !listed["failed_list"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let item = &listed["failed_list"][0];
    assert_eq!(item["call_back_tag"], "user_add_org");
    assert_eq!(item["user_add_org"]["userid"], json!(["lost"]));
    // 1 check_url + the first push + 2 retries.
    assert_eq!(r.seen.lock().unwrap().len(), 4);
    let again = env.get(&failed_url).await;
    assert_eq!(again["failed_list"], json!([]));
    assert_eq!(again["has_more"], false);
}
