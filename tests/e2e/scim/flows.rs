//! SCIM writes reaching DingTalk through the outbox and the push worker.

use reqwest::Method;
use serde_json::{Value, json};

use crate::push::support::{PATIENCE, Pushing, mobile};
use crate::system::{Engine, eventually};

const ORG_UNIT: &str = "urn:dingbridge:params:scim:schemas:extension:2.0:OrgUnit";

/// A pushing system with a SCIM client of its connector (scope: the push root) and a token
/// from the token endpoint.
struct Scim {
    p: Pushing,
    token: String,
}

impl Scim {
    async fn start(engine: Engine) -> Self {
        let p = Pushing::start(engine, "delete").await;
        let client = p
            .call(
                Method::POST,
                "/admin/api/scim-clients",
                Some(json!({"name": "HR", "connector_id": p.sys.connector_id.to_string()})),
            )
            .await;
        assert_eq!(client["scim_base_url"], format!("{}/scim/v2", p.sys.base));
        let token = token(&p.sys.http, &p.sys.base, &client).await;
        Self { p, token }
    }

    async fn scim(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .p
            .sys
            .http
            .request(method, format!("{}/scim/v2{path}", self.p.sys.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn created(&self, path: &str, body: Value) -> String {
        let (status, made) = self.scim(Method::POST, path, Some(body)).await;
        assert_eq!(status, 201, "{made}");
        made["id"].as_str().unwrap().to_owned()
    }
}

/// A token from `/oauth/token` (client credentials, `client_secret_basic`).
pub async fn token(http: &reqwest::Client, base: &str, client: &Value) -> String {
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn a_scim_user_with_a_mobile_reaches_dingtalk_in_its_departments(engine: Engine) {
    let s = Scim::start(engine).await;
    let group = s
        .created("/Groups", json!({"displayName": "Field-Sales"}))
        .await;
    // Her manager, pushed first: DingTalk gets `manager_userid` once both are there.
    let boss = s
        .created(
            "/Users",
            json!({"userName": "boss", "phoneNumbers": [{"value": mobile(302), "type": "mobile"}]}),
        )
        .await;
    eventually(PATIENCE, "the manager is pushed", || async {
        s.p.push_state(&boss).await.0 == "pushed"
    })
    .await;
    let id = s
        .created(
            "/Users",
            json!({
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": boss},
                "userName": "mei@corp.example",
                "name": {"givenName": "梅", "familyName": "王"},
                "emails": [{"value": "mei@corp.example", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": mobile(301), "type": "mobile"}],
                "title": "Sales",
            }),
        )
        .await;
    let (status, _) = s
        .scim(
            Method::PATCH,
            &format!("/Groups/{group}"),
            Some(
                json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let org =
        s.p.until(
            "the SCIM user is in DingTalk, in the group's department",
            |org| {
                org.users_with_mobile(&mobile(301))
                    .first()
                    .and_then(|u| u["userid"].as_str())
                    .is_some_and(|uid| org.dept_list(uid).len() == 2)
            },
        )
        .await;
    let user = org.users_with_mobile(&mobile(301))[0].clone();
    assert_eq!(user["name"], "王梅");
    let boss_userid = org.users_with_mobile(&mobile(302))[0]["userid"].clone();
    assert_eq!(user["manager_userid"], boss_userid);
    assert_eq!(user["title"], "Sales");
    let dept = org.depts_named("Field_Sales");
    assert_eq!(
        dept.len(),
        1,
        "the group's department, with DingTalk's name rules"
    );
    let mut want = vec![s.p.parent_dept, dept[0]["dept_id"].as_i64().unwrap()];
    want.sort_unstable();
    assert_eq!(org.dept_list(user["userid"].as_str().unwrap()), want);
    // The DingTalk ids show in the user's read-only extension once pushed.
    eventually(PATIENCE, "the push is settled", || async {
        s.scim(Method::GET, &format!("/Users/{id}"), None).await.1
            ["urn:dingbridge:params:scim:schemas:extension:2.0:DingTalk"]["connectors"][0]
            ["pushState"]
            == "pushed"
    })
    .await;
    let (_, read) = s.scim(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(
        read["urn:dingbridge:params:scim:schemas:extension:2.0:DingTalk"]["connectors"][0]["id"],
        user["userid"]
    );
    s.p.sys.stop().await;
}

pub async fn a_scim_user_without_a_usable_mobile_is_stored_and_its_push_parked(engine: Engine) {
    let s = Scim::start(engine).await;
    let none = s.created("/Users", json!({"userName": "nomobile"})).await;
    let odd = s
        .created(
            "/Users",
            json!({"userName": "oddmobile", "phoneNumbers": [{"value": "555-0100", "type": "mobile"}]}),
        )
        .await;
    for (id, says) in [
        (&none, "DingTalk requires a mobile number"),
        (&odd, "555-0100"),
    ] {
        eventually(PATIENCE, "the push is parked", || async {
            s.p.push_state(id).await.0 == "parked"
        })
        .await;
        let (_, account) = s.p.push_state(id).await;
        let reason = account["push"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(says), "{account}");
        let (status, read) = s.scim(Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(status, 200, "stored, and readable");
        assert_eq!(
            read["urn:dingbridge:params:scim:schemas:extension:2.0:DingTalk"]["connectors"][0]["pushState"],
            "parked"
        );
    }
    let (_, odd_read) = s.scim(Method::GET, &format!("/Users/{odd}"), None).await;
    assert_eq!(
        odd_read["phoneNumbers"],
        json!([{"value": "555-0100", "type": "mobile"}]),
        "kept as sent"
    );
    assert_eq!(s.p.org().await.users_with_prefix("db"), 0);
    s.p.sys.stop().await;
}

pub async fn a_group_tree_made_over_scim_becomes_departments_in_order(engine: Engine) {
    let s = Scim::start(engine).await;
    let top = s.created("/Groups", json!({"displayName": "Region"})).await;
    let second = s
        .created(
            "/Groups",
            json!({"displayName": "B team", ORG_UNIT: {"parent": top, "order": 2}}),
        )
        .await;
    let first = s
        .created(
            "/Groups",
            json!({"displayName": "A team", ORG_UNIT: {"parent": top, "order": 1}}),
        )
        .await;
    let leaf = s
        .created(
            "/Groups",
            json!({"displayName": "Leaf", ORG_UNIT: {"parent": second}}),
        )
        .await;
    let org =
        s.p.until("the tree is in DingTalk", |org| {
            ["Region", "A team", "B team", "Leaf"]
                .iter()
                .all(|n| org.depts_named(n).len() == 1)
        })
        .await;
    let dept = |n: &str| org.depts_named(n)[0].clone();
    let region = dept("Region")["dept_id"].as_i64().unwrap();
    assert_eq!(dept("Region")["parent_id"], s.p.parent_dept);
    assert_eq!(dept("A team")["parent_id"], region);
    assert_eq!(dept("B team")["parent_id"], region);
    assert_eq!(dept("Leaf")["parent_id"], dept("B team")["dept_id"]);
    assert_eq!(dept("A team")["order"], 1);
    assert_eq!(dept("B team")["order"], 2);
    // Moving a group by its parent moves the department.
    let (status, _) = s
        .scim(
            Method::PATCH,
            &format!("/Groups/{leaf}"),
            Some(json!({"Operations": [{"op": "replace", "path": format!("{ORG_UNIT}:parent"), "value": first}]})),
        )
        .await;
    assert_eq!(status, 200);
    s.p.until("the leaf moved", |org| {
        org.depts_named("Leaf")
            .first()
            .is_some_and(|d| d["parent_id"] == org.depts_named("A team")[0]["dept_id"])
    })
    .await;
    s.p.sys.stop().await;
}
