//! SCIM clients through the admin API: the answer's shape, the secret shown once and never
//! listed, validation with every problem at once, the scope lent by a connector's push root,
//! rotation, revocation, deletion, and their audit entries.

use axum::http::{Method, StatusCode};
use dingbridge::secrets::verify_password;
use serde_json::{Value, json};

use crate::support::Env;

const BASE: &str = "/admin/api/scim-clients";

async fn root_id(env: &Env) -> String {
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    units.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["parent_id"].is_null())
        .expect("the directory lists its root")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create(env: &Env, body: Value) -> Value {
    let answer = env.call(Method::POST, BASE, Some(body)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body
}

fn problem_fields(body: &Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| x["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec![body["field"].as_str().unwrap_or_default().to_owned()])
}

#[tokio::test]
async fn a_created_client_shows_its_secret_once_and_never_again() {
    let env = Env::new().await;
    let made = create(&env, json!({"name": "Entra ID"})).await;
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dbscs_") && secret.len() > 40, "{made}");
    let client_id = made["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("dbscim_"), "{made}");
    assert_eq!(made["name"], "Entra ID");
    assert_eq!(made["token_lifetime_s"], 3600);
    assert_eq!(made["allow_basic"], false);
    assert_eq!(made["connector_id"], Value::Null);
    assert_eq!(made["root_org_unit_id"], Value::Null);
    assert_eq!(made["revoked"], false);
    // Env's public base URL is the address nothing listens on.
    assert_eq!(made["scim_base_url"], "http://127.0.0.1:9/scim/v2");
    assert_eq!(made["token_url"], "http://127.0.0.1:9/oauth/token");
    assert!(made["created_ms"].as_i64().unwrap() > 0);
    let id = made["id"].as_str().unwrap().to_owned();

    let listed = env.call(Method::GET, BASE, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["client_id"], client_id);
    let read = env.call(Method::GET, &format!("{BASE}/{id}"), None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["id"], id.as_str());
    let by_client_id = env
        .call(Method::GET, &format!("{BASE}/{client_id}"), None)
        .await;
    assert_eq!(by_client_id.body["id"], id.as_str());
    for answer in [&listed, &read, &by_client_id] {
        assert!(!answer.text.contains(&secret), "{}", answer.text);
        assert!(!answer.text.contains("argon2"), "{}", answer.text);
        assert!(!answer.text.contains("secret_hash"), "{}", answer.text);
        assert!(!answer.text.contains("client_secret"), "{}", answer.text);
    }
    // Stored as a hash that the secret verifies, never in clear.
    let item = env
        .table
        .get(&dingbridge::ports::Key::new(
            format!("OCLI#{client_id}"),
            "OCLI",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored = item.data.to_string();
    assert!(!stored.contains(&secret));
    assert!(verify_password(
        &secret,
        item.data["secret_hash"].as_str().unwrap()
    ));

    // Audited, without the secret or its hash.
    let audit = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=scim_client&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    assert_eq!(audit.body["items"][0]["action"], "create", "{}", audit.text);
    assert!(!audit.text.contains("argon2") && !audit.text.contains(&secret));

    let missing = env
        .call(
            Method::GET,
            &format!("{BASE}/0190d5a4-0000-7000-8000-000000000abc"),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let junk = env.call(Method::GET, &format!("{BASE}/nope"), None).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_problem_of_a_new_client_is_named_at_once() {
    let env = Env::new().await;
    let answer = env
        .call(
            Method::POST,
            BASE,
            Some(json!({
                "name": " ",
                "token_lifetime_s": 60,
                "connector_id": "0190d5a4-0000-7000-8000-000000000abc",
                "root_org_unit_id": "not-an-id",
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let mut fields = problem_fields(&answer.body);
    fields.sort();
    assert_eq!(
        fields,
        [
            "connector_id",
            "name",
            "root_org_unit_id",
            "token_lifetime_s"
        ]
    );
    let unknown = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"name": "x", "secret": "mine"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    let long = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"name": "x", "token_lifetime_s": 86_401})),
        )
        .await;
    assert_eq!(problem_fields(&long.body), ["token_lifetime_s"]);
    let listed = env.call(Method::GET, BASE, None).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_connector_lends_its_push_root_or_is_refused_without_one() {
    let env = Env::new().await;
    let plain = env.create_connector(env.connector_input()).await;
    let refused = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"name": "Okta", "connector_id": plain["id"]})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(problem_fields(&refused.body), ["connector_id"]);
    assert!(refused.text.contains("push root"), "{}", refused.text);

    // With a root given, the connector needs no push root.
    let root = root_id(&env).await;
    let scoped = create(
        &env,
        json!({"name": "Okta", "connector_id": plain["id"], "root_org_unit_id": root}),
    )
    .await;
    assert_eq!(scoped["connector_id"], plain["id"]);
    assert_eq!(scoped["root_org_unit_id"], root.as_str());

    // A pushing connector's root becomes the client's.
    let pushed = env
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": "Pushed", "parent_id": root})),
        )
        .await;
    let pushed_id = pushed.body["id"].as_str().unwrap().to_owned();
    env.call(
        Method::DELETE,
        &format!("/admin/api/connectors/{}", plain["id"].as_str().unwrap()),
        None,
    )
    .await;
    let mut input = env.connector_input();
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = json!(pushed_id);
    let pushing = env.create_connector(input).await;
    let lent = create(
        &env,
        json!({"name": "Entra", "connector_id": pushing["id"], "allow_basic": true, "token_lifetime_s": 7200}),
    )
    .await;
    assert_eq!(lent["root_org_unit_id"], pushed_id.as_str());
    assert_eq!(lent["allow_basic"], true);
    assert_eq!(lent["token_lifetime_s"], 7200);
}

#[tokio::test]
async fn patch_rotate_revoke_and_delete() {
    let env = Env::new().await;
    let made = create(&env, json!({"name": "Entra ID"})).await;
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("{BASE}/{id}");
    let first_secret = made["client_secret"].as_str().unwrap().to_owned();

    let patched = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "Entra (prod)", "token_lifetime_s": 1800, "allow_basic": true})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["name"], "Entra (prod)");
    assert_eq!(patched.body["token_lifetime_s"], 1800);
    assert_eq!(patched.body["allow_basic"], true);
    assert_eq!(patched.body["version"], 2);
    assert!(patched.body.get("client_secret").is_none());
    let bad = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "", "token_lifetime_s": 10})),
        )
        .await;
    let mut fields = problem_fields(&bad.body);
    fields.sort();
    assert_eq!(fields, ["name", "token_lifetime_s"]);
    let scope_change = env
        .call(Method::PATCH, &path, Some(json!({"connector_id": null})))
        .await;
    assert_eq!(scope_change.status, StatusCode::BAD_REQUEST);

    let rotated = env
        .call(Method::POST, &format!("{path}/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second_secret = rotated.body["client_secret"].as_str().unwrap();
    assert_ne!(second_secret, first_secret);
    let until = rotated.body["previous_secret_until_ms"].as_i64().unwrap();
    let overlap = until - rotated.body["updated_ms"].as_i64().unwrap();
    assert_eq!(overlap, 86_400_000, "a day by default");
    let too_long = env
        .call(
            Method::POST,
            &format!("{path}/rotate"),
            Some(json!({"overlap_s": 8 * 86_400})),
        )
        .await;
    assert_eq!(problem_fields(&too_long.body), ["overlap_s"]);
    let short = env
        .call(
            Method::POST,
            &format!("{path}/rotate"),
            Some(json!({"overlap_s": 0})),
        )
        .await;
    assert_eq!(short.status, StatusCode::OK, "{}", short.text);
    assert_eq!(short.body["previous_secret_until_ms"], Value::Null);

    let revoked = env
        .call(Method::POST, &format!("{path}/revoke"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.body["revoked"], true);
    assert!(revoked.body["revoked_ms"].as_i64().is_some());
    let again = env
        .call(Method::POST, &format!("{path}/rotate"), None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

    let audit = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=scim_client&entity_id={id}"),
            None,
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "revoke",
            "rotate_secret",
            "rotate_secret",
            "update",
            "create"
        ]
    );

    let deleted = env.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(deleted.body["deleted"], true);
    assert_eq!(
        env.call(Method::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}
