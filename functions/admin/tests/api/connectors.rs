//! Connector CRUD: trimmed input, every problem at once, secrets never returned.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{APP_SECRET_MARK, Env, assert_no_secret};

#[tokio::test]
async fn a_connector_is_created_read_updated_and_deleted_with_values_trimmed() {
    let env = Env::new().await;
    let created = env
        .create_connector(json!({
            "name": "  HQ ", "corp_id": " dingcorp\t", "app_key": "\u{a0}dingkey ",
            "app_secret": format!(" {APP_SECRET_MARK} "), "oapi_base": "http://127.0.0.1:9/",
            "default_password": "Welcome-2024-abc",
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "HQ");
    assert_eq!(created["corp_id"], "dingcorp");
    assert_eq!(created["app_key"], "dingkey");
    assert_eq!(created["oapi_base"], "http://127.0.0.1:9");
    assert_eq!(created["app_secret_set"], true);
    assert_eq!(created["default_password_set"], true);
    assert_eq!(created["version"], 1);
    assert!(created.get("callback").is_none(), "no callback was touched");
    // The answer names every field it trimmed (a pasted space is a top cause of failed set-ups).
    let trimmed: Vec<&str> = created["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(trimmed, ["name", "corp_id", "app_key", "app_secret"]);
    assert!(!created.to_string().contains(APP_SECRET_MARK), "{created}");

    let read = env
        .call(Method::GET, &format!("/admin/api/connectors/{id}"), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["name"], "HQ");

    let updated = env
        .call(
            Method::PUT,
            &format!("/admin/api/connectors/{id}"),
            Some(json!({"name": " Head office ", "leaver_policy": "delete"})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["name"], "Head office");
    assert_eq!(updated.body["warnings"][0]["field"], "name");
    assert_eq!(updated.body["warnings"].as_array().map(Vec::len), Some(1));
    assert_eq!(updated.body["leaver_policy"], "delete");
    assert_eq!(
        updated.body["corp_id"], "dingcorp",
        "absent fields are kept"
    );
    assert_eq!(updated.body["app_secret_set"], true, "the secret is kept");

    let history = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=connector&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let actions: Vec<_> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["update", "create"], "newest first");
    assert_eq!(history.body["items"][0]["origin"], "admin");

    for answer in [&read, &updated, &history] {
        assert_no_secret(&answer.text, &[APP_SECRET_MARK, "Welcome-2024-abc"]);
    }
    assert_no_secret(&created.to_string(), &[APP_SECRET_MARK, "Welcome-2024-abc"]);

    let deleted = env
        .call(Method::DELETE, &format!("/admin/api/connectors/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["deleted"], true);
    let gone = env
        .call(Method::GET, &format!("/admin/api/connectors/{id}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let malformed = env
        .call(Method::GET, "/admin/api/connectors/not-an-id", None)
        .await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_invalid_field_is_listed_in_one_answer() {
    let env = Env::new().await;
    let answer = env
        .call(
            Method::POST,
            "/admin/api/connectors",
            Some(json!({
                "name": "   ", "register_callback": true, "callback_aes_key": "short",
                "default_password": "weak", "pull_schedule": "daily",
                "root_org_unit_id": "0190d5a4-0000-7000-8000-000000000abc",
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.body["error"], "invalid");
    let fields: Vec<&str> = answer.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "corp_id",
        "app_key",
        "app_secret",
        "callback_token",
        "callback_aes_key",
        "default_password",
        "pull_schedule",
        "root_org_unit_id",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert_no_secret(&answer.text, &["weak"]);

    let unknown = env
        .call(
            Method::POST,
            "/admin/api/connectors",
            Some(json!({"nmae": "typo"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text.contains("nmae"), "{}", unknown.text);
}

#[tokio::test]
async fn the_default_password_is_checked_against_the_stored_policy() {
    let env = Env::new().await;
    let policy = env
        .call(
            Method::PUT,
            "/admin/api/settings/password-policy",
            Some(json!({"min_length": 20, "require_symbol": true})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.text);
    assert_eq!(policy.body["min_length"], 20);
    assert_eq!(policy.body["require_digit"], true, "unchanged rules kept");
    let read = env
        .call(Method::GET, "/admin/api/settings/password-policy", None)
        .await;
    assert_eq!(read.body["min_length"], 20);

    let mut input = env.connector_input();
    input["default_password"] = json!("Welcome-2024-abc");
    let answer = env
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let reason = answer.body["problems"][0]["reason"].as_str().unwrap();
    assert_eq!(answer.body["problems"][0]["field"], "default_password");
    assert!(reason.contains("at least 20"), "{reason}");

    let bad = env
        .call(
            Method::PUT,
            "/admin/api/settings/password-policy",
            Some(json!({"min_length": 0})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_root_org_unit_must_exist_and_defaults_to_the_directory_root() {
    let env = Env::new().await;
    let created = env.create_connector(env.connector_input()).await;
    let root = dingbridge::store::directory::ROOT_ID;
    assert_eq!(created["root_org_unit_id"], root);
    let mut input = env.connector_input();
    input["root_org_unit_id"] = json!(format!(" {root} "));
    input["app_key"] = json!("dingotherkey");
    let created = env.create_connector(input).await;
    assert_eq!(created["root_org_unit_id"], root);
}

#[tokio::test]
async fn a_second_connector_for_the_same_corp_and_app_is_refused_naming_the_first() {
    let env = Env::new().await;
    let first = env.create_connector(env.connector_input()).await;
    let first_id = first["id"].as_str().unwrap().to_owned();

    let mut second = env.connector_input();
    second["name"] = json!("Takeover");
    second["corp_id"] = json!(" dingcorp ");
    let refused = env
        .call(Method::POST, "/admin/api/connectors", Some(second.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.body["error"], "conflict");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains(&first_id), "{message}");
    assert!(message.contains("\"HQ\""), "{message}");
    let list = env.call(Method::GET, "/admin/api/connectors", None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // Another app of the same corp is a different callback registration: allowed.
    second["app_key"] = json!("dingotherkey");
    let other = env.create_connector(second).await;
    let other_path = format!("/admin/api/connectors/{}", other["id"].as_str().unwrap());

    // Moving it onto the first one's app is refused the same way, and changes nothing.
    let moved = env
        .call(
            Method::PATCH,
            &other_path,
            Some(json!({"app_key": "dingkey"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT, "{}", moved.text);
    assert!(moved.text.contains(&first_id), "{}", moved.text);
    let read = env.call(Method::GET, &other_path, None).await;
    assert_eq!(read.body["app_key"], "dingotherkey");

    // Updating the first without touching its app keeps its claim; moving it releases the old one.
    let first_path = format!("/admin/api/connectors/{first_id}");
    let renamed = env
        .call(
            Method::PATCH,
            &first_path,
            Some(json!({"name": "Head office"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let moved = env
        .call(
            Method::PATCH,
            &first_path,
            Some(json!({"app_key": "dingthirdkey"})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let takes_old = env
        .call(
            Method::PATCH,
            &other_path,
            Some(json!({"app_key": "dingkey"})),
        )
        .await;
    assert_eq!(takes_old.status, StatusCode::OK, "{}", takes_old.text);

    // Deleting a connector releases its app for a new one.
    let deleted = env.call(Method::DELETE, &other_path, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    env.create_connector(env.connector_input()).await;
}
