//! The full pull end to end through the admin API (issue 5), on every engine pair: pull → review
//! (invalid rows flagged) → remove invalid → confirm → the directory holds the valid org; a second
//! pull of the unchanged org plans nothing. The deep cases (resume after a kill, partial
//! snapshots, the guard) are in `full_pull/`.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::system::{Engine, System, eventually};

const PATIENCE: Duration = Duration::from_secs(60);

async fn call(sys: &System, method: Method, path: &str) -> (u16, Value) {
    let response = sys
        .http
        .request(method, format!("{}{path}", sys.base))
        .bearer_auth(&sys.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn run_state(sys: &System, run: &str) -> Value {
    call(sys, Method::GET, &format!("/admin/api/runs/{run}"))
        .await
        .1
}

async fn pull_until_review(sys: &System) -> (String, Value) {
    let (status, started) = call(
        sys,
        Method::POST,
        &format!("/admin/api/connectors/{}/pull", sys.connector_id),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let run = started["id"].as_str().unwrap().to_owned();
    eventually(PATIENCE, "the pull reaches review", || async {
        run_state(sys, &run).await["state"] == "awaiting_review"
    })
    .await;
    let state = run_state(sys, &run).await;
    (run, state)
}

pub async fn a_full_pull_is_reviewed_confirmed_and_then_plans_nothing(engine: Engine) {
    let config = dingtalk_sim::SimConfig {
        dirty_share: 0.1,
        ..crate::system::sim_config()
    };
    let sys = System::start_with(engine, config, true).await;
    let org = sys.sim(Method::GET, "/_sim/org", json!(null)).await;
    let users = org["users"].as_array().unwrap().len() as u64;

    let (run, state) = pull_until_review(&sys).await;
    assert_eq!(state["partial"], false);
    assert_eq!(state["counters"]["users"], users);
    let invalid = state["counters"]["invalid_rows"].as_u64().unwrap();
    assert!(invalid > 0, "the dirty rows must be flagged: {state}");
    let (_, rows) = call(
        &sys,
        Method::GET,
        &format!("/admin/api/runs/{run}/rows?filter=invalid&limit=1000"),
    )
    .await;
    let flagged: Vec<&Value> = rows["items"].as_array().unwrap().iter().collect();
    assert!(
        flagged
            .iter()
            .all(|r| !r["reasons"].as_array().unwrap().is_empty()),
        "{rows}"
    );
    let invalid_users: HashSet<String> = flagged
        .iter()
        .filter(|r| r["kind"] == "user")
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();

    let (status, removed) = call(
        &sys,
        Method::POST,
        &format!("/admin/api/runs/{run}/remove-invalid"),
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    let (status, confirmed) = call(
        &sys,
        Method::POST,
        &format!("/admin/api/runs/{run}/confirm"),
    )
    .await;
    assert_eq!(status, 202, "{confirmed}");
    eventually(PATIENCE, "the confirmed run is applied", || async {
        run_state(&sys, &run).await["state"] == "done"
    })
    .await;

    // Every valid user is in the directory, mapped, with its name and all its departments.
    for u in org["users"].as_array().unwrap() {
        let userid = u["userid"].as_str().unwrap();
        let account = sys.account_of(userid).await;
        if invalid_users.contains(userid) {
            assert!(account.is_none(), "invalid user {userid} was imported");
            continue;
        }
        let account = account.unwrap_or_else(|| panic!("valid user {userid} is missing"));
        assert_eq!(
            account.display_name.as_str(),
            u["name"].as_str().unwrap().trim()
        );
        let depts = u["dept_id_list"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(account.memberships.len(), depts, "memberships of {userid}");
    }

    // Nothing changed in DingTalk: the second pull plans no change at all.
    let (_, again) = pull_until_review(&sys).await;
    let c = &again["counters"];
    for counter in [
        "planned_creates",
        "planned_updates",
        "planned_moves",
        "planned_disables",
    ] {
        assert_eq!(c[counter], 0, "{counter} on an unchanged org: {again}");
    }
    sys.stop().await;
}

mod embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pull_is_reviewed_confirmed_and_then_plans_nothing() {
        crate::pull::a_full_pull_is_reviewed_confirmed_and_then_plans_nothing(
            crate::system::Engine::Embedded,
        )
        .await;
    }
}

#[cfg(feature = "aws")]
mod aws {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pull_is_reviewed_confirmed_and_then_plans_nothing() {
        crate::pull::a_full_pull_is_reviewed_confirmed_and_then_plans_nothing(
            crate::system::Engine::Aws,
        )
        .await;
    }
}
