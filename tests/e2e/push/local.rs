//! The outbound push through the whole local system, as `cargo run` wires it: directory writes
//! through the admin API reach the simulated DingTalk over HTTP via the outbox, the push queue and
//! the push worker, with the DingTalk ids written back into the mappings.

use std::time::Duration;

use dingtalk_sim::{SimConfig, testkit};
use serde_json::{Value, json};

use dingbridge_local::{Options, Running, start};

struct Local {
    base: String,
    token: String,
    sim_base: String,
    http: reqwest::Client,
}

impl Local {
    /// The local system as `cargo run` wires it, beside an empty simulated corp without limits;
    /// the temporary data directory lives as long as the returned guard.
    async fn start() -> (Self, Running, testkit::Sim, tempfile::TempDir) {
        Self::start_with(true, 0).await
    }

    /// [`Local::start`], with or without the queue consumers, and `latency_ms` per DingTalk call.
    async fn start_with(
        run_workers: bool,
        latency_ms: u64,
    ) -> (Self, Running, testkit::Sim, tempfile::TempDir) {
        let sim = testkit::start_sim(SimConfig {
            users: 0,
            depts: 0,
            qps_per_api: 0,
            latency_ms,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
        options.admin_token = Some(format!("e2e-{}", uuid::Uuid::new_v4().simple()));
        options.run_workers = run_workers;
        let running = start(options.clone()).await.unwrap();
        let local = Self {
            base: format!("http://{}", running.addr),
            token: options.admin_token.clone().unwrap(),
            sim_base: sim.base.clone(),
            http: reqwest::Client::new(),
        };
        (local, running, sim, dir)
    }

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

    /// A change made in the simulated DingTalk's own console (its control API).
    async fn sim_call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.sim_base))
            .json(&body)
            .send()
            .await
            .unwrap();
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
    let (local, running, sim, _dir) = Local::start().await;
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
    assert!(
        account["push"][0]["since_ms"].is_i64(),
        "pushed at: {account}"
    );

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

impl Local {
    /// Polls run `id` until `done` holds for it.
    async fn until_run(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let run = self
                .call(reqwest::Method::GET, &format!("/admin/api/runs/{id}"), None)
                .await;
            if done(&run) {
                return run;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts an initial push of `connector` and waits until its plan awaits review.
    async fn planned_push(&self, connector: &str) -> Value {
        let started = self
            .call(
                reqwest::Method::POST,
                &format!("/admin/api/connectors/{connector}/push"),
                None,
            )
            .await;
        assert_eq!(started["kind"], "push", "{started}");
        let id = started["id"].as_str().unwrap().to_owned();
        self.until_run(&id, "the push plan awaits review", |r| {
            r["state"] == "awaiting_review"
        })
        .await
    }
}

/// A subtree built before the push was enabled reaches DingTalk through the initial push: planned
/// (with the account that has no mobile blocked, and why), confirmed, applied parents first; a
/// second initial push then plans nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_subtree_is_planned_confirmed_pushed_and_then_plans_nothing() {
    use reqwest::Method;
    let (local, running, sim, _dir) = Local::start().await;
    let units = local.call(Method::GET, "/admin/api/org-units", None).await;
    let root = units["items"][0]["id"].as_str().unwrap().to_owned();
    let unit = |name: String, parent: String| {
        let local = &local;
        async move {
            let made = local
                .call(
                    Method::POST,
                    "/admin/api/org-units",
                    Some(json!({"name": name, "parent_id": parent})),
                )
                .await;
            made["id"].as_str().unwrap().to_owned()
        }
    };
    // Before any connector pushes: a root with two branches of three levels, two accounts per
    // leaf, one account in two branches, and one account with no mobile.
    let pushed = unit("Existing".into(), root.clone()).await;
    let mut leaves = Vec::new();
    for branch in ["A", "B"] {
        let mut parent = pushed.clone();
        for level in 1..=3 {
            parent = unit(format!("{branch}{level}"), parent).await;
        }
        leaves.push(parent);
    }
    let mut n = 0;
    for leaf in &leaves {
        for _ in 0..2 {
            n += 1;
            local
                .call(
                    Method::POST,
                    "/admin/api/accounts",
                    Some(json!({
                        "username": format!("user{n}"), "display_name": format!("User {n}"),
                        "mobile": format!("1390000{n:04}"), "org_unit_ids": [leaf]
                    })),
                )
                .await;
        }
    }
    let both_id = local
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({
                "username": "both", "display_name": "Both", "mobile": "13900009999",
                "org_unit_ids": [leaves[0], leaves[1]]
            })),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    local
        .call(
            Method::POST,
            "/admin/api/accounts",
            Some(json!({"username": "nomobile", "display_name": "No Mobile",
                        "org_unit_ids": [leaves[0]]})),
        )
        .await;
    let mut input = testkit::connector_json(&sim.handle.apps()[0], &sim.base, "Push");
    input["register_callback"] = json!(false);
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = json!(pushed);
    let connector = local
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    let connector = connector["id"].as_str().unwrap().to_owned();

    let plan = local.planned_push(&connector).await;
    let c = &plan["counters"];
    assert_eq!(
        (
            &c["departments"],
            &c["users"],
            &c["planned_unit_creates"],
            &c["planned_creates"],
            &c["invalid_rows"]
        ),
        (&json!(6), &json!(6), &json!(6), &json!(5), &json!(1)),
        "{plan}"
    );
    assert!(
        local.sim_org().await["users"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a plan writes nothing to DingTalk"
    );
    let run = plan["id"].as_str().unwrap().to_owned();
    let blocked = local
        .call(
            Method::GET,
            &format!("/admin/api/runs/{run}/rows?filter=invalid"),
            None,
        )
        .await;
    assert_eq!(
        blocked["items"][0]["body"]["name"], "No Mobile",
        "{blocked}"
    );
    assert!(
        blocked["items"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("mobile"),
        "{blocked}"
    );
    let creates = local
        .call(
            Method::GET,
            &format!("/admin/api/runs/{run}/org-units?filter=create"),
            None,
        )
        .await;
    assert_eq!(creates["items"].as_array().unwrap().len(), 6, "{creates}");

    local
        .call(
            Method::POST,
            &format!("/admin/api/runs/{run}/confirm"),
            None,
        )
        .await;
    let done = local
        .until_run(&run, "the push applies", |r| {
            matches!(r["state"].as_str(), Some("done" | "failed"))
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        (
            &done["counters"]["applied_units"],
            &done["counters"]["applied_creates"],
            &done["counters"]["apply_failures"]
        ),
        (&json!(6), &json!(5), &json!(0)),
        "{done}"
    );
    let org = local.sim_org().await;
    for branch in ["A", "B"] {
        assert_eq!(
            dept_named(&org, &format!("{branch}1")).unwrap()["parent_id"],
            1
        );
        for level in 2..=3 {
            let parent = &dept_named(&org, &format!("{branch}{}", level - 1)).unwrap()["dept_id"];
            assert_eq!(
                &dept_named(&org, &format!("{branch}{level}")).unwrap()["parent_id"],
                parent
            );
        }
    }
    let users = org["users"].as_array().unwrap();
    assert_eq!(users.len(), 5, "{org}");
    let both = users.iter().find(|u| u["name"] == "Both").unwrap();
    assert_eq!(both["dept_id_list"].as_array().unwrap().len(), 2, "{both}");

    // DingTalk now matches: a second initial push plans nothing (the blocked account stays
    // blocked, with its reason).
    let again = local.planned_push(&connector).await;
    let c = &again["counters"];
    for planned in [
        "planned_unit_creates",
        "planned_unit_updates",
        "planned_creates",
        "planned_updates",
        "planned_disables",
    ] {
        assert_eq!(c[planned], 0, "{planned}: {again}");
    }
    assert_eq!(c["invalid_rows"], 1, "{again}");
    let again = again["id"].as_str().unwrap().to_owned();
    local
        .call(
            Method::POST,
            &format!("/admin/api/runs/{again}/discard"),
            None,
        )
        .await;

    // The DingTalk ids are written back, the user's with its unionid.
    let account = local
        .call(Method::GET, &format!("/admin/api/accounts/{both_id}"), None)
        .await;
    assert_eq!(
        account["mappings"][0]["external_id"], both["userid"],
        "{account}"
    );
    assert!(account["mappings"][0]["unionid"].is_string(), "{account}");

    // Drift made in DingTalk behind our back is planned back and repaired by a re-sync in auto
    // mode: a user renamed and a department renamed in DingTalk's own console.
    let userid = both["userid"].as_str().unwrap();
    local
        .sim_call(
            Method::PATCH,
            &format!("/_sim/users/{userid}"),
            json!({"name": "Renamed"}),
        )
        .await;
    let a2 = dept_named(&org, "A2").unwrap()["dept_id"].as_i64().unwrap();
    local
        .sim_call(
            Method::PATCH,
            &format!("/_sim/depts/{a2}"),
            json!({"name": "Drifted"}),
        )
        .await;
    let resync = local
        .call(
            Method::POST,
            &format!("/admin/api/connectors/{connector}/push"),
            Some(json!({"mode": "auto"})),
        )
        .await;
    let resync = resync["id"].as_str().unwrap().to_owned();
    let done = local
        .until_run(&resync, "the re-sync applies", |r| {
            matches!(
                r["state"].as_str(),
                Some("done" | "failed" | "awaiting_review")
            )
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let c = &done["counters"];
    assert_eq!(
        (
            &c["planned_updates"],
            &c["planned_unit_updates"],
            &c["applied_updates"],
            &c["applied_units"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1)),
        "{done}"
    );
    let org = local.sim_org().await;
    assert!(dept_named(&org, "A2").is_some() && dept_named(&org, "Drifted").is_none());
    let user = org["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userid"] == userid)
        .unwrap();
    assert_eq!(user["name"], "Both");
    running.shutdown().await.unwrap();
}

/// An initial push cut short again and again (a deadline every 40 ms, as Lambda's 15 minutes
/// cut a long one) resumes where it stopped each time, and ends with every entity in DingTalk
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_push_cut_short_resumes_without_duplicates() {
    use dingbridge::domain::sync::ApplyScope;
    use dingbridge::store::runs::RunId;
    use reqwest::Method;
    let (local, running, sim, _dir) = Local::start_with(false, 15).await;
    let units = local.call(Method::GET, "/admin/api/org-units", None).await;
    let root = units["items"][0]["id"].as_str().unwrap().to_owned();
    let new_unit = |name: &str, parent: &str| json!({"name": name, "parent_id": parent});
    let pushed = local
        .call(
            Method::POST,
            "/admin/api/org-units",
            Some(new_unit("Resumed", &root)),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut parents = vec![pushed.clone()];
    let mut all = Vec::new();
    for level in 1..=3 {
        let mut next = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            for j in 0..2 {
                let made = local
                    .call(
                        Method::POST,
                        "/admin/api/org-units",
                        Some(new_unit(&format!("R{level} {i} {j}"), parent)),
                    )
                    .await;
                next.push(made["id"].as_str().unwrap().to_owned());
            }
        }
        all.extend(next.iter().cloned());
        parents = next;
    }
    for (n, unit) in all.iter().enumerate() {
        local
            .call(
                Method::POST,
                "/admin/api/accounts",
                Some(
                    json!({"username": format!("r{n}"), "display_name": format!("R {n}"),
                            "mobile": format!("1370000{n:04}"), "org_unit_ids": [unit]}),
                ),
            )
            .await;
    }
    let mut input = testkit::connector_json(&sim.handle.apps()[0], &sim.base, "Push");
    input["register_callback"] = json!(false);
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = json!(pushed);
    let connector = local
        .call(Method::POST, "/admin/api/connectors", Some(input))
        .await;
    let started = local
        .call(
            Method::POST,
            &format!(
                "/admin/api/connectors/{}/push",
                connector["id"].as_str().unwrap()
            ),
            Some(json!({"mode": "auto"})),
        )
        .await;
    let run = RunId::parse(started["id"].as_str().unwrap()).unwrap();

    let deps = dingbridge_local::full_pull(&running.engines);
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 500, "the push never finished");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(40);
        match full_pull::run_once(&deps, &run, ApplyScope::All, deadline).await {
            Ok(full_pull::Progress::Done) => break,
            Ok(full_pull::Progress::Continued) => {}
            other => panic!("step {steps}: {other:?}"),
        }
    }
    assert!(steps > 2, "the deadlines cut the push: {steps} steps");
    let done = local
        .call(Method::GET, &format!("/admin/api/runs/{run}"), None)
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let c = &done["counters"];
    assert_eq!(
        (
            &c["applied_units"],
            &c["applied_creates"],
            &c["apply_failures"]
        ),
        (&json!(14), &json!(14), &json!(0)),
        "every row applied once, however often the push stopped: {done}"
    );
    let org = local.sim_org().await;
    let users = org["users"].as_array().unwrap();
    let mut mobiles: Vec<&str> = users
        .iter()
        .map(|u| u["mobile"].as_str().unwrap())
        .collect();
    mobiles.sort_unstable();
    mobiles.dedup();
    assert_eq!((users.len(), mobiles.len()), (14, 14), "{org}");
    // 14 departments of ours and DingTalk's root.
    assert_eq!(org["depts"].as_array().unwrap().len(), 15, "{org}");
    running.shutdown().await.unwrap();
}
