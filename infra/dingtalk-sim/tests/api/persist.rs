//! `SimConfig::state_file`: a restarted simulator serves the org it served before, changes
//! included, with the credentials of the seed the org was made with.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{config, env};

fn ids(org: &Value, list: &str, id: &str) -> Vec<String> {
    let mut ids: Vec<String> = org[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[id].to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_restart_on_the_state_file_serves_the_changed_org_with_the_same_apps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org.json");
    let cfg = dingtalk_sim::SimConfig {
        users: 20,
        depts: 4,
        state_file: Some(file.clone()),
        ..config()
    };
    let first = env(cfg.clone()).await;
    assert!(!first.sim.restored());
    let (status, made) = first
        .control(
            Method::POST,
            "/_sim/depts",
            json!({ "name": "Kept", "parent_id": 1 }),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let (status, user) = first
        .control(
            Method::POST,
            "/_sim/users",
            json!({ "name": "留下", "mobile": "13900001111", "dept_id_list": [made["dept_id"]] }),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    let before = first.get("/_sim/org").await;
    let apps = first.sim.apps();
    drop(first);

    // Another seed in the configuration: the saved org keeps its own.
    let second = env(dingtalk_sim::SimConfig { seed: 99, ..cfg }).await;
    assert!(second.sim.restored());
    assert_eq!(second.sim.apps(), apps);
    let after = second.get("/_sim/org").await;
    assert_eq!(
        ids(&after, "depts", "dept_id"),
        ids(&before, "depts", "dept_id")
    );
    assert_eq!(
        ids(&after, "users", "userid"),
        ids(&before, "users", "userid")
    );
    let token = second.token().await;
    let read = second
        .post(
            "/topapi/v2/user/get",
            &token,
            json!({ "userid": user["userid"] }),
        )
        .await;
    assert_eq!(read["result"]["name"], "留下", "{read}");
    // New ids continue after the saved ones.
    let (_, next) = second
        .control(
            Method::POST,
            "/_sim/depts",
            json!({ "name": "Next", "parent_id": 1 }),
        )
        .await;
    assert!(next["dept_id"].as_i64().unwrap() > made["dept_id"].as_i64().unwrap());
}
