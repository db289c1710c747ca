//! The outbound push through the whole local system, as `cargo run` wires it: directory writes
//! through the admin API reach the simulated DingTalk over HTTP via the outbox, the push queue and
//! the push worker, with the DingTalk ids written back into the mappings.

use std::time::Duration;

use dingtalk_sim::{SimConfig, testkit};
use serde_json::{Value, json};

use dingbridge_local::{Options, start};

struct Local {
    base: String,
    token: String,
    sim_base: String,
    http: reqwest::Client,
}

impl Local {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn sim_org(&self) -> Value {
        self.http
            .get(format!("{}/_sim/org", self.sim_base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the simulated org until `done` holds (bounded: the push is asynchronous).
    async fn until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let org = self.sim_org().await;
            if done(&org) {
                return org;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {org}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn dept_named<'a>(org: &'a Value, name: &str) -> Option<&'a Value> {
    org["depts"].as_array()?.iter().find(|d| d["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subtree_and_its_accounts_built_in_the_admin_api_appear_in_dingtalk() {
    let sim = testkit::start_sim(SimConfig {
        users: 0,
        depts: 0,
        qps_per_api: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    options.admin_token = Some(format!("e2e-{}", uuid::Uuid::new_v4().simple()));
    let running = start(options.clone()).await.unwrap();
    let local = Local {
        base: format!("http://{}", running.addr),
        token: options.admin_token.clone().unwrap(),
        sim_base: sim.base.clone(),
        http: reqwest::Client::new(),
    };
    use reqwest::Method;

    let units = local.call(Method::GET, "/admin/api/org-units", None).await;
    let root = units["items"][0]["id"].as_str().unwrap().to_owned();
    let made = |name: &str, parent: &str| json!({"name": name, "parent_id": parent});
    let pushed = local
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(made("Pushed", &root)),
        )
        .await;
    let mut input = testkit::connector_json(&sim.handle.apps()[0], &sim.base, "Push");
    input["register_callback"] = json!(false);
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = pushed["id"].clone();
    local
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;

    // Four levels below the push root, an account in the deepest and one in two units.
    let mut parent = pushed["id"].as_str().unwrap().to_owned();
    let mut chain = Vec::new();
    for level in 1..=4 {
        let unit = local
            .call(
                Method::POST,
                "/admin/api/org-units",
                Some(made(&format!("Level {level}"), &parent)),
            )
            .await;
        parent = unit["id"].as_str().unwrap().to_owned();
        chain.push(unit);
    }
    let lin = local
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({
                "username": "lin.tao", "display_name": "林涛", "mobile": "13900000001",
                "email": "lin.tao@example.com", "title": "SRE",
                "org_unit_ids": [chain[3]["id"], chain[1]["id"]]
            })),
        )
        .await;

    let org = local
        .until("the subtree and the account reach DingTalk", |org| {
            (1..=4).all(|l| dept_named(org, &format!("Level {l}")).is_some())
                && org["users"].as_array().is_some_and(|u| !u.is_empty())
        })
        .await;
    // The push root stands for DingTalk's root: Level 1 is created under department 1.
    assert_eq!(dept_named(&org, "Level 1").unwrap()["parent_id"], 1);
    assert!(
        dept_named(&org, "Pushed").is_none(),
        "the push root is never created"
    );
    for l in 2..=4 {
        let parent_id = &dept_named(&org, &format!("Level {}", l - 1)).unwrap()["dept_id"];
        assert_eq!(
            &dept_named(&org, &format!("Level {l}")).unwrap()["parent_id"],
            parent_id
        );
    }
    let user = &org["users"][0];
    assert_eq!(
        (&user["name"], &user["mobile"], &user["title"]),
        (&json!("林涛"), &json!("13900000001"), &json!("SRE"))
    );
    let mut depts: Vec<i64> = user["dept_id_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect();
    depts.sort_unstable();
    let mut want = vec![
        dept_named(&org, "Level 4").unwrap()["dept_id"]
            .as_i64()
            .unwrap(),
        dept_named(&org, "Level 2").unwrap()["dept_id"]
            .as_i64()
            .unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(depts, want);

    // The DingTalk ids are written back, and the push state says pushed.
    let id = lin["id"].as_str().unwrap();
    let account = local.until_account_pushed(id).await;
    assert_eq!(account["mappings"][0]["external_id"], user["userid"]);

    // A rename follows.
    let level2 = chain[1]["id"].as_str().unwrap();
    local
        .call(
            Method::PATCH,
            &format!("/admin/api/org-units/{level2}"),
            Some(json!({"name": "Level Two"})),
        )
        .await;
    local
        .until("the rename reaches DingTalk", |org| {
            dept_named(org, "Level Two").is_some() && dept_named(org, "Level 2").is_none()
        })
        .await;
    running.shutdown().await.unwrap();
}

impl Local {
    /// Polls the account until its push to the one connector says `pushed`.
    async fn until_account_pushed(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let account = self
                .call(
                    reqwest::Method::GET,
                    &format!("/admin/api/accounts/{id}"),
                    None,
                )
                .await;
            if account["push"][0]["state"] == "pushed" {
                return account;
            }
            assert!(tokio::time::Instant::now() < deadline, "{account}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
