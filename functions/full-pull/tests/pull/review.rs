//! Review mode: the staged snapshot, its verdicts, remove-invalid, confirm (all, or org units
//! then accounts), and a second pull of an unchanged org.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::{Options, json_str, org, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_org_is_reproduced_exactly_after_confirm() {
    let w = world(org(0.0), Options::default()).await;
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
    assert!(w.directory_state().await.accounts.is_empty());

    let (status, body) = w.confirm(&id, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["counters"]["applied_creates"], sim.users.len() as u64);

    let dir = w.directory_state().await;
    let expected: BTreeSet<String> = sim.dept_paths.values().cloned().collect();
    assert_eq!(dir.unit_paths, expected);
    for dept in sim.dept_paths.keys() {
        let d = dingbridge::dingtalk::DeptId::new(*dept as u64).unwrap();
        let unit = w.mappings.unit_of(&w.connector.id, d).await.unwrap();
        assert!(unit.is_some(), "department {dept} is mapped");
    }
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
}

/// The users the simulator made dirty, by what the validator must say about them.
fn dirty(users: &[Value]) -> BTreeSet<String> {
    let mut emails = std::collections::HashMap::<String, usize>::new();
    for u in users {
        if let Some(e) = json_str(&u["email"]) {
            *emails.entry(e.to_lowercase()).or_default() += 1;
        }
    }
    users
        .iter()
        .filter(|u| {
            let email = json_str(&u["email"]);
            email.is_none()
                || email.is_some_and(|e| emails[&e.to_lowercase()] > 1)
                || u["name"].as_str().unwrap().chars().count() > 80
        })
        .map(|u| u["userid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_rows_are_flagged_removed_and_never_imported() {
    let w = world(org(0.05), Options::default()).await;
    let sim = w.sim_org().await;
    let expected = dirty(&sim.users);
    assert!(expected.len() > 20, "{}", expected.len());

    let id = w.pull().await;
    let invalid = w.all(&format!("/runs/{id}/rows?filter=invalid")).await;
    let flagged: BTreeSet<String> = invalid
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(flagged, expected);
    for r in &invalid {
        let reasons = r["reasons"].as_array().unwrap();
        assert!(!reasons.is_empty(), "{r}");
        let text = reasons
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("; ");
        let u = sim.users.iter().find(|u| u["userid"] == r["key"]).unwrap();
        if json_str(&u["email"]).is_none() {
            assert!(text.contains("email"), "{text}");
        } else if u["name"].as_str().unwrap().chars().count() > 80 {
            assert!(text.contains("name"), "{text}");
        } else {
            assert!(text.contains("is also used by"), "{text}");
        }
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
    assert_eq!(w.run(&id).await["state"], "done");
    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), sim.users.len() - expected.len());
    for userid in &expected {
        assert!(
            w.mapped_account(userid).await.is_none(),
            "{userid} imported"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_units_are_confirmed_before_accounts() {
    let w = world(org(0.0), Options::default()).await;
    let id = w.pull().await;

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
    assert_eq!(dir.unit_paths.len(), w.sim_org().await.dept_paths.len());
    assert!(dir.accounts.is_empty());

    let (status, body) = w.confirm(&id, "accounts").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.run(&id).await["state"], "done");
    assert_eq!(w.directory_state().await.accounts.len(), 1500);

    // A single row can be removed from a later run under review; unknown rows are 404.
    let again = w.pull().await;
    let (status, _) = w
        .api(Method::DELETE, &format!("/runs/{again}/rows/U:nobody"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An older snapshot is not applied over a newer pull.
    let newest = w.pull().await;
    let (status, body) = w.confirm(&again, "all").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains(&newest), "{body}");
    for run in [&again, &newest] {
        let (status, body) = w.api(Method::POST, &format!("/runs/{run}/discard")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "discarded");
    }
}
