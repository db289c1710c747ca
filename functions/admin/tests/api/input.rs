//! What the admin API accepts: every field problem of a body at once, bounded text fields and
//! bodies (400 naming the field, 413 for the body, never a storage 500), and identifiers without
//! pasted whitespace or invisible characters.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Env, assert_no_secret};

/// The fields of the problems of a 400, in order.
fn problem_fields(body: &Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| p["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The reason given for `field`.
fn reason(body: &Value, field: &str) -> String {
    body["problems"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["field"] == field))
        .and_then(|p| p["reason"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn no_connector_was_saved(env: &Env) {
    let list = env.call(Method::GET, "/admin/api/connectors", None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"], json!([]), "nothing was saved");
}

#[tokio::test]
async fn a_connector_body_with_two_wrongly_typed_fields_names_both() {
    let env = Env::new().await;
    let mut input = env.connector_input();
    input["agent_id"] = json!("not-a-number");
    input["enabled"] = json!("yes");
    input["leaver_policy"] = json!("vanish");
    let answer = env
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.body["error"], "invalid", "{}", answer.text);
    let fields = problem_fields(&answer.body);
    for f in ["agent_id", "enabled", "leaver_policy"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} missing: {}",
            answer.text
        );
    }
    assert!(reason(&answer.body, "agent_id").contains("whole number"));
    assert!(reason(&answer.body, "leaver_policy").contains("disable"));
    // The wrong value itself is not echoed (a secret sent as a number must not come back).
    let mut secret_as_number = env.connector_input();
    secret_as_number["app_secret"] = json!(987_654_321_123_u64);
    secret_as_number["name"] = json!(["HQ"]);
    let answer = env
        .call(
            Method::POST,
            "/admin/api/connectors",
            Some(secret_as_number),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(problem_fields(&answer.body), ["app_secret", "name"]);
    assert_no_secret(&answer.text, &["987654321123"]);
    no_connector_was_saved(&env).await;
}

#[tokio::test]
async fn the_password_policy_body_reports_every_field_problem() {
    let env = Env::new().await;
    let answer = env
        .call(
            Method::PUT,
            "/admin/api/settings/password-policy",
            Some(json!({"min_length": "ten", "require_digit": "yes", "require_emoji": true})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let fields = problem_fields(&answer.body);
    for f in ["min_length", "require_digit", "require_emoji"] {
        assert!(
            fields.contains(&f.to_owned()),
            "{f} missing: {}",
            answer.text
        );
    }
    assert_eq!(
        reason(&answer.body, "require_emoji"),
        "is not a known field"
    );
}

#[tokio::test]
async fn syntax_errors_and_non_objects_are_a_400_in_our_format() {
    let env = Env::new().await;
    for raw in ["{\"name\": ", "[1, 2]", "\"text\""] {
        let answer = env
            .call_raw(Method::POST, "/admin/api/connectors", raw)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{raw}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["error"], "bad_request",
            "{raw}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn oversized_text_fields_are_refused_naming_each_field() {
    let env = Env::new().await;
    let long = |n: usize| "x".repeat(n);
    let mut input = env.connector_input();
    input["name"] = json!(long(65));
    input["corp_id"] = json!(long(65));
    input["app_key"] = json!(long(65));
    input["app_secret"] = json!(long(5_000));
    input["default_password"] = json!(format!("Aa1{}", long(5_000)));
    input["pull_schedule"] = json!(format!("0 2 * * * {}", long(300)));
    input["oapi_base"] = json!(format!("https://{}.example.com", long(3_000)));
    input["api_base"] = json!(format!("https://{}.example.com", long(3_000)));
    input["login_base"] = json!(format!("https://{}.example.com", long(3_000)));
    input["callback_token"] = json!(long(5_000));
    input["callback_aes_key"] = json!(long(5_000));
    input["root_org_unit_id"] = json!(long(5_000));
    let answer = env
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let fields = problem_fields(&answer.body);
    for f in [
        "name",
        "corp_id",
        "app_key",
        "app_secret",
        "default_password",
        "pull_schedule",
        "oapi_base",
        "api_base",
        "login_base",
        "callback_token",
        "callback_aes_key",
        "root_org_unit_id",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} missing: {fields:?}");
    }
    assert!(
        reason(&answer.body, "app_secret").contains("at most 256"),
        "{}",
        reason(&answer.body, "app_secret")
    );
    assert!(
        answer.text.len() < 8_000,
        "the answer does not echo the input"
    );
    no_connector_was_saved(&env).await;

    // An update is held to the same bounds.
    let created = env.create_connector(env.connector_input()).await;
    let path = format!("/admin/api/connectors/{}", created["id"].as_str().unwrap());
    let answer = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"app_secret": long(60_000)})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(problem_fields(&answer.body), ["app_secret"]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_json_and_saves_nothing() {
    let env = Env::new().await;
    for field in ["app_secret", "default_password"] {
        let mut input = env.connector_input();
        input[field] = json!("A1a".repeat(500_000));
        let answer = env
            .call(Method::POST, "/admin/api/connectors", Some(input))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{field}: {}",
            answer.text
        );
        assert_eq!(answer.body["error"], "payload_too_large", "{}", answer.text);
    }
    let answer = env
        .call(
            Method::PUT,
            "/admin/api/settings/password-policy",
            Some(json!({"min_length": 12, "padding": "x".repeat(200_000)})),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    no_connector_was_saved(&env).await;
}

#[tokio::test]
async fn identifiers_refuse_inner_whitespace_and_invisible_characters_naming_them() {
    let env = Env::new().await;
    let mut input = env.connector_input();
    input["corp_id"] = json!("ding probe\u{a0}corp\u{200b}");
    input["app_key"] = json!(" dingkey\u{feff} ");
    input["app_secret"] = json!("secret\u{2060}value");
    input["callback_token"] = json!("tok\u{200c}en123");
    input["callback_aes_key"] = json!(format!("{}\u{200d}", "a".repeat(42)));
    let answer = env
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let corp = reason(&answer.body, "corp_id");
    assert!(corp.contains("U+0020 (SPACE) at position 5"), "{corp}");
    assert!(
        corp.contains("U+00A0 (NO-BREAK SPACE) at position 11"),
        "{corp}"
    );
    assert!(
        corp.contains("U+200B (ZERO WIDTH SPACE) at position 16"),
        "{corp}"
    );
    let key = reason(&answer.body, "app_key");
    assert!(key.contains("U+FEFF"), "{key}");
    assert!(
        key.contains("position 9"),
        "positions count what was sent: {key}"
    );
    assert!(reason(&answer.body, "app_secret").contains("U+2060 (WORD JOINER)"));
    assert!(reason(&answer.body, "callback_token").contains("U+200C"));
    assert!(reason(&answer.body, "callback_aes_key").contains("U+200D"));
    assert_no_secret(&answer.text, &["secret\u{2060}value", "secretvalue"]);
    no_connector_was_saved(&env).await;

    // The same holds on update.
    let created = env.create_connector(env.connector_input()).await;
    let path = format!("/admin/api/connectors/{}", created["id"].as_str().unwrap());
    let answer = env
        .call(Method::PATCH, &path, Some(json!({"app_key": "ding\tkey"})))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(reason(&answer.body, "app_key").contains("U+0009"));
}

#[tokio::test]
async fn names_refuse_bidirectional_overrides_and_controls() {
    let env = Env::new().await;
    for (name, shown) in [
        ("HQ\u{202e}gnp.exe", "U+202E"),
        ("HQ\u{2066}x", "U+2066"),
        ("HQ\u{7}", "U+0007"),
    ] {
        let mut input = env.connector_input();
        input["name"] = json!(name);
        let answer = env
            .call(Method::POST, "/admin/api/connectors", Some(input))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(problem_fields(&answer.body), ["name"], "{}", answer.text);
        assert!(
            reason(&answer.body, "name").contains(shown),
            "{}",
            answer.text
        );
    }
    // Ordinary names with spaces and CJK stay fine.
    let mut input = env.connector_input();
    input["name"] = json!("总部 Head Office");
    let created = env.create_connector(input).await;
    assert_eq!(created["name"], "总部 Head Office");
}
