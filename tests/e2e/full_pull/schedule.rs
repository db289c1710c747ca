//! The EventBridge tick: a connector whose schedule came due since its last run gets one pull;
//! a connector whose pull is still running is skipped. On both engines: beside the cron timing,
//! the pull lock is a conditional write in the table and the tick enqueues on the pull queue.

use serde_json::json;

use crate::full_pull::support::{Engine, Options, world};

on_engines!(a_due_schedule_starts_one_pull_and_a_running_one_is_not_doubled);

const DAY_MS: i64 = 86_400_000;

async fn a_due_schedule_starts_one_pull_and_a_running_one_is_not_doubled(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let now = w.connector.created_ms;
    // The default schedule (02:00 Beijing, daily) is not due within the hour of creation…
    assert!(
        full_pull::start_due_pulls(&w.deps, now + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    // …and is due two days later: one pull, however many occurrences were missed.
    let started = full_pull::start_due_pulls(&w.deps, now + 2 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(started.len(), 1);
    // Due again by then (its last run started before the next occurrence), but the first is
    // still pulling — its lock is held — so the tick starts nothing.
    assert!(
        full_pull::start_due_pulls(&w.deps, now + 2 * DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );
    // The Lambda's schedule event reaches the same function.
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
    let answer = full_pull::invoke(&w.deps, tick).await.unwrap();
    assert_eq!(
        answer["started"].as_array().map(Vec::len),
        Some(0),
        "{answer}"
    );

    w.drain(1000).await;
    let run = w.run(started[0].id.as_str()).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    // Its start counts as the last run: not due again until the next occurrence after it.
    let last = run["started_ms"].as_i64().unwrap();
    assert!(
        full_pull::start_due_pulls(&w.deps, last + 1000)
            .await
            .unwrap()
            .is_empty()
    );
}
