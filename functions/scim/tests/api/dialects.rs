//! The request sequences of Entra ID (default and `aadOptscim062020`) and Okta, as
//! `scim-interop.md` describes them, replayed; the directory is checked after each step.

use axum::http::{Method, StatusCode};
use dingbridge::domain::directory::AccountStatus;
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use serde_json::{Value, json};

use crate::support::Env;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn user(name: &str, mobile: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": format!("ext-{name}"),
        "userName": format!("{name}@contoso.example"),
        "active": true,
        "displayName": name,
        "name": {"givenName": name, "familyName": "Contoso"},
        "emails": [{"primary": true, "type": "work", "value": format!("{name}@contoso.example")}],
        "phoneNumbers": [{"type": "mobile", "value": mobile}],
        ENTERPRISE: {"employeeNumber": "E-1", "department": "R&D"},
    })
}

async fn account(env: &Env, id: &str) -> dingbridge::domain::directory::Account {
    env.directory
        .account(&AccountId::parse(id).unwrap())
        .await
        .unwrap()
        .expect("the account is in the directory")
}

async fn members(env: &Env, group: &str) -> Vec<String> {
    env.directory
        .members(&OrgUnitId::parse(group).unwrap(), 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.to_string())
        .collect()
}

#[tokio::test]
async fn entra_default_dialect() {
    let env = Env::new().await;
    let q = env
        .call(
            Method::GET,
            "/scim/v2/Users?filter=userName%20eq%20%22Alice%40contoso.example%22",
            None,
        )
        .await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(q.body["totalResults"], 0);
    assert_eq!(q.body["Resources"], json!([]));

    let created = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(user("Alice", "13800000001")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    assert_eq!(
        created.headers.get("location").unwrap().to_str().unwrap(),
        format!("https://idm.example.com/scim/v2/Users/{id}")
    );
    assert_eq!(
        created.body["userName"], "Alice@contoso.example",
        "kept as sent"
    );
    let a = account(&env, &id).await;
    assert_eq!(a.username.as_str(), "alice@contoso.example");
    assert_eq!(a.mobile.as_ref().unwrap().as_str(), "13800000001");
    assert_eq!(a.job_number.as_deref(), Some("E-1"));

    // Case-insensitive userName, found by the index.
    let q = env
        .call(
            Method::GET,
            "/scim/v2/Users?filter=userName%20eq%20%22ALICE%40CONTOSO.EXAMPLE%22",
            None,
        )
        .await;
    assert_eq!(q.body["totalResults"], 1);
    assert_eq!(q.body["Resources"][0]["id"], id.as_str());

    let manager = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(user("Bob", "13800000002")),
        )
        .await;
    let manager_id = manager.id();
    let changed = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(patch(json!([
                {"op": "Replace", "path": "displayName", "value": "Alice Liddell"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.l@contoso.example"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": manager_id},
            ]))),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["displayName"], "Alice Liddell");
    assert_eq!(
        changed.body[ENTERPRISE]["manager"],
        json!({"value": manager_id}),
        "an object, never a string"
    );
    let a = account(&env, &id).await;
    assert_eq!(a.display_name.as_str(), "Alice Liddell");
    assert_eq!(
        a.email.as_ref().unwrap().as_str(),
        "alice.l@contoso.example"
    );

    // Disable with the string "False": a soft delete, still readable and filterable.
    let disabled = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(patch(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(disabled.body["active"], false);
    assert_eq!(account(&env, &id).await.status, AccountStatus::Disabled);
    let q = env
        .call(
            Method::GET,
            "/scim/v2/Users?filter=externalId%20eq%20%22ext-Alice%22%20and%20active%20eq%20false",
            None,
        )
        .await;
    assert_eq!(q.body["totalResults"], 1);
    let again = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(patch(
                json!([{"op": "Replace", "path": "active", "value": "True"}]),
            )),
        )
        .await;
    assert_eq!(again.body["active"], true);
    assert_eq!(account(&env, &id).await.status, AccountStatus::Enabled);

    // Groups.
    let q = env
        .call(
            Method::GET,
            "/scim/v2/Groups?filter=displayName%20eq%20%22Sales-East%22&excludedAttributes=members",
            None,
        )
        .await;
    assert_eq!(q.body["totalResults"], 0);
    let group = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Sales-East", "externalId": "g-1", "members": []}),
            ),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let gid = group.id();
    let unit = env
        .directory
        .org_unit(&OrgUnitId::parse(&gid).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unit.name, "Sales_East",
        "DingTalk refuses '-' in department names"
    );
    assert_eq!(
        group.body["displayName"], "Sales-East",
        "the client reads what it wrote"
    );
    let q = env
        .call(
            Method::GET,
            "/scim/v2/Groups?filter=displayName%20eq%20%22Sales-East%22&excludedAttributes=members",
            None,
        )
        .await;
    assert_eq!(q.body["totalResults"], 1);
    assert!(q.body["Resources"][0].get("members").is_none());

    let add = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{gid}"),
            Some(patch(json!([{"op": "Add", "path": "members", "value": [{"value": id}, {"value": manager_id}]}]))),
        )
        .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.body);
    let mut now = members(&env, &gid).await;
    now.sort();
    let mut want = vec![id.clone(), manager_id.clone()];
    want.sort();
    assert_eq!(now, want);
    let remove = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{gid}"),
            Some(patch(
                json!([{"op": "Remove", "path": "members", "value": [{"value": manager_id}]}]),
            )),
        )
        .await;
    assert_eq!(remove.status, StatusCode::OK);
    assert_eq!(members(&env, &gid).await, vec![id.clone()]);
    // The removed member keeps a unit: the client's root.
    let bob = account(&env, &manager_id).await;
    assert_eq!(bob.memberships.len(), 1);
    assert_eq!(
        bob.memberships[0].org_unit_id,
        env.client
            .root_org_unit_id
            .clone()
            .unwrap_or_else(dingbridge::store::directory::Directory::root_id)
    );

    let gone = env
        .call(Method::DELETE, &format!("/scim/v2/Users/{id}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.call(Method::GET, &format!("/scim/v2/Users/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(members(&env, &gid).await.is_empty());
}

#[tokio::test]
async fn entra_aad_opt_dialect() {
    let env = Env::new().await;
    let id = env
        .call(
            Method::POST,
            "/scim/v2/Users?aadOptscim062020",
            Some(user("Carol", "13800000003")),
        )
        .await
        .id();
    let changed = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}?aadOptscim062020"),
            Some(patch(json!([{"op": "replace", "value": {
                "active": false,
                "displayName": "Carol C",
                "name.givenName": "Caroline",
                "emails[type eq \"work\"].value": "carol.c@contoso.example",
                format!("{ENTERPRISE}:employeeNumber"): "E-7",
            }}]))),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"]["givenName"], "Caroline");
    assert_eq!(changed.body["name"]["familyName"], "Contoso");
    let a = account(&env, &id).await;
    assert_eq!(a.status, AccountStatus::Disabled);
    assert_eq!(a.job_number.as_deref(), Some("E-7"));
    assert_eq!(
        a.email.as_ref().unwrap().as_str(),
        "carol.c@contoso.example"
    );

    let gid = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "Ops", "members": [{"value": id}]})),
        )
        .await
        .id();
    assert_eq!(members(&env, &gid).await, vec![id.clone()]);
    let removed = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{gid}"),
            Some(patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
            )),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(members(&env, &gid).await.is_empty());
}

#[tokio::test]
async fn okta_sequence() {
    let env = Env::new().await;
    // Test connection.
    let q = env
        .call(Method::GET, "/scim/v2/Users?startIndex=1&count=2", None)
        .await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(
        q.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(q.body["startIndex"], 1);
    let q = env
        .call(Method::GET, "/scim/v2/Groups?startIndex=1&count=100", None)
        .await;
    assert_eq!(q.status, StatusCode::OK);

    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "dave@okta.example",
        "name": {"givenName": "Dave", "familyName": "Okta"},
        "emails": [{"primary": true, "value": "dave@okta.example", "type": "work"}],
        "active": true,
        "password": "Okta-Passw0rd!",
    });
    let auth = format!("Bearer {}", env.token);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let created = env
        .send(
            Method::POST,
            "/scim/v2/Users",
            &headers,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.get("password").is_none(), "never returned");
    assert_eq!(
        created.body["displayName"],
        json!(null),
        "not sent, not invented in the resource"
    );
    let id = created.id();
    let a = account(&env, &id).await;
    assert_eq!(
        a.display_name.as_str(),
        "Dave Okta",
        "DingTalk's name from given + family"
    );
    assert!(dingbridge::secrets::verify_password(
        "Okta-Passw0rd!",
        a.password_hash.as_deref().unwrap()
    ));

    let dup = env
        .send(
            Method::POST,
            "/scim/v2/Users",
            &headers,
            Some(body.to_string()),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.body["scimType"], "uniqueness");

    let off = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(patch(
                json!([{"op": "replace", "value": {"active": false}}]),
            )),
        )
        .await;
    assert_eq!(off.body["active"], false);
    let mut whole = off.body.clone();
    whole["active"] = json!(true);
    whole["title"] = json!("Engineer");
    let put = env
        .call(Method::PUT, &format!("/scim/v2/Users/{id}"), Some(whole))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let a = account(&env, &id).await;
    assert_eq!(a.status, AccountStatus::Enabled);
    assert_eq!(a.title.as_deref(), Some("Engineer"));
    assert!(
        a.password_hash.is_some(),
        "a PUT without the password keeps it"
    );

    // Group Push.
    let gid = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "Okta Group"})),
        )
        .await
        .id();
    let add = env
        .call(Method::PATCH, &format!("/scim/v2/Groups/{gid}"), Some(patch(json!([
            {"op": "add", "path": "members", "value": [{"value": id, "display": "dave@okta.example"}]},
            {"op": "replace", "path": "displayName", "value": "Okta Group 2"}
        ]))))
        .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.body);
    assert_eq!(add.body["displayName"], "Okta Group 2");
    assert_eq!(members(&env, &gid).await, vec![id.clone()]);
    let rm = env
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{gid}"),
            Some(patch(json!([
                {"op": "remove", "path": "members", "value": [{"value": id}]}
            ]))),
        )
        .await;
    assert_eq!(rm.status, StatusCode::OK);
    assert!(members(&env, &gid).await.is_empty());
}
