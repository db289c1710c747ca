//! Review mode: the staged snapshot, its verdicts, remove-invalid, confirm (org units then
//! accounts, or all), a second pull of an unchanged org, and runs superseded by newer ones.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::full_pull::support::{Engine, Options, json_str, world};

on_engines!(
    a_generated_org_is_reproduced_exactly_org_units_first,
    dirty_rows_are_flagged_removed_and_never_imported,
);

/// One import for the org units first and the exact copy: an import costs the most on moto.
async fn a_generated_org_is_reproduced_exactly_org_units_first(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let sim = w.sim_org().await;
    assert!(sim.depth() >= 6, "depth {}", sim.depth());
    let mut per_dept = std::collections::HashMap::<i64, usize>::new();
    for u in &sim.users {
        for d in u["dept_id_list"].as_array().unwrap() {
            *per_dept.entry(d.as_i64().unwrap()).or_default() += 1;
        }
    }
    assert!(
        per_dept.values().any(|n| *n > 100),
        "a department with > 100 users"
    );
    assert!(
        sim.users
            .iter()
            .any(|u| u["dept_id_list"].as_array().unwrap().len() > 1)
    );

    let id = w.pull().await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert!(
        run["review_reason"]
            .as_str()
            .is_some_and(|r| r.contains("review mode")),
        "a review-mode run says why it waits: {run}"
    );
    assert_eq!(run["partial"], false);
    assert_eq!(run["counters"]["users"], sim.users.len() as u64);
    assert_eq!(run["counters"]["departments"], sim.dept_paths.len() as u64);
    assert_eq!(run["counters"]["planned_creates"], sim.users.len() as u64);
    assert!(
        w.all(&format!("/runs/{id}/rows?filter=invalid"))
            .await
            .is_empty()
    );
    let tree = w.all(&format!("/runs/{id}/org-units")).await;
    assert_eq!(tree.len(), sim.dept_paths.len());
    // Nothing is written to the directory before the confirm.
    let dir = w.directory_state().await;
    assert!(dir.unit_paths.is_empty() && dir.accounts.is_empty());

    // Accounts are refused until their org units are in the directory.
    let (status, body) = w.confirm(&id, "accounts").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string().contains("not in the directory yet"),
        "{body}"
    );
    let (status, body) = w.confirm(&id, "org_units").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    let dir = w.directory_state().await;
    let expected: BTreeSet<String> = sim.dept_paths.values().cloned().collect();
    assert_eq!(dir.unit_paths, expected);
    assert!(dir.accounts.is_empty());
    for dept in sim.dept_paths.keys() {
        let d = dingbridge::dingtalk::DeptId::new(*dept as u64).unwrap();
        let unit = w.mappings.unit_of(&w.connector.id, d).await.unwrap();
        assert!(unit.is_some(), "department {dept} is mapped");
    }

    let (status, body) = w.confirm(&id, "accounts").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["counters"]["applied_creates"], sim.users.len() as u64);
    let dir = w.directory_state().await;
    assert_eq!(dir.unit_paths, expected);
    assert_eq!(dir.accounts.len(), sim.users.len());
    for u in &sim.users {
        let userid = u["userid"].as_str().unwrap();
        let a = &dir.accounts[&userid.to_lowercase()];
        assert_eq!(a.name, u["name"].as_str().unwrap());
        assert_eq!(a.mobile, json_str(&u["mobile"]));
        assert_eq!(a.email, json_str(&u["email"]).map(|e| e.to_lowercase()));
        assert_eq!(a.job_number, json_str(&u["job_number"]));
        assert_eq!(a.title, json_str(&u["title"]));
        assert!(a.enabled);
        assert_eq!(a.units, sim.user_paths(u), "{userid}");
        assert_eq!(
            w.mapped_account(userid).await.as_deref(),
            Some(a.id.as_str())
        );
    }

    // A second pull of the unchanged org plans nothing.
    let again = w.pull().await;
    let run = w.run(&again).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    for counter in [
        "planned_creates",
        "planned_updates",
        "planned_moves",
        "planned_disables",
        "planned_unit_creates",
        "planned_unit_updates",
        "planned_unit_removals",
        "invalid_rows",
    ] {
        assert_eq!(run["counters"][counter], 0, "{counter}: {run}");
    }
    for filter in ["create", "update", "disable", "invalid"] {
        assert!(
            w.all(&format!("/runs/{again}/rows?filter={filter}"))
                .await
                .is_empty()
        );
    }

    // A single row can be removed from a run under review; unknown rows are 404.
    let (status, _) = w
        .api(Method::DELETE, &format!("/runs/{again}/rows/U:nobody"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An older snapshot is not applied over a newer pull: the newer one superseded it.
    let newest = w.pull().await;
    let (status, body) = w.confirm(&again, "all").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains(&newest), "{body}");
    assert_eq!(w.run(&again).await["state"], "discarded");
    let (status, body) = w
        .api(Method::POST, &format!("/runs/{newest}/discard"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "discarded");
}

/// The users the simulator made dirty, with what the validator must say about each: a missing
/// email, an over-long name, or an email another user has too.
fn dirty(users: &[Value]) -> BTreeMap<String, &'static str> {
    let mut emails = std::collections::HashMap::<String, usize>::new();
    for u in users {
        if let Some(e) = json_str(&u["email"]) {
            *emails.entry(e.to_lowercase()).or_default() += 1;
        }
    }
    users
        .iter()
        .filter_map(|u| {
            let email = json_str(&u["email"]);
            let reason = if email.is_none() {
                "email"
            } else if u["name"].as_str().unwrap().chars().count() > 80 {
                "name"
            } else if email.is_some_and(|e| emails[&e.to_lowercase()] > 1) {
                "is also used by"
            } else {
                return None;
            };
            Some((u["userid"].as_str().unwrap().to_owned(), reason))
        })
        .collect()
}

async fn dirty_rows_are_flagged_removed_and_never_imported(engine: Engine) {
    let w = world(engine, engine.org(0.1), Options::default()).await;
    let sim = w.sim_org().await;
    let expected = dirty(&sim.users);
    let kinds: BTreeSet<&str> = expected.values().copied().collect();
    assert_eq!(kinds.len(), 3, "every kind of dirty row: {expected:?}");

    let id = w.pull().await;
    let invalid = w.all(&format!("/runs/{id}/rows?filter=invalid")).await;
    let flagged: BTreeSet<&str> = invalid.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(flagged, expected.keys().map(String::as_str).collect());
    for r in &invalid {
        let text = r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = expected[r["key"].as_str().unwrap()];
        assert!(text.contains(reason), "{r}: expected {reason:?}");
    }
    let run = w.run(&id).await;
    assert_eq!(run["counters"]["invalid_rows"], expected.len() as u64);

    let (status, body) = w
        .api(Method::POST, &format!("/runs/{id}/remove-invalid"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["removed"], expected.len() as u64);
    assert!(
        w.all(&format!("/runs/{id}/rows?filter=invalid"))
            .await
            .is_empty()
    );
    assert_eq!(w.run(&id).await["counters"]["invalid_rows"], 0);

    let (status, _) = w.confirm(&id, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done");
    assert_eq!(
        run["counters"]["removed_invalid"],
        expected.len() as u64,
        "the done run still says how many rows were skipped: {run}"
    );
    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), sim.users.len() - expected.len());
    for userid in expected.keys() {
        assert!(
            w.mapped_account(userid).await.is_none(),
            "{userid} imported"
        );
    }
}
