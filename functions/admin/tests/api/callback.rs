//! Saving a connector with `register_callback` registers (then updates) the callback at DingTalk,
//! whose `check_url` reaches a receiver; turning it off or deleting the connector deletes it.

use std::sync::atomic::Ordering;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{CALLBACK_AES_KEY, CALLBACK_TOKEN, Env, Receiver, SIM_CORP, assert_no_secret};

async fn sim_registration(env: &Env) -> Value {
    let log: Value = reqwest::get(format!("{}/_sim/callbacks", env.sim_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["registrations"][SIM_CORP].clone()
}

fn with_callback(mut input: Value) -> Value {
    input["register_callback"] = json!(true);
    input["callback_token"] = json!(CALLBACK_TOKEN);
    input["callback_aes_key"] = json!(CALLBACK_AES_KEY);
    input
}

#[tokio::test]
async fn saving_registers_then_updates_and_turning_off_deletes_the_callback() {
    let receiver = Receiver::start(SIM_CORP).await;
    let env = Env::with_sim(&receiver.base_url).await;
    let created = env
        .create_connector(with_callback(env.connector_input()))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["callback"]["ok"], true, "{created}");
    assert_eq!(created["callback"]["action"], "registered");
    assert_eq!(created["receive_id_mode"], "corp_id");
    let status = created["callback_status"].as_str().unwrap();
    assert!(status.starts_with("registered at DingTalk"), "{status}");
    assert_eq!(receiver.checks.load(Ordering::SeqCst), 1);
    let expected_url = format!("{}/dingtalk/callback/{id}", receiver.base_url);
    let reg = sim_registration(&env).await;
    assert_eq!(reg["url"], expected_url.as_str());
    assert_eq!(reg["call_back_tag"].as_array().unwrap().len(), 7);
    assert_no_secret(
        &created.to_string(),
        &[CALLBACK_TOKEN, CALLBACK_AES_KEY, &env.sim_app().app_secret],
    );

    let test = env
        .call(
            Method::POST,
            &format!("/admin/api/connectors/{id}/test"),
            None,
        )
        .await;
    let callback_check = test.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "callback")
        .unwrap()
        .clone();
    assert_eq!(callback_check["ok"], true, "{callback_check}");
    assert_eq!(test.body["ok"], true, "{}", test.text);

    let renamed = env
        .call(
            Method::PATCH,
            &format!("/admin/api/connectors/{id}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["callback"]["action"], "updated");
    assert_eq!(renamed.body["callback"]["ok"], true);
    assert_eq!(receiver.checks.load(Ordering::SeqCst), 2);

    let off = env
        .call(
            Method::PATCH,
            &format!("/admin/api/connectors/{id}"),
            Some(json!({"register_callback": false})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(off.body["callback"]["action"], "deleted");
    assert_eq!(off.body["callback_status"], "deleted at DingTalk");
    assert_eq!(sim_registration(&env).await, Value::Null);
}

#[tokio::test]
async fn an_unreachable_callback_url_is_reported_and_the_connector_still_saved() {
    // Nothing listens on port 9: DingTalk's check_url cannot reach the URL.
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let created = env
        .create_connector(with_callback(env.connector_input()))
        .await;
    assert_eq!(created["callback"]["ok"], false);
    let status = created["callback_status"].as_str().unwrap();
    assert!(
        status.contains("DingTalk could not reach the callback URL (71012)"),
        "{status}"
    );
    let id = created["id"].as_str().unwrap();
    let read = env
        .call(Method::GET, &format!("/admin/api/connectors/{id}"), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["callback_status"], status);
    let test = env
        .call(
            Method::POST,
            &format!("/admin/api/connectors/{id}/test"),
            None,
        )
        .await;
    let check = test.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "callback")
        .unwrap()
        .clone();
    assert_eq!(check["ok"], false);
    assert!(
        check["detail"].as_str().unwrap().contains("71007"),
        "{check}"
    );
}

#[tokio::test]
async fn deleting_a_connector_deletes_its_callback_at_dingtalk() {
    let receiver = Receiver::start(SIM_CORP).await;
    let env = Env::with_sim(&receiver.base_url).await;
    let created = env
        .create_connector(with_callback(env.connector_input()))
        .await;
    assert_ne!(sim_registration(&env).await, Value::Null);
    let id = created["id"].as_str().unwrap();
    let deleted = env
        .call(Method::DELETE, &format!("/admin/api/connectors/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(deleted.body["callback"]["action"], "deleted");
    assert_eq!(deleted.body["callback"]["ok"], true);
    assert_eq!(sim_registration(&env).await, Value::Null);
}
