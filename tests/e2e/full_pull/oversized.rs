//! No DingTalk value can make a staged row outgrow the table's item limit: an oversized field
//! is clipped and its row is invalid with a reason naming the field, never a failed step.

use axum::http::StatusCode;
use serde_json::json;

use crate::full_pull::support::{Engine, Options, small_org, world};

on_engines!(a_user_with_a_huge_field_is_an_invalid_row_not_a_failed_pull);

async fn a_user_with_a_huge_field_is_an_invalid_row_not_a_failed_pull(engine: Engine) {
    let w = world(engine, small_org(), Options::default()).await;
    let sim = w.sim_org().await;
    let userid = sim.users[0]["userid"].as_str().unwrap().to_owned();
    // 300,000 characters, 900 KB in UTF-8: more than twice DynamoDB's 400 KB item.
    let title = "职".repeat(300_000);
    w.sim_call(
        reqwest::Method::PATCH,
        &format!("/_sim/users/{userid}"),
        Some(json!({ "title": title })),
    )
    .await;

    let id = w.pull().await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["counters"]["users"], sim.users.len() as u64, "{run}");
    let invalid = w.all(&format!("/runs/{id}/rows?filter=invalid")).await;
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0]["key"], userid.as_str());
    let reasons = invalid[0]["reasons"].to_string();
    assert!(
        reasons.contains("title has 300000 characters in DingTalk"),
        "{reasons}"
    );

    // The others are imported; the oversized one is not.
    let (status, body) = w.confirm(&id, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.run(&id).await["state"], "done");
    assert_eq!(
        w.directory_state().await.accounts.len(),
        sim.users.len() - 1
    );
    assert!(w.mapped_account(&userid).await.is_none());
}
