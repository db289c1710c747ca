//! Applications (SSO targets) through the admin API: the three kinds of app, the secret shown
//! once and never again, every problem of a body at once, assignments naming units and accounts
//! that must exist (a unit covering its sub-units), replacement by version, rotation with an
//! overlap, authentication with the right, wrong and previous secret, and deletion.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use dingbridge::domain::ids::{AccountId, AppId, OrgUnitId};
use dingbridge::ports::{Key, SystemClock};
use dingbridge::store::apps::Apps;
use serde_json::{Value, json};

use crate::support::Env;

const BASE: &str = "/admin/api/apps";

fn apps(env: &Env) -> Apps {
    Apps::new(env.table.clone(), Arc::new(SystemClock))
}

async fn create(env: &Env, body: Value) -> Value {
    let answer = env.call(Method::POST, BASE, Some(body)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let location = answer.headers[header::LOCATION].to_str().unwrap();
    assert_eq!(
        location,
        format!("{BASE}/{}", answer.body["id"].as_str().unwrap())
    );
    answer.body
}

fn oidc(name: &str) -> Value {
    json!({
        "name": name, "kind": "oidc",
        "redirect_uris": ["https://wiki.example.com/oidc/callback"],
        "scopes": ["openid", "profile", "email"],
        "assigned_to": {"everyone": true},
    })
}

fn problems(body: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = body["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems in {body}"))
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

fn fields(body: &Value) -> Vec<String> {
    problems(body).into_iter().map(|(f, _)| f).collect()
}

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

async fn unit(env: &Env, name: &str, parent: &str) -> String {
    let made = env
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": name, "parent_id": parent})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.body["id"].as_str().unwrap().to_owned()
}

async fn account(env: &Env, username: &str, unit: &str) -> String {
    let made = env
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({"username": username, "display_name": username, "org_unit_ids": [unit]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_confidential_oidc_app_shows_its_secret_once_and_authenticates_with_it() {
    let env = Env::new().await;
    let made = create(&env, oidc("Wiki")).await;
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dbaps_") && secret.len() > 40, "{made}");
    let client_id = made["client_id"].as_str().unwrap().to_owned();
    assert!(
        client_id.starts_with("dbapp_") && client_id.len() == 38,
        "{made}"
    );
    assert_eq!(made["kind"], "oidc");
    assert_eq!(made["public"], false);
    assert_eq!(made["confidential"], true);
    assert_eq!(made["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(made["assigned_to"], json!({"everyone": true}));
    assert_eq!(made["subject"], "id");
    assert_eq!(made["preferred_username"], "username");
    assert_eq!(made["jwt_param"], "id_token");
    assert_eq!(made["jwt_lifetime_s"], 300);
    assert_eq!(made["enabled"], true);
    assert_eq!(made["version"], 1);
    let id = made["id"].as_str().unwrap().to_owned();

    let listed = env.call(Method::GET, BASE, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["client_id"], client_id.as_str());
    let read = env.call(Method::GET, &format!("{BASE}/{id}"), None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.headers[header::ETAG], "\"1\"");
    let by_client_id = env
        .call(Method::GET, &format!("{BASE}/{client_id}"), None)
        .await;
    assert_eq!(by_client_id.body["id"], id.as_str());
    let audit = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=app&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    assert_eq!(audit.body["items"][0]["action"], "create", "{}", audit.text);
    for answer in [&listed, &read, &by_client_id, &audit] {
        assert!(!answer.text.contains(&secret), "{}", answer.text);
        assert!(!answer.text.contains("argon2"), "{}", answer.text);
        assert!(!answer.text.contains("secret_hash"), "{}", answer.text);
        assert!(!answer.text.contains("client_secret"), "{}", answer.text);
    }
    // Stored only as a hash.
    let item = env
        .table
        .get(&Key::new(format!("APP#{client_id}"), "APP"))
        .await
        .unwrap()
        .unwrap();
    assert!(!item.data.to_string().contains(&secret));

    let apps = apps(&env);
    let found = apps.authenticate(&client_id, &secret).await.unwrap();
    assert_eq!(found.map(|a| a.id.to_string()), Some(id.clone()));
    assert!(
        apps.authenticate(&client_id, "dbaps_nope")
            .await
            .unwrap()
            .is_none()
    );
    let by_client_id = apps.by_client_id(&client_id).await.unwrap().unwrap();
    assert!(by_client_id.is_confidential());
}

#[tokio::test]
async fn public_oidc_and_jwt_apps_have_no_secret() {
    let env = Env::new().await;
    let mut public = oidc("SPA");
    public["public"] = json!(true);
    public["scopes"] = json!(["profile"]);
    let public = create(&env, public).await;
    assert!(public.get("client_secret").is_none(), "{public}");
    assert_eq!(public["confidential"], false);
    assert_eq!(
        public["scopes"],
        json!(["openid", "profile"]),
        "openid added"
    );

    let jwt = create(
        &env,
        json!({
            "name": "Expenses", "kind": "jwt",
            "target_url": "https://expenses.example.com/sso/jwt",
            "jwt_param": "token", "jwt_redirect_url": "https://expenses.example.com/home",
            "jwt_lifetime_s": 60, "subject": "username", "preferred_username": "email",
            "icon_url": "https://expenses.example.com/icon.png",
            "home_url": "https://expenses.example.com/",
            "assigned_to": {"org_unit_ids": [], "account_ids": []},
        }),
    )
    .await;
    assert!(jwt.get("client_secret").is_none(), "{jwt}");
    assert_eq!(jwt["kind"], "jwt");
    assert_eq!(jwt["target_url"], "https://expenses.example.com/sso/jwt");
    assert_eq!(jwt["jwt_param"], "token");
    assert_eq!(jwt["jwt_lifetime_s"], 60);
    assert_eq!(jwt["subject"], "username");
    assert_eq!(jwt["preferred_username"], "email");
    assert_eq!(
        jwt["assigned_to"],
        json!({"org_unit_ids": [], "account_ids": []})
    );

    // Neither rotates: there is no secret to replace.
    for made in [&public, &jwt] {
        let rotated = env
            .call(
                Method::POST,
                &format!("{BASE}/{}/rotate", made["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(rotated.status, StatusCode::CONFLICT, "{}", rotated.text);
    }
    let apps = apps(&env);
    let client_id = public["client_id"].as_str().unwrap();
    assert!(apps.authenticate(client_id, "").await.unwrap().is_none());
}

#[tokio::test]
async fn every_problem_of_an_app_is_named_at_once() {
    let env = Env::new().await;
    let missing_unit = OrgUnitId::generate().to_string();
    let missing_account = AccountId::generate().to_string();
    let answer = env
        .call(
            Method::POST,
            BASE,
            Some(json!({
                "name": "",
                "kind": "oidc",
                "redirect_uris": ["http://wiki.example.com/cb", "https://wiki.example.com/cb#frag"],
                "post_logout_redirect_uris": ["wiki.example.com"],
                "scopes": ["openid", "offline_access"],
                "initiate_login_uri": "ftp://wiki.example.com/login",
                "target_url": "https://wiki.example.com/jwt",
                "jwt_param": "a b",
                "jwt_lifetime_s": 301,
                "assigned_to": {"org_unit_ids": [missing_unit, "not-an-id"], "account_ids": [missing_account]},
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let found = problems(&answer.body);
    let named: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        named,
        [
            "assigned_to",
            "assigned_to",
            "assigned_to",
            "initiate_login_uri",
            "jwt_lifetime_s",
            "jwt_param",
            "name",
            "post_logout_redirect_uris",
            "redirect_uris",
            "redirect_uris",
            "scopes",
            "target_url",
        ],
        "{}",
        answer.text
    );
    let reasons: String = found.iter().map(|(_, r)| format!("{r}\n")).collect();
    for expected in [
        missing_unit.as_str(),
        missing_account.as_str(),
        "\"not-an-id\"",
        "\"offline_access\"",
        "entry 1",
        "entry 2",
        "fragment",
    ] {
        assert!(reasons.contains(expected), "{expected}: {reasons}");
    }

    let jwt = env
        .call(
            Method::POST,
            BASE,
            Some(json!({
                "name": "Expenses", "kind": "jwt", "public": true,
                "redirect_uris": ["https://e.example.com/cb"],
                "assigned_to": {"everyone": true},
            })),
        )
        .await;
    assert_eq!(
        fields(&jwt.body),
        ["public", "redirect_uris", "target_url"],
        "{}",
        jwt.text
    );
    let kindless = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"name": "x", "kind": "saml"})),
        )
        .await;
    assert_eq!(
        kindless.status,
        StatusCode::BAD_REQUEST,
        "{}",
        kindless.text
    );
    let unknown = env
        .call(
            Method::POST,
            BASE,
            Some(json!({"name": "x", "kind": "oidc", "client_secret": "mine"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    assert!(!unknown.text.contains("mine"), "{}", unknown.text);
    let listed = env.call(Method::GET, BASE, None).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_assignment_names_existing_units_and_accounts_and_covers_sub_units() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let east = unit(&env, "Sales East", &sales).await;
    let hr = unit(&env, "HR", &root).await;
    let seller = account(&env, "seller", &east).await;
    let clerk = account(&env, "clerk", &hr).await;
    let boss = account(&env, "boss", &hr).await;
    let made = create(
        &env,
        json!({
            "name": "CRM", "kind": "jwt", "target_url": "https://crm.example.com/sso",
            "assigned_to": {"org_unit_ids": [sales], "account_ids": [boss]},
        }),
    )
    .await;
    assert_eq!(
        made["assigned_to"],
        json!({"org_unit_ids": [sales], "account_ids": [boss]})
    );
    let id = AppId::parse(made["id"].as_str().unwrap()).unwrap();
    let app = apps(&env).get(&id).await.unwrap().unwrap();
    // The caller gives the account's units with their ancestors: Sales East → Sales → root.
    let seller_units = BTreeSet::from([
        OrgUnitId::parse(&east).unwrap(),
        OrgUnitId::parse(&sales).unwrap(),
        OrgUnitId::parse(&root).unwrap(),
    ]);
    let hr_units = BTreeSet::from([
        OrgUnitId::parse(&hr).unwrap(),
        OrgUnitId::parse(&root).unwrap(),
    ]);
    let parse = |raw: &str| AccountId::parse(raw).unwrap();
    assert!(app.is_assigned(&parse(&seller), &seller_units));
    assert!(app.is_assigned(&parse(&boss), &hr_units));
    assert!(!app.is_assigned(&parse(&clerk), &hr_units));

    // A replacement that names a unit deleted meanwhile is refused naming it.
    let gone = unit(&env, "Gone", &root).await;
    env.call(
        Method::DELETE,
        &format!("/admin/api/org-units/{gone}"),
        None,
    )
    .await;
    let replaced = env
        .call(
            Method::PUT,
            &format!("{BASE}/{id}"),
            Some(json!({
                "name": "CRM", "target_url": "https://crm.example.com/sso",
                "assigned_to": {"org_unit_ids": [sales, gone]},
            })),
        )
        .await;
    assert_eq!(
        replaced.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replaced.text
    );
    assert_eq!(fields(&replaced.body), ["assigned_to"]);
    assert!(replaced.text.contains(&gone), "{}", replaced.text);
}

#[tokio::test]
async fn a_replacement_is_conditional_on_the_version_and_keeps_the_kind() {
    let env = Env::new().await;
    let made = create(&env, oidc("Wiki")).await;
    let path = format!("{BASE}/{}", made["client_id"].as_str().unwrap());
    let mut body = oidc("Wiki (prod)");
    body["redirect_uris"] = json!(["https://wiki.example.com/cb", "http://localhost:8080/cb"]);
    body["enabled"] = json!(false);
    let replaced = env
        .call_with(
            Method::PUT,
            &path,
            Some(body.clone()),
            &[(header::IF_MATCH, "\"1\"")],
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.body["name"], "Wiki (prod)");
    assert_eq!(replaced.body["enabled"], false);
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.headers[header::ETAG], "\"2\"");
    assert_eq!(replaced.body["client_id"], made["client_id"]);
    assert!(replaced.body.get("client_secret").is_none());

    // The version read before is stale, in the header or the body.
    let stale = env
        .call_with(
            Method::PUT,
            &path,
            Some(body.clone()),
            &[(header::IF_MATCH, "1")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    body["version"] = json!(1);
    let stale = env.call(Method::PUT, &path, Some(body.clone())).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);

    body["version"] = json!(2);
    body["kind"] = json!("jwt");
    body["public"] = json!(true);
    let changed = env.call(Method::PUT, &path, Some(body)).await;
    assert_eq!(changed.status, StatusCode::BAD_REQUEST, "{}", changed.text);
    assert_eq!(
        fields(&changed.body),
        ["kind", "public"],
        "{}",
        changed.text
    );

    // A disabled app does not authenticate even with its secret.
    let secret = made["client_secret"].as_str().unwrap();
    let client_id = made["client_id"].as_str().unwrap();
    assert!(
        apps(&env)
            .authenticate(client_id, secret)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn rotation_keeps_the_previous_secret_for_its_overlap() {
    let env = Env::new().await;
    let made = create(&env, oidc("Wiki")).await;
    let client_id = made["client_id"].as_str().unwrap().to_owned();
    let path = format!("{BASE}/{}", made["id"].as_str().unwrap());
    let first = made["client_secret"].as_str().unwrap().to_owned();

    let rotated = env
        .call(Method::POST, &format!("{path}/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = rotated.body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let until = rotated.body["previous_secret_until_ms"].as_i64().unwrap();
    let overlap = until - rotated.body["updated_ms"].as_i64().unwrap();
    assert_eq!(overlap, 86_400_000, "a day by default");
    let apps = apps(&env);
    assert!(
        apps.authenticate(&client_id, &first)
            .await
            .unwrap()
            .is_some(),
        "previous, within its overlap"
    );
    assert!(
        apps.authenticate(&client_id, &second)
            .await
            .unwrap()
            .is_some()
    );

    let too_long = env
        .call(
            Method::POST,
            &format!("{path}/rotate"),
            Some(json!({"overlap_s": 7 * 86_400 + 1})),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.text
    );
    assert_eq!(too_long.body["field"], "overlap_s");

    let third = env
        .call(
            Method::POST,
            &format!("{path}/rotate"),
            Some(json!({"overlap_s": 0})),
        )
        .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.text);
    assert_eq!(third.body["previous_secret_until_ms"], Value::Null);
    let third = third.body["client_secret"].as_str().unwrap().to_owned();
    assert!(
        apps.authenticate(&client_id, &first)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        apps.authenticate(&client_id, &second)
            .await
            .unwrap()
            .is_none(),
        "no overlap"
    );
    assert!(
        apps.authenticate(&client_id, &third)
            .await
            .unwrap()
            .is_some()
    );

    // The secret is in no audit entry.
    let audit = env
        .call(
            Method::GET,
            &format!(
                "/admin/api/audit?entity_kind=app&entity_id={}",
                made["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["rotate_secret", "rotate_secret", "create"]);
    for secret in [&first, &second, &third] {
        assert!(!audit.text.contains(secret.as_str()));
    }
    assert!(!audit.text.contains("argon2"));
}

#[tokio::test]
async fn a_deleted_app_is_gone_and_its_secret_stops_working() {
    let env = Env::new().await;
    let made = create(&env, oidc("Wiki")).await;
    let (id, client_id) = (
        made["id"].as_str().unwrap(),
        made["client_id"].as_str().unwrap(),
    );
    let path = format!("{BASE}/{id}");
    let stale = env
        .call_with(Method::DELETE, &path, None, &[(header::IF_MATCH, "\"7\"")])
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let deleted = env.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(deleted.body, json!({"id": id, "deleted": true}));
    for path in [path.clone(), format!("{BASE}/{client_id}")] {
        let answer = env.call(Method::GET, &path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    }
    let again = env.call(Method::DELETE, &path, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    let junk = env.call(Method::GET, &format!("{BASE}/nope"), None).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    let secret = made["client_secret"].as_str().unwrap();
    assert!(
        apps(&env)
            .authenticate(client_id, secret)
            .await
            .unwrap()
            .is_none()
    );
    let audit = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=app&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(audit.body["items"][0]["action"], "delete", "{}", audit.text);
}
