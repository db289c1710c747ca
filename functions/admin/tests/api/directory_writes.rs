//! The directory's write side through the admin API: validation with every problem at once,
//! versions (If-Match or body) and 409s, the root unit, and the push outbox of writes inside a
//! push-enabled connector's root.

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::ports::QueueConsumer;
use dingbridge::store::outbox::{Outbox, OutboxState};
use serde_json::{Value, json};

use crate::support::Env;

async fn root_id(env: &Env) -> String {
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    assert_eq!(units.status, StatusCode::OK, "{}", units.text);
    let root = units.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["parent_id"].is_null())
        .expect("the directory lists its root")
        .clone();
    root["id"].as_str().unwrap().to_owned()
}

async fn unit(env: &Env, name: &str, parent: &str) -> Value {
    let made = env
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": name, "parent_id": parent, "order": 2})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.headers["etag"], "\"1\"");
    made.body
}

/// The fields a 400 names: its `problems`, or its one `field`.
fn fields(body: &Value) -> Vec<String> {
    match body["problems"].as_array() {
        Some(p) => p
            .iter()
            .map(|p| p["field"].as_str().unwrap().to_owned())
            .collect(),
        None => body["field"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
    }
}

#[tokio::test]
async fn a_tree_and_an_account_are_built_before_any_pull() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let east = unit(&env, "East", sales["id"].as_str().unwrap()).await;
    assert_eq!(east["parent_id"], sales["id"]);
    let made = env
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({
                "username": "li.lei", "display_name": "李雷", "mobile": "13800000001",
                "email": "li.lei@example.com", "title": "Engineer",
                "org_unit_ids": [sales["id"], east["id"]], "primary_org_unit_id": east["id"],
                "password": "Str0ng-Enough!", "attributes": {"cost_center": "42"}
            })),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["password_set"], true);
    assert!(!made.text.contains("Str0ng-Enough!"));
    let memberships = made.body["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 2);
    assert_eq!(memberships[1]["primary"], true);
    // No connector pushes: nothing was queued.
    let queued = env
        .push_queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(queued.is_empty());
    // The audit log says the admin did it.
    let id = made.body["id"].as_str().unwrap();
    let log = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=account&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(log.body["items"][0]["origin"], "admin", "{}", log.text);
}

#[tokio::test]
async fn every_problem_of_an_account_is_reported_at_once_and_nothing_is_written() {
    let env = Env::new().await;
    let bad = env
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({
                "username": "Not A Name!", "mobile": "12", "email": "nope",
                "org_unit_ids": ["not-an-id"], "password": "short"
            })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let got = fields(&bad.body);
    for field in [
        "username",
        "display_name",
        "mobile",
        "email",
        "org_unit_ids",
        "password",
    ] {
        assert!(got.iter().any(|f| f == field), "{field} missing in {got:?}");
    }
    let accounts = env.call(Method::GET, "/admin/api/accounts", None).await;
    assert_eq!(accounts.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_stale_version_is_a_409_and_unknown_ids_are_404s() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let path = format!("/admin/api/org-units/{}", sales["id"].as_str().unwrap());
    let renamed = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "Sales & Marketing", "version": 1})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["version"], 2);
    let stale = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": "Sales", "version": 1})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let current = env.call(Method::GET, &path, None).await;
    assert_eq!(current.body["name"], "Sales & Marketing");
    for (method, path) in [
        (
            Method::PATCH,
            "/admin/api/accounts/0190a0a0-0000-7000-8000-000000000000",
        ),
        (
            Method::DELETE,
            "/admin/api/org-units/0190a0a0-0000-7000-8000-000000000000",
        ),
        (Method::DELETE, "/admin/api/accounts/nope"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"title": "x"}));
        let answer = env.call(method, path, body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn a_unit_with_members_or_children_is_not_deleted() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let sales_id = sales["id"].as_str().unwrap().to_owned();
    unit(&env, "East", &sales_id).await;
    let refused = env
        .call(
            Method::DELETE,
            &format!("/admin/api/org-units/{sales_id}"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    let still = env
        .call(
            Method::GET,
            &format!("/admin/api/org-units/{sales_id}"),
            None,
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn writes_inside_a_pushing_connectors_root_leave_an_outbox_item_and_a_queued_push() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let pushed = unit(&env, "Pushed", &root).await;
    let pushed_id = pushed["id"].as_str().unwrap().to_owned();
    let outside = unit(&env, "Elsewhere", &root).await;
    let mut input = env.connector_input();
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = json!(pushed_id);
    let connector = env.create_connector(input).await;
    let connector_id = ConnectorId::parse(connector["id"].as_str().unwrap()).unwrap();
    assert_eq!(connector["push_enabled"], true, "{connector}");

    // Inside the root: a unit and an account are pushed; outside: nothing.
    let team = unit(&env, "Team", &pushed_id).await;
    unit(&env, "Other", outside["id"].as_str().unwrap()).await;
    let account = env
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({
                "username": "han.meimei", "display_name": "韩梅梅",
                "org_unit_ids": [team["id"]]
            })),
        )
        .await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.text);
    let queued = env
        .push_queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    let messages: Vec<PushMessage> = queued
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.entity.kind()).collect();
    assert_eq!(kinds, ["org_unit", "account"], "{messages:?}");
    assert!(messages.iter().all(|m| m.connector_id == connector_id));

    // The outbox holds the account's item (the push worker settles it), and the API shows it.
    let outbox = Outbox::new(
        env.table.clone(),
        std::sync::Arc::new(dingbridge::ports::SystemClock),
    );
    let account_id =
        dingbridge::domain::ids::AccountId::parse(account.body["id"].as_str().unwrap()).unwrap();
    let item = outbox
        .get(&connector_id, &PushEntity::Account(account_id.clone()))
        .await
        .unwrap()
        .expect("an outbox item");
    assert_eq!((item.state, item.version), (OutboxState::Pending, 1));
    let shown = env
        .call(
            Method::GET,
            &format!("/admin/api/accounts/{account_id}"),
            None,
        )
        .await;
    assert_eq!(shown.body["push"][0]["state"], "pending", "{}", shown.text);

    // A change moves the item to the new version and queues it again.
    let changed = env
        .call(
            Method::PATCH,
            &format!("/admin/api/accounts/{account_id}"),
            Some(json!({"mobile": "13800000002"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let item = outbox
        .get(&connector_id, &PushEntity::Account(account_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.version, 2);
}

#[tokio::test]
async fn a_missing_parent_is_a_problem_of_the_body_reported_with_the_others() {
    let env = Env::new().await;
    let bad = env
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": "A-B,C", "parent_id": "0190a0a0-0000-7000-8000-000000000000"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let mut got = fields(&bad.body);
    got.sort();
    assert_eq!(got, ["name", "parent_id"], "{}", bad.text);
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    assert_eq!(
        units.body["items"].as_array().unwrap().len(),
        1,
        "only the root"
    );
}

#[tokio::test]
async fn the_root_is_renamed_through_the_api_and_never_moved() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let path = format!("/admin/api/org-units/{root}");
    let renamed = env
        .call(Method::PATCH, &path, Some(json!({"name": "示例集团"})))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["name"], "示例集团");
    assert!(renamed.body["parent_id"].is_null());
    let moved = env
        .call(
            Method::PATCH,
            &path,
            Some(json!({"parent_id": sales["id"]})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST, "{}", moved.text);
    assert_eq!(fields(&moved.body), ["parent_id"]);
}

#[tokio::test]
async fn if_match_pins_the_version_and_a_malformed_one_is_refused() {
    let env = Env::new().await;
    let root = root_id(&env).await;
    let sales = unit(&env, "Sales", &root).await;
    let path = format!("/admin/api/org-units/{}", sales["id"].as_str().unwrap());
    let body = Some(json!({"order": 9}));
    let ok = env
        .call_with(
            Method::PATCH,
            &path,
            body.clone(),
            &[(header::IF_MATCH, "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.headers["etag"], "\"2\"");
    let stale = env
        .call_with(
            Method::DELETE,
            &path,
            None,
            &[(header::IF_MATCH, "W/\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    let garbled = env
        .call_with(
            Method::PATCH,
            &path,
            body.clone(),
            &[(header::IF_MATCH, "yesterday")],
        )
        .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST, "{}", garbled.text);
    assert_eq!(fields(&garbled.body), ["If-Match"]);
    let disagreeing = env
        .call_with(
            Method::PATCH,
            &path,
            Some(json!({"order": 1, "version": 2})),
            &[(header::IF_MATCH, "\"3\"")],
        )
        .await;
    assert_eq!(
        disagreeing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        disagreeing.text
    );
    let current = env.call(Method::GET, &path, None).await;
    assert_eq!(
        (
            current.body["order"].as_i64(),
            current.body["version"].as_u64()
        ),
        (Some(9), Some(2))
    );
}

#[tokio::test]
async fn too_many_or_no_org_units_are_refused_before_anything_is_read_or_written() {
    let env = Env::new().await;
    let many: Vec<String> = (0..46)
        .map(|_| dingbridge::domain::ids::OrgUnitId::generate().to_string())
        .collect();
    for (units, expect) in [(json!(many), "at most 45"), (json!([]), "at least one")] {
        let bad = env
            .call(
                Method::POST,
                "/admin/api/accounts",
                Some(json!({"username": "a.b", "display_name": "AB", "org_unit_ids": units})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        assert!(bad.text.contains(expect), "{}", bad.text);
    }
    let accounts = env.call(Method::GET, "/admin/api/accounts", None).await;
    assert_eq!(accounts.body["items"].as_array().unwrap().len(), 0);
}
