//! A department that fails to load makes the snapshot partial: nobody is disabled, whatever the
//! failure (60003, 50004, a 5xx that outlasts the retries).

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Options, fault, org, world};

async fn partial_pull_disables_nobody(spec: serde_json::Value) {
    let w = world(org(0.0), Options::default()).await;
    let first = w.pull().await;
    let (status, _) = w.confirm(&first, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(w.run(&first).await["state"], "done");

    // Some really leave, and one department fails to load in the next pull.
    let sim = w.sim_org().await;
    for u in sim.users.iter().take(5) {
        let userid = u["userid"].as_str().unwrap();
        w.sim_call(
            reqwest::Method::DELETE,
            &format!("/_sim/users/{userid}"),
            None,
        )
        .await;
    }
    w.fault(spec).await;
    let id = w.pull().await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["partial"], true, "{run}");
    assert!(
        !run["partial_reasons"].as_array().unwrap().is_empty(),
        "{run}"
    );
    assert_eq!(run["counters"]["planned_disables"], 0, "{run}");
    assert_eq!(run["counters"]["planned_unit_removals"], 0, "{run}");
    assert!(
        w.all(&format!("/runs/{id}/rows?filter=disable"))
            .await
            .is_empty()
    );

    let (status, _) = w.confirm(&id, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(w.run(&id).await["state"], "done");
    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), 1500);
    assert!(
        dir.accounts.values().all(|a| a.enabled),
        "a partial pull disabled someone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_not_found_makes_a_partial_snapshot() {
    partial_pull_disables_nobody(fault("/topapi/v2/user/list", 60003, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_out_of_scope_makes_a_partial_snapshot() {
    partial_pull_disables_nobody(fault("/topapi/v2/department/listsub", 50004, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_that_outlasts_the_retries_makes_a_partial_snapshot() {
    // The first listsub is the root's, alone in flight: its 2 client attempts × 3 walker
    // attempts all fail.
    partial_pull_disables_nobody(json!({
        "api": "/topapi/v2/department/listsub", "http_status": 500, "count": 6
    }))
    .await;
}
