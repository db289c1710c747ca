//! Kills: a pull that runs out of time continues from its checkpoint, a step killed mid-walk or
//! mid-apply is redelivered and resumes; either way the directory converges, with no duplicates.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use dingbridge::ports::QueueConsumer;
use dingbridge::store::mappings::MappedKind;
use dingbridge::worker::BatchHandler;

use crate::support::{Options, World, org, world};

/// Delivers one message and kills its handler after `after` (the future is dropped, as a
/// crashed Lambda would be); the message becomes visible again, as after a visibility timeout.
async fn kill_one_step(w: &World, after: Duration) -> bool {
    let batch = w.queue.receive(1, Duration::from_secs(600)).await.unwrap();
    let Some(m) = batch.into_iter().next() else {
        return false;
    };
    let receipt = m.receipt.clone();
    let finished = tokio::time::timeout(after, w.deps.handle(vec![m]))
        .await
        .is_ok();
    w.queue.release(&receipt, Duration::ZERO).await.unwrap();
    !finished
}

async fn user_mappings(w: &World) -> usize {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = w
            .mappings
            .of_connector(&w.connector.id, MappedKind::User, 1000, cursor)
            .await
            .unwrap();
        n += page.items.len();
        cursor = page.next;
        if cursor.is_none() {
            return n;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_killed_mid_walk_and_mid_apply_converges_without_duplicates() {
    let w = world(
        org(0.0),
        Options {
            budget: Duration::from_millis(300),
            checkpoint_every: 10,
            ..Options::default()
        },
    )
    .await;
    let (status, body) = w
        .api(
            Method::POST,
            &format!("/connectors/{}/pull", w.connector.id),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    // A second start while the first is running is refused.
    let (status, _) = w
        .api(
            Method::POST,
            &format!("/connectors/{}/pull", w.connector.id),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert!(
        kill_one_step(&w, Duration::from_millis(150)).await,
        "the first step was killed"
    );
    let steps = w.drain(10_000).await;
    assert!(
        steps > 2,
        "the tiny budget made the walk continue ({steps} steps)"
    );
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["counters"]["users"], 1500);
    let rows = w.all(&format!("/runs/{id}/rows")).await;
    assert_eq!(rows.len(), 1500, "one row per user");

    let (status, _) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        kill_one_step(&w, Duration::from_millis(200)).await,
        "the apply was killed"
    );
    w.drain(10_000).await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");

    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), 1500);
    assert_eq!(dir.unit_paths.len(), w.sim_org().await.dept_paths.len());
    assert_eq!(user_mappings(&w).await, 1500);
}
