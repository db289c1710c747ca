//! A review is a snapshot: confirming it never moves the directory back behind a change that
//! reached it later (A→B staged, B→C applied by an event: the directory keeps C), and only one
//! run of a connector waits for review at a time (a newer pull supersedes the waiting one).

use axum::http::StatusCode;
use dingbridge::dingtalk::DingUserId;
use dingbridge::domain::directory::Origin;
use dingbridge::store::Actor;
use serde_json::json;

use crate::full_pull::support::{Engine, Options, World, small_org, world};

on_engines!(
    confirming_an_old_review_never_moves_an_account_back,
    a_second_pull_supersedes_the_run_waiting_for_review,
);

async fn title_of(w: &World, userid: &str) -> Option<String> {
    let dir = w.directory_state().await;
    dir.accounts[&userid.to_lowercase()].title.clone()
}

/// The sync worker's handling of a `user_modify_org` event: re-read DingTalk, reconcile.
async fn event_for(w: &World, userid: &str) {
    let target = w.deps.reconciler.target(&w.connector.id).await.unwrap();
    w.deps
        .reconciler
        .reconcile_user(
            &target,
            &DingUserId::parse(userid).unwrap(),
            &Actor::new(Origin::DingtalkEvent, "user_modify_org"),
        )
        .await
        .unwrap();
}

async fn confirming_an_old_review_never_moves_an_account_back(engine: Engine) {
    let w = world(engine, small_org(), Options::default()).await;
    let first = w.pull().await;
    let (status, body) = w.confirm(&first, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.run(&first).await["state"], "done");
    let sim = w.sim_org().await;
    let userid = sim.users[0]["userid"].as_str().unwrap().to_owned();
    let user_path = format!("/_sim/users/{userid}");

    // A → B in DingTalk, and no event reaches us (this world registers no callback).
    w.sim_call(
        reqwest::Method::PATCH,
        &user_path,
        Some(json!({"title": "B"})),
    )
    .await;
    let stale = w.pull().await;
    let run = w.run(&stale).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["counters"]["planned_updates"], 1, "{run}");
    let rows = w.all(&format!("/runs/{stale}/rows?filter=update")).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["key"], userid.as_str());
    assert_eq!(rows[0]["body"]["title"], "B", "{rows:?}");

    // B → C, and this time the event arrives and is applied.
    w.sim_call(
        reqwest::Method::PATCH,
        &user_path,
        Some(json!({"title": "C"})),
    )
    .await;
    event_for(&w, &userid).await;
    assert_eq!(title_of(&w, &userid).await.as_deref(), Some("C"));

    // Confirming the old review keeps C (what DingTalk says), and says why.
    let (status, body) = w.confirm(&stale, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = w.run(&stale).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(title_of(&w, &userid).await.as_deref(), Some("C"));
    assert_eq!(run["counters"]["changed_since_snapshot"], 1, "{run}");
    assert_eq!(run["counters"]["reread_rows"], 1, "{run}");
    assert_eq!(run["counters"]["applied_updates"], 1, "{run}");
}

async fn a_second_pull_supersedes_the_run_waiting_for_review(engine: Engine) {
    let w = world(engine, small_org(), Options::default()).await;
    let older = w.pull().await;
    let run = w.run(&older).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    let reason = run["review_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("review mode"), "{run}");

    // The start answer names the run it will supersede.
    let (status, started) = w.request_pull().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["supersedes"], older.as_str(), "{started}");
    assert!(
        started["note"].as_str().is_some_and(|n| n.contains(&older)),
        "{started}"
    );
    let newer = started["id"].as_str().unwrap().to_owned();
    w.drain(1000).await;
    assert_eq!(w.run(&newer).await["state"], "awaiting_review");

    let old = w.run(&older).await;
    assert_eq!(old["state"], "discarded", "{old}");
    assert_eq!(old["superseded_by"], newer.as_str(), "{old}");
    assert!(old["errors"].to_string().contains("superseded"), "{old}");
    assert!(w.all(&format!("/runs/{older}/rows")).await.is_empty());
    let (status, body) = w.confirm(&older, "all").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains(&newer), "{body}");

    let runs = w
        .all(&format!("/runs?connector_id={}", w.connector.id))
        .await;
    let waiting: Vec<&str> = runs
        .iter()
        .filter(|r| r["state"] == "awaiting_review")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, [newer.as_str()], "one run waits for review");
    let (status, body) = w.confirm(&newer, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.run(&newer).await["state"], "done");
}
