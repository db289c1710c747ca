//! Auth sources (认证源) through the admin API: the answer's shape with the address to register
//! in DingTalk, pasted spaces trimmed and reported, every problem at once, secrets never shown,
//! changes and deletion audited, the test action against the simulator (credentials, the
//! unionid lookup, the login or free-login probe, the missing permission named), and the
//! bindings of an account.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{APP_SECRET_MARK, Env};

const BASE: &str = "/admin/api/auth-sources";

fn qr(env: &Env) -> Value {
    let app = env.sim_app();
    json!({"kind": "dingtalk_qr", "name": "钉钉扫码登录", "corp_id": app.corp_id,
        "app_key": app.app_key, "app_secret": app.app_secret,
        "oapi_base": env.sim_url(), "api_base": env.sim_url(), "login_base": env.sim_url()})
}

fn fields(body: &Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| x["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec![body["field"].as_str().unwrap_or_default().to_owned()])
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

#[tokio::test]
async fn a_qr_source_shows_its_redirect_url_trims_pasted_spaces_and_never_its_secret() {
    let env = Env::with_sim("https://idm.example.com").await;
    let mut body = qr(&env);
    let app = env.sim_app();
    body["app_key"] = json!(format!(" {}\t", app.app_key));
    body["corp_id"] = json!(format!("{}\n", app.corp_id));
    let made = env.call(Method::POST, BASE, Some(body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap();
    assert_eq!(
        made.body["redirect_url"],
        format!("https://idm.example.com/authenticate/ddtalk/forward/{id}")
    );
    assert_eq!(made.body["app_key"], app.app_key.as_str());
    assert_eq!(made.body["flow"], "oauth2");
    assert_eq!(made.body["visible"], true);
    let warned: Vec<&str> = made.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(warned, ["corp_id", "app_key"], "{}", made.text);
    assert!(!made.text.contains(&app.app_secret));
    assert_eq!(made.body["app_secret_set"], true);
    let listed = env.call(Method::GET, BASE, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(&app.app_secret));
    let audit = env.call(Method::GET, "/admin/api/audit", None).await;
    assert!(audit.text.contains("auth_source"), "{}", audit.text);
    assert!(!audit.text.contains(&app.app_secret));
}

#[tokio::test]
async fn every_problem_of_a_source_is_named_at_once() {
    let env = Env::new().await;
    let answer = env
        .call(
            Method::POST,
            BASE,
            Some(
                json!({"kind": "dingtalk_micro", "app_key": "k", "agent_id": "abc",
                "front_end_callback_url": "javascript:alert(1)"}),
            ),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let named = fields(&answer.body);
    for f in [
        "name",
        "corp_id",
        "app_secret",
        "agent_id",
        "front_end_callback_url",
    ] {
        assert!(named.iter().any(|n| n == f), "{f} not in {named:?}");
    }
    // Unknown fields and a missing kind are refused too; nothing was stored.
    let unknown = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"kind": "dingtalk_qr", "colour": 1})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    let listed = env.call(Method::GET, BASE, None).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
    // A connector of another corp cannot stand for the corp app.
    let env = Env::with_sim("https://idm.example.com").await;
    let connector = env
        .call(
            Method::POST,
            "/admin/api/connectors",
            Some(env.connector_input()),
        )
        .await;
    let answer = env
        .call(
            Method::POST,
            BASE,
            Some(
                json!({"kind": "dingtalk_qr", "name": "x", "corp_id": "dingothercorp",
                "connector_id": connector.body["id"]}),
            ),
        )
        .await;
    assert_eq!(fields(&answer.body), ["connector_id"], "{}", answer.text);
}

#[tokio::test]
async fn a_change_keeps_the_secret_and_the_kind_cannot_change() {
    let env = Env::with_sim("https://idm.example.com").await;
    let made = env.call(Method::POST, BASE, Some(qr(&env))).await;
    let path = format!("{BASE}/{}", made.body["id"].as_str().unwrap());
    let changed = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"visible": false, "binding": {"match_by": ["email", "mobile"]}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["visible"], false);
    assert_eq!(
        changed.body["binding"]["match_by"],
        json!(["mobile", "email"])
    );
    assert_eq!(changed.body["app_secret_set"], true);
    assert_eq!(changed.body["version"], 2);
    let kind = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"kind": "dingtalk_micro"})),
        )
        .await;
    assert_eq!(kind.status, StatusCode::BAD_REQUEST, "{}", kind.text);
    // The source still passes its test with the kept secret.
    let tested = env.call(Method::POST, &format!("{path}/test"), None).await;
    assert_eq!(tested.body["ok"], true, "{}", tested.text);
    let gone = env.call(Method::DELETE, &path, None).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(
        env.call(Method::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.call(Method::GET, &format!("{BASE}/not-a-source"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_test_checks_credentials_and_permissions_and_names_what_to_register() {
    let env = Env::with_sim("https://idm.example.com").await;
    let made = env.call(Method::POST, BASE, Some(qr(&env))).await;
    let path = format!("{BASE}/{}/test", made.body["id"].as_str().unwrap());
    let report = env.call(Method::POST, &path, None).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    assert_eq!(report.body["ok"], true, "{}", report.text);
    for name in [
        "credentials",
        "unionid_lookup",
        "login_app",
        "users_me_permission",
    ] {
        assert_eq!(check(&report.body, name)["ok"], true, "{}", report.text);
    }
    assert!(
        report.body["register"]
            .as_str()
            .unwrap()
            .contains(made.body["redirect_url"].as_str().unwrap())
    );

    // Without the member permission, the unionid lookup fails and says which to grant.
    env.set_app_policy(json!({"permissions": ["qyapi_get_department_list"]}))
        .await;
    let report = env.call(Method::POST, &path, None).await;
    assert_eq!(report.body["ok"], false, "{}", report.text);
    let lookup = check(&report.body, "unionid_lookup");
    assert_eq!(lookup["ok"], false);
    assert!(
        lookup["detail"]
            .as_str()
            .unwrap()
            .contains("qyapi_get_member"),
        "{lookup}"
    );

    // A wrong secret: the credentials check fails, and says where to look.
    let mut wrong = qr(&env);
    wrong["app_secret"] = json!(APP_SECRET_MARK);
    let made = env.call(Method::POST, BASE, Some(wrong)).await;
    let path = format!("{BASE}/{}/test", made.body["id"].as_str().unwrap());
    let report = env.call(Method::POST, &path, None).await;
    assert_eq!(
        check(&report.body, "credentials")["ok"],
        false,
        "{}",
        report.text
    );
    assert!(!report.text.contains(APP_SECRET_MARK));
}

#[tokio::test]
async fn a_micro_source_lists_the_home_url_of_every_app_and_tests_free_login() {
    let env = Env::with_sim("https://idm.example.com").await;
    let app = env
        .call(
            Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "OA", "kind": "jwt", "target_url": "https://oa.example/",
                "assigned_to": {"everyone": true}}),
            ),
        )
        .await;
    let client_id = app.body["client_id"].as_str().unwrap();
    let mut body = qr(&env);
    body["kind"] = json!("dingtalk_micro");
    body["agent_id"] = json!("3001");
    let made = env.call(Method::POST, BASE, Some(body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(
        made.body["home_urls"][0]["home_url"],
        format!(
            "https://idm.example.com/authenticate/ddMicro/login?agentId=3001&appId={client_id}"
        )
    );
    let path = format!("{BASE}/{}/test", made.body["id"].as_str().unwrap());
    let report = env.call(Method::POST, &path, None).await;
    assert_eq!(report.body["ok"], true, "{}", report.text);
    assert_eq!(check(&report.body, "free_login")["ok"], true);
    assert_eq!(report.body["home_urls"], made.body["home_urls"]);
}

#[tokio::test]
async fn an_sns_source_tests_its_login_app_signature() {
    let env = Env::with_sim("https://idm.example.com").await;
    let app = env.sim_app();
    let mut body = qr(&env);
    body["flow"] = json!("sns");
    body["sns_app_id"] = json!(app.app_key);
    body["sns_app_secret"] = json!("not-the-login-apps-secret");
    let made = env.call(Method::POST, BASE, Some(body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let path = format!("{BASE}/{}", made.body["id"].as_str().unwrap());
    let report = env.call(Method::POST, &format!("{path}/test"), None).await;
    let sns = check(&report.body, "sns_login_app");
    assert_eq!(sns["ok"], false, "{}", report.text);
    env.call(
        Method::PATCH,
        &path,
        Some(json!({"sns_app_secret": app.app_secret})),
    )
    .await;
    let report = env.call(Method::POST, &format!("{path}/test"), None).await;
    assert_eq!(
        check(&report.body, "sns_login_app")["ok"],
        true,
        "{}",
        report.text
    );
}

#[tokio::test]
async fn bindings_of_an_unknown_account_are_not_found() {
    let env = Env::new().await;
    let path = "/admin/api/accounts/01900000-0000-7000-8000-000000000000/bindings";
    assert_eq!(
        env.call(Method::GET, path, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.call(Method::GET, "/admin/api/accounts/nope/bindings", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.call(Method::DELETE, &format!("{path}/x"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
