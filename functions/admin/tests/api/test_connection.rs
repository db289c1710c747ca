//! Test connection names each failure cause, produced by the simulator's app-policy controls.

use axum::http::{Method, StatusCode};
use dingtalk_sim::perm;
use serde_json::{Value, json};

use crate::support::Env;

/// Creates a connector for the simulator's app (with `overrides`) and tests it.
async fn test_with(env: &Env, overrides: Value) -> Value {
    let mut input = env.connector_input();
    for (k, v) in overrides.as_object().unwrap() {
        input[k] = v.clone();
    }
    let created = env.create_connector(input).await;
    test_again(env, created["id"].as_str().unwrap()).await
}

/// Tests a saved connector again (one connector per DingTalk app: a second cannot be created).
async fn test_again(env: &Env, id: &str) -> Value {
    let answer = env
        .call(
            Method::POST,
            &format!("/admin/api/connectors/{id}/test"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

fn check(report: &Value, name: &str) -> (bool, String) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"));
    (
        c["ok"].as_bool().unwrap(),
        c["detail"].as_str().unwrap().to_owned(),
    )
}

fn permissions_without(missing: &str) -> Vec<&'static str> {
    perm::ALL
        .iter()
        .copied()
        .filter(|p| *p != missing)
        .collect()
}

#[tokio::test]
async fn a_healthy_app_passes_every_check() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let report = test_with(&env, json!({})).await;
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "credentials",
            "ip_whitelist",
            "department_permission",
            "member_permission",
            "contact_scope",
            "user_permission",
            "mobile_permission",
            "email_permission",
            "callback"
        ]
    );
}

#[tokio::test]
async fn a_wrong_app_secret_is_named_as_bad_credentials() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let report = test_with(&env, json!({"app_secret": "wrong-secret-value"})).await;
    assert_eq!(report["ok"], false);
    let (ok, detail) = check(&report, "credentials");
    assert!(!ok);
    assert!(
        detail.contains("AppKey/AppSecret") && detail.contains("40089"),
        "{detail}"
    );
    let (_, later) = check(&report, "member_permission");
    assert!(later.starts_with("not checked"), "{later}");
    assert!(!report.to_string().contains("wrong-secret-value"));
}

#[tokio::test]
async fn a_caller_ip_outside_the_whitelist_is_named_with_the_ip_to_add() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    env.set_app_policy(json!({"ip_whitelist": ["198.51.100.7"]}))
        .await;
    let report = test_with(&env, json!({})).await;
    let (ok, detail) = check(&report, "ip_whitelist");
    assert!(!ok);
    assert!(
        detail.contains("add 127.0.0.1") && detail.contains("60020"),
        "{detail}"
    );
    assert!(check(&report, "credentials").0, "the token itself is fine");
}

#[tokio::test]
async fn a_missing_api_permission_is_named() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    env.set_app_policy(json!({"permissions": permissions_without(perm::DEPT_MEMBER)}))
        .await;
    let report = test_with(&env, json!({})).await;
    let (ok, detail) = check(&report, "member_permission");
    assert!(!ok);
    for needle in [
        "60011",
        "/topapi/v2/user/list",
        "qyapi_get_department_member",
    ] {
        assert!(detail.contains(needle), "{needle} not in {detail}");
    }
    assert!(check(&report, "department_permission").0);

    env.set_app_policy(json!({"permissions": permissions_without(perm::MEMBER)}))
        .await;
    let listed = env.call(Method::GET, "/admin/api/connectors", None).await;
    let report = test_again(&env, listed.body["items"][0]["id"].as_str().unwrap()).await;
    let (ok, detail) = check(&report, "user_permission");
    assert!(!ok);
    assert!(detail.contains("qyapi_get_member "), "{detail}");
}

#[tokio::test]
async fn a_contact_scope_short_of_all_employees_is_named() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let org: Value = reqwest::get(format!("{}/_sim/org", env.sim_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let child = org["depts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["parent_id"] == 1)
        .unwrap()["dept_id"]
        .as_i64()
        .unwrap();
    env.set_app_policy(json!({"contact_scope_depts": [child]}))
        .await;
    let report = test_with(&env, json!({})).await;
    let (ok, detail) = check(&report, "contact_scope");
    assert!(!ok);
    assert!(
        detail.contains("not all employees") && detail.contains("50004"),
        "{detail}"
    );
    assert!(check(&report, "member_permission").0);
    assert!(check(&report, "department_permission").0);
}

#[tokio::test]
async fn users_without_mobile_or_email_point_at_the_missing_field_permissions() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let perms: Vec<_> = perm::ALL
        .iter()
        .copied()
        .filter(|p| *p != perm::MOBILE && *p != perm::EMAIL)
        .collect();
    env.set_app_policy(json!({ "permissions": perms })).await;
    let report = test_with(&env, json!({})).await;
    let (ok, detail) = check(&report, "mobile_permission");
    assert!(!ok);
    assert!(detail.contains("mobile permission"), "{detail}");
    let (ok, detail) = check(&report, "email_permission");
    assert!(!ok);
    assert!(detail.contains("email permission"), "{detail}");
    assert!(check(&report, "user_permission").0);
}

#[tokio::test]
async fn an_unreachable_dingtalk_is_reported_not_a_500() {
    let env = Env::new().await;
    let report = test_with(&env, json!({})).await;
    assert_eq!(report["ok"], false);
    let (ok, detail) = check(&report, "credentials");
    assert!(!ok);
    assert!(detail.contains("could not be reached"), "{detail}");
}

// --- a pushing connector ---------------------------------------------------------------------

/// The simulated org's departments but the root, top-level ones first.
async fn depts(env: &Env) -> Vec<i64> {
    let org: Value = reqwest::get(format!("{}/_sim/org", env.sim_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut depts: Vec<(bool, i64)> = org["depts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["dept_id"] != 1)
        .map(|d| (d["parent_id"] != 1, d["dept_id"].as_i64().unwrap()))
        .collect();
    depts.sort_unstable();
    depts.into_iter().map(|(_, id)| id).collect()
}

async fn sim_org(env: &Env) -> Value {
    reqwest::get(format!("{}/_sim/org", env.sim_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An org unit under the directory's root for the push to start from.
async fn push_root(env: &Env) -> String {
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    let top = units.body["items"][0]["id"].clone();
    let made = env
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": "Pushed", "parent_id": top})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.body["id"].as_str().unwrap().to_owned()
}

fn pushing(root: &str, parent: i64, holding: Option<i64>) -> Value {
    let mut v = json!({
        "push_enabled": true,
        "push_root_org_unit_id": root,
        "push_dingtalk_parent": parent,
    });
    if let Some(h) = holding {
        v["push_delete_policy"] = json!("move");
        v["push_move_dept_id"] = json!(h);
    }
    v
}

#[tokio::test]
async fn a_pushing_connector_is_checked_for_the_write_permission_and_its_push_settings() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let root = push_root(&env).await;
    let depts = depts(&env).await;
    let before = sim_org(&env).await;
    let report = test_with(&env, pushing(&root, depts[0], Some(depts[1]))).await;
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[8..],
        [
            "write_permission",
            "push_root",
            "push_parent",
            "push_move_dept",
            "callback"
        ]
    );
    let (_, detail) = check(&report, "write_permission");
    assert!(
        detail.contains("qyapi_manage_addresslist") && detail.contains("60121"),
        "{detail}"
    );
    assert!(check(&report, "push_root").1.contains(&root));
    assert!(
        check(&report, "push_parent")
            .1
            .contains(&depts[0].to_string())
    );
    assert!(
        check(&report, "push_move_dept")
            .1
            .contains(&depts[1].to_string())
    );
    assert_eq!(
        sim_org(&env).await,
        before,
        "the test wrote nothing to DingTalk"
    );
}

#[tokio::test]
async fn a_missing_write_permission_is_named_with_the_permission_to_grant() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    env.set_app_policy(json!({"permissions": permissions_without(perm::MANAGE)}))
        .await;
    let root = push_root(&env).await;
    let report = test_with(&env, pushing(&root, 1, None)).await;
    assert_eq!(report["ok"], false);
    let (ok, detail) = check(&report, "write_permission");
    assert!(!ok);
    assert!(
        detail.contains("qyapi_manage_addresslist")
            && detail.contains("60011")
            && detail.contains("通讯录编辑权限"),
        "{detail}"
    );
    // Reading is unaffected; no holding department is checked without the `move` policy.
    assert!(check(&report, "push_parent").0);
    assert!(check(&report, "member_permission").0);
    assert!(!report.to_string().contains("push_move_dept"));
}

#[tokio::test]
async fn push_departments_missing_or_outside_the_scope_and_a_deleted_push_root_are_named() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let root = push_root(&env).await;
    let report = test_with(&env, pushing(&root, 987_654, Some(987_655))).await;
    let (ok, detail) = check(&report, "push_parent");
    assert!(!ok);
    assert!(
        detail.contains("no department 987654") && detail.contains("push_dingtalk_parent"),
        "{detail}"
    );
    let (ok, detail) = check(&report, "push_move_dept");
    assert!(!ok);
    assert!(detail.contains("push_move_dept_id"), "{detail}");
    assert!(check(&report, "write_permission").0);

    // The parent (the corp's root) outside a contact scope of one top-level department; the
    // push root deleted from the directory.
    let listed = env.call(Method::GET, "/admin/api/connectors", None).await;
    let id = listed.body["items"][0]["id"].as_str().unwrap().to_owned();
    let scope = depts(&env).await[0];
    let saved = env
        .call(
            Method::PATCH,
            &format!("/admin/api/connectors/{id}"),
            Some(json!({"push_dingtalk_parent": 1, "push_move_dept_id": scope})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    env.set_app_policy(json!({"contact_scope_depts": [scope]}))
        .await;
    let gone = env
        .call(
            Method::DELETE,
            &format!("/admin/api/org-units/{root}"),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let report = test_again(&env, &id).await;
    let (ok, detail) = check(&report, "push_parent");
    assert!(!ok);
    assert!(
        detail.contains("outside the app's contact scope") && detail.contains("50004"),
        "{detail}"
    );
    assert!(
        check(&report, "push_move_dept").0,
        "the holding one is in scope"
    );
    let (ok, detail) = check(&report, "push_root");
    assert!(!ok);
    assert!(detail.contains("no longer exists"), "{detail}");
}

#[tokio::test]
async fn push_checks_that_need_dingtalk_are_not_run_when_the_credentials_fail() {
    let env = Env::with_sim("http://127.0.0.1:9").await;
    let root = push_root(&env).await;
    let mut overrides = pushing(&root, 1, None);
    overrides["app_secret"] = json!("wrong-secret-value");
    let report = test_with(&env, overrides).await;
    let (ok, detail) = check(&report, "write_permission");
    assert!(!ok);
    assert_eq!(detail, "not checked: see credentials");
    assert!(
        check(&report, "push_root").0,
        "a directory check needs no DingTalk"
    );
}
