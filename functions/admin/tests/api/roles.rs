//! Admin roles and sessions: an account granted `admin` reaches the admin API with its portal
//! session (writes only with the session's CSRF token), a `viewer` only reads, an account without
//! a role, a disabled account, an ended or forced-password-change session get nothing; role
//! changes are audited.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use dingbridge::domain::ids::AccountId;
use dingbridge::ports::SystemClock;
use dingbridge::store::sessions::{SessionSettings, Sessions};
use serde_json::{Value, json};

use crate::support::Env;

async fn person(env: &Env, username: &str) -> String {
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    let root = units.body["items"][0]["id"].as_str().unwrap().to_owned();
    let made = env
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({"username": username, "display_name": username, "org_unit_ids": [root]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.body["id"].as_str().unwrap().to_owned()
}

/// A portal session of `account` (as the sign-in page makes one): its cookie value and CSRF token.
async fn session(env: &Env, account: &str, must_change: bool) -> (String, String) {
    let sessions = Sessions::new(
        env.table.clone(),
        Arc::new(SystemClock),
        SessionSettings::default(),
    );
    let (id, s) = sessions
        .create(&AccountId::parse(account).unwrap(), &["pwd"], must_change)
        .await
        .unwrap();
    (id, s.csrf)
}

async fn grant(env: &Env, account: &str, roles: Value) {
    let answer = env
        .call(
            Method::PUT,
            &format!("/admin/api/accounts/{account}/roles"),
            Some(json!({ "roles": roles })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn an_admin_session_reads_and_writes_with_its_csrf_token() {
    let env = Env::new().await;
    let id = person(&env, "it.admin").await;
    let (cookie, csrf) = session(&env, &id, false).await;
    // No role yet: the session reaches nothing.
    let none = env
        .call_session(&cookie, None, Method::GET, "/admin/api/connectors", None)
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "{}", none.text);
    grant(&env, &id, json!(["admin"])).await;
    let me = env
        .call_session(&cookie, None, Method::GET, "/admin/api/me", None)
        .await;
    assert_eq!(me.body["role"], "admin", "{}", me.text);
    assert_eq!(me.body["csrf_token"], csrf.as_str());
    let read = env
        .call_session(&cookie, None, Method::GET, "/admin/api/connectors", None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let body = json!({"name": "Made in the console", "kind": "jwt",
        "target_url": "https://app.example/", "assigned_to": {"everyone": true}});
    let no_csrf = env
        .call_session(
            &cookie,
            None,
            Method::POST,
            "/admin/api/apps",
            Some(body.clone()),
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "{}", no_csrf.text);
    let wrong = env
        .call_session(
            &cookie,
            Some("not-the-token"),
            Method::POST,
            "/admin/api/apps",
            Some(body.clone()),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.text);
    let apps = env.call(Method::GET, "/admin/api/apps", None).await;
    assert!(
        apps.body["items"].as_array().unwrap().is_empty(),
        "refused writes change nothing"
    );
    let made = env
        .call_session(
            &cookie,
            Some(&csrf),
            Method::POST,
            "/admin/api/apps",
            Some(body),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    // The audit log names the account.
    let audit = env.call(Method::GET, "/admin/api/audit", None).await;
    assert!(
        audit.text.contains(&format!("account:{id}")),
        "{}",
        audit.text
    );
    assert!(audit.text.contains("account_roles"), "{}", audit.text);
}

#[tokio::test]
async fn a_viewer_reads_and_the_api_refuses_its_writes() {
    let env = Env::new().await;
    let id = person(&env, "it.viewer").await;
    grant(&env, &id, json!(["viewer"])).await;
    let (cookie, csrf) = session(&env, &id, false).await;
    let read = env
        .call_session(&cookie, None, Method::GET, "/admin/api/org-units", None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    for (method, path, body) in [
        (Method::POST, "/admin/api/org-units", json!({"name": "x"})),
        (
            Method::PUT,
            &*format!("/admin/api/accounts/{id}/roles"),
            json!({"roles": ["admin"]}),
        ),
        (
            Method::DELETE,
            &*format!("/admin/api/accounts/{id}"),
            Value::Null,
        ),
    ] {
        let answer = env
            .call_session(&cookie, Some(&csrf), method.clone(), path, Some(body))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            answer.text
        );
    }
    let roles = env
        .call(
            Method::GET,
            &format!("/admin/api/accounts/{id}/roles"),
            None,
        )
        .await;
    assert_eq!(
        roles.body["roles"],
        json!(["viewer"]),
        "a viewer cannot promote itself"
    );
}

#[tokio::test]
async fn no_session_an_ended_one_a_disabled_account_or_a_pending_password_change_gets_nothing() {
    let env = Env::new().await;
    let id = person(&env, "it.other").await;
    grant(&env, &id, json!(["admin"])).await;
    let get = |cookie: String| {
        let env = &env;
        async move {
            env.call_session(&cookie, None, Method::GET, "/admin/api/connectors", None)
                .await
                .status
        }
    };
    assert_eq!(
        get("dbsess_never-made".into()).await,
        StatusCode::UNAUTHORIZED
    );
    let none = env
        .call_as(None, Method::GET, "/admin/api/connectors", None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let (forced, _) = session(&env, &id, true).await;
    assert_eq!(get(forced).await, StatusCode::FORBIDDEN);
    let (cookie, _) = session(&env, &id, false).await;
    assert_eq!(get(cookie.clone()).await, StatusCode::OK);
    env.call(
        Method::PATCH,
        &format!("/admin/api/accounts/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(get(cookie).await, StatusCode::UNAUTHORIZED);
    // Roles: unknown ones are refused; none takes them away; holders are listed.
    let bad = env
        .call(
            Method::PUT,
            &format!("/admin/api/accounts/{id}/roles"),
            Some(json!({"roles": ["root"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let listed = env.call(Method::GET, "/admin/api/roles", None).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
    grant(&env, &id, json!([])).await;
    let listed = env.call(Method::GET, "/admin/api/roles", None).await;
    assert!(
        listed.body["items"].as_array().unwrap().is_empty(),
        "{}",
        listed.text
    );
    let unknown = env
        .call(
            Method::PUT,
            "/admin/api/accounts/01900000-0000-7000-8000-000000000000/roles",
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// Every state-changing route the API lists (its own index): refused without credentials (401),
/// for an admin session without its CSRF token (403), for a viewer even with it (403); and none
/// of those requests changed anything (the audit log is as it was).
#[tokio::test]
async fn every_write_is_refused_without_a_session_without_the_csrf_token_and_for_a_viewer() {
    let env = Env::new().await;
    let admin = person(&env, "sweep.admin").await;
    let viewer = person(&env, "sweep.viewer").await;
    grant(&env, &admin, json!(["admin"])).await;
    grant(&env, &viewer, json!(["viewer"])).await;
    let (admin_cookie, _) = session(&env, &admin, false).await;
    let (viewer_cookie, viewer_csrf) = session(&env, &viewer, false).await;
    let audit_before = env
        .call(Method::GET, "/admin/api/audit?limit=1000", None)
        .await;
    let index = env.call(Method::GET, "/admin/api/", None).await;
    let resources = index.body["resources"].as_array().unwrap();
    let mut swept = 0;
    for resource in resources {
        // Placeholders become ids that exist nowhere: the refusal comes before any lookup.
        let path: String = resource["path"]
            .as_str()
            .unwrap()
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "01J00000000000000000000000"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in resource["methods"].as_array().unwrap() {
            let method = Method::from_bytes(method.as_str().unwrap().as_bytes()).unwrap();
            if method == Method::GET {
                continue;
            }
            let body = Some(json!({"name": "sweep"}));
            let anonymous = env.call_as(None, method.clone(), &path, body.clone()).await;
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a session: {}",
                anonymous.text
            );
            let no_csrf = env
                .call_session(&admin_cookie, None, method.clone(), &path, body.clone())
                .await;
            assert_eq!(
                no_csrf.status,
                StatusCode::FORBIDDEN,
                "{method} {path} without the CSRF token: {}",
                no_csrf.text
            );
            let as_viewer = env
                .call_session(
                    &viewer_cookie,
                    Some(&viewer_csrf),
                    method.clone(),
                    &path,
                    body,
                )
                .await;
            assert_eq!(
                as_viewer.status,
                StatusCode::FORBIDDEN,
                "{method} {path} as a viewer: {}",
                as_viewer.text
            );
            swept += 1;
        }
    }
    assert!(swept >= 42, "only {swept} writes are listed");
    let audit_after = env
        .call(Method::GET, "/admin/api/audit?limit=1000", None)
        .await;
    assert_eq!(
        audit_before.body["items"], audit_after.body["items"],
        "a refused write changed something"
    );
}
