//! A department that fails to load makes the snapshot partial: nobody is disabled, whatever the
//! failure (60003, 50004, a 5xx that outlasts the retries).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::full_pull::support::{Engine, Options, fault, world};

on_engines!(a_partial_snapshot_disables_nobody_whatever_failed);

/// One world for the three failures, one pull each: an import costs the most on moto.
async fn a_partial_snapshot_disables_nobody_whatever_failed(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let first = w.pull().await;
    let (status, _) = w.confirm(&first, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(w.run(&first).await["state"], "done");

    // Some really leave; each of the next pulls has one department that fails to load.
    let sim = w.sim_org().await;
    let leavers = 5;
    for u in sim.users.iter().take(leavers) {
        let userid = u["userid"].as_str().unwrap();
        w.sim_call(
            reqwest::Method::DELETE,
            &format!("/_sim/users/{userid}"),
            None,
        )
        .await;
    }
    let failures: [(&str, Value); 3] = [
        (
            "a department not found",
            fault("/topapi/v2/user/list", 60003, 1),
        ),
        (
            "a department out of scope",
            fault("/topapi/v2/department/listsub", 50004, 1),
        ),
        // The first listsub is the root's, alone in flight: its 2 client attempts × 3 walker
        // attempts all fail.
        (
            "a server error that outlasts the retries",
            json!({ "api": "/topapi/v2/department/listsub", "http_status": 500, "count": 6 }),
        ),
    ];
    for (failure, spec) in failures {
        w.fault(spec).await;
        let id = w.pull().await;
        let run = w.run(&id).await;
        assert_eq!(run["state"], "awaiting_review", "{failure}: {run}");
        assert_eq!(run["partial"], true, "{failure}: {run}");
        assert!(
            !run["partial_reasons"].as_array().unwrap().is_empty(),
            "{failure}: {run}"
        );
        assert_eq!(run["counters"]["planned_disables"], 0, "{failure}: {run}");
        assert_eq!(
            run["counters"]["planned_unit_removals"], 0,
            "{failure}: {run}"
        );
        assert!(
            w.all(&format!("/runs/{id}/rows?filter=disable"))
                .await
                .is_empty(),
            "{failure}"
        );

        let (status, _) = w.confirm(&id, "all").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{failure}");
        assert_eq!(w.run(&id).await["state"], "done", "{failure}");
        let dir = w.directory_state().await;
        assert_eq!(dir.accounts.len(), sim.users.len(), "{failure}");
        assert!(
            dir.accounts.values().all(|a| a.enabled),
            "{failure}: a partial pull disabled someone"
        );
    }

    // A complete snapshot does disable the leavers: the partial ones held back.
    let id = w.pull().await;
    let run = w.run(&id).await;
    assert_eq!(run["partial"], false, "{run}");
    assert_eq!(run["counters"]["planned_disables"], leavers as u64, "{run}");
}
