//! Runs that stop moving end `failed` with a reason, never `pulling` or `applying` forever: a step
//! failing on every delivery fails its run on the last one, a step that crashed every time is
//! failed by the schedule's sweep; a failed apply resumes on confirm; and the applied counters
//! stay exact when an apply is killed in the middle of a page.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use dingbridge::ports::{OutMessage, Queue, QueueError};
use dingbridge::store::runs::{RunId, pull_lock_name};
use dingbridge::worker::BatchHandler;
use full_pull::{Deps, PullSettings};
use serde_json::Value;

use crate::full_pull::support::{Engine, Options, World, world};

on_engines!(
    a_pull_step_failing_on_every_delivery_fails_the_run_on_the_last_one,
    an_apply_failing_on_every_delivery_fails_with_what_it_applied_and_a_confirm_resumes_it,
    a_run_whose_step_crashed_is_failed_by_the_tick_once_stale_and_frees_the_schedule,
    an_apply_killed_in_the_middle_of_a_page_still_counts_every_row,
    a_step_failing_in_a_way_no_retry_mends_fails_the_run_on_its_first_delivery,
    an_unreadable_pull_message_is_parked_with_its_reason,
);

const DAY_MS: i64 = 86_400_000;

/// The pull queue with SQS unreachable for sends: a step that must queue its continuation fails
/// on every delivery (receiving still works, as when only `SendMessage` is throttled).
struct SendsFail(Arc<dyn Queue>);

#[async_trait]
impl Queue for SendsFail {
    async fn send(&self, _: OutMessage) -> Result<(), QueueError> {
        Err(QueueError::Transient("SendMessage throttled".into()))
    }

    async fn send_batch(&self, _: Vec<OutMessage>) -> Result<(), QueueError> {
        Err(QueueError::Transient("SendMessage throttled".into()))
    }

    fn engine(&self) -> &'static str {
        self.0.engine()
    }
}

/// The pull queue refusing sends for good, as SQS does when the queue was deleted or the
/// function's role lost `sqs:SendMessage`.
struct SendsRefused(Arc<dyn Queue>);

#[async_trait]
impl Queue for SendsRefused {
    async fn send(&self, _: OutMessage) -> Result<(), QueueError> {
        Err(QueueError::Permanent("AccessDenied on SendMessage".into()))
    }

    async fn send_batch(&self, _: Vec<OutMessage>) -> Result<(), QueueError> {
        Err(QueueError::Permanent("AccessDenied on SendMessage".into()))
    }

    fn engine(&self) -> &'static str {
        self.0.engine()
    }
}

/// The world's pull applying one row at a time: moto, the test double of DynamoDB, loses
/// concurrent transactions now and then, and these tests count rows exactly.
fn one_at_a_time(w: &World) -> Deps {
    Deps {
        settings: PullSettings {
            apply_concurrency: 1,
            ..w.deps.settings.clone()
        },
        ..(*w.deps).clone()
    }
}

/// That pull with sends failing and steps cut at every page (budget 1 ms).
fn failing_sends(w: &World, apply_page: usize) -> Deps {
    let calm = one_at_a_time(w);
    Deps {
        pull_runs: w
            .deps
            .pull_runs
            .with_queue(Arc::new(SendsFail(w.deps.pull_runs.queue().clone()))),
        settings: PullSettings {
            budget: Duration::from_millis(1),
            apply_page,
            ..calm.settings.clone()
        },
        ..calm
    }
}

/// `World::drain` with other deps: a failed step is released at once (a new delivery).
async fn drain_with(w: &World, deps: &Deps, max: usize) -> usize {
    let mut handled = 0;
    while handled < max {
        let batch = w.queue.receive(1, Duration::from_secs(600)).await.unwrap();
        let Some(m) = batch.into_iter().next() else {
            break;
        };
        let receipt = m.receipt.clone();
        if deps.handle(vec![m]).await.is_empty() {
            w.queue.ack(&receipt).await.unwrap();
        } else {
            w.queue.release(&receipt, Duration::ZERO).await.unwrap();
        }
        handled += 1;
    }
    handled
}

fn last_error(run: &Value) -> String {
    run["errors"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn counter(run: &Value, name: &str) -> u64 {
    run["counters"][name].as_u64().unwrap()
}

async fn a_pull_step_failing_on_every_delivery_fails_the_run_on_the_last_one(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let id = w.start_pull().await;
    let failing = failing_sends(&w, 500);

    let deliveries = drain_with(&w, &failing, 50).await;
    assert_eq!(deliveries as u32, w.deps.settings.max_receives);
    let run = w.run(&id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["failed_during"], "pulling", "{run}");
    let reason = last_error(&run);
    for part in [
        "failed on 5 deliveries",
        "SendMessage throttled",
        "nothing was applied",
        "start a new pull",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    assert!(
        w.queue.dead_letters(10).await.unwrap().is_empty(),
        "the message was answered, not dead-lettered"
    );
    // A failed pull has no plan to confirm, and it frees the connector at once.
    let (status, _) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    w.start_pull().await;
}

async fn an_apply_failing_on_every_delivery_fails_with_what_it_applied_and_a_confirm_resumes_it(
    engine: Engine,
) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let id = w.pull().await;
    let planned = w.run(&id).await;
    assert_eq!(planned["state"], "awaiting_review", "{planned}");
    let (status, _) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Every delivery applies one page of 20 rows, then cannot queue its continuation.
    let failing = failing_sends(&w, 20);
    let deliveries = drain_with(&w, &failing, 50).await;
    assert_eq!(deliveries as u32, w.deps.settings.max_receives);
    let run = w.run(&id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["failed_during"], "applying", "{run}");
    let (creates, units) = (
        counter(&run, "applied_creates"),
        counter(&run, "applied_units"),
    );
    assert!(creates + units > 0, "{run}");
    // The counters are what the directory holds (this run made every account and unit).
    let dir = w.directory_state().await;
    assert_eq!(
        (creates, units),
        (dir.accounts.len() as u64, dir.unit_paths.len() as u64),
        "{run}"
    );
    let reason = last_error(&run);
    for part in [
        "applying failed on 5 deliveries".to_owned(),
        format!("applied so far: {creates} account creates"),
        format!("{units} org units"),
        "confirm the run again to resume".to_owned(),
    ] {
        assert!(reason.contains(&part), "{part:?} not in {reason:?}");
    }

    // Org units alone do not resume an apply; accounts or all do, from where it stopped.
    let (status, _) = w
        .api(Method::POST, &format!("/runs/{id}/confirm?scope=org_units"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    drain_with(&w, &one_at_a_time(&w), 1000).await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["failed_during"], Value::Null);
    assert_counts_match_directory(&w, &planned, &run).await;
}

/// The applied counters are what the directory holds (the run made every account and unit),
/// and every planned row is either applied or failed.
async fn assert_counts_match_directory(w: &World, planned: &Value, run: &Value) {
    let dir = w.directory_state().await;
    let (creates, units) = (
        counter(run, "applied_creates"),
        counter(run, "applied_units"),
    );
    assert_eq!(
        (creates, units),
        (dir.accounts.len() as u64, dir.unit_paths.len() as u64),
        "{run}"
    );
    assert_eq!(
        creates + units + counter(run, "apply_failures"),
        counter(planned, "planned_creates") + counter(planned, "planned_unit_creates"),
        "{run}"
    );
}

async fn a_run_whose_step_crashed_is_failed_by_the_tick_once_stale_and_frees_the_schedule(
    engine: Engine,
) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let started = full_pull::start_due_pulls(&w.deps, w.connector.created_ms + 2 * DAY_MS)
        .await
        .unwrap();
    let id = started[0].id.clone();
    // Its first step crashes (the handler is dropped, as a Lambda that runs out of memory): the
    // message stays in flight and later goes to the dead-letter queue; nothing marks the run.
    let crashed = w.queue.receive(1, Duration::from_secs(600)).await.unwrap();
    let receipt = crashed[0].receipt.clone();
    let cut = tokio::time::timeout(Duration::from_millis(100), w.deps.handle(crashed)).await;
    assert!(cut.is_err(), "the step was killed");

    let run = w.deps.runs.get(&id).await.unwrap().unwrap();
    let quiet_since = run.last_progress_ms();
    let stale = i64::try_from(w.deps.settings.stale_after().as_millis()).unwrap();
    let sweep = |at: i64| full_pull::sweep_stale_runs(&w.deps, at);
    assert!(
        sweep(quiet_since + stale).await.unwrap().is_empty(),
        "not stale yet"
    );
    // Quiet for long, but a step still holds its lease: it is left alone.
    let lock = pull_lock_name(&w.connector.id);
    assert!(
        w.deps
            .locks
            .acquire(&lock, id.as_str(), 10 * 86_400)
            .await
            .unwrap()
    );
    assert!(
        sweep(quiet_since + stale + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(w.deps.locks.acquire(&lock, id.as_str(), 60).await.unwrap());

    // The tick two days on: the stale run is failed, and the connector's due pull starts.
    let tick = full_pull::tick(&w.deps, run.started_ms + 2 * DAY_MS)
        .await
        .unwrap();
    let failed: Vec<RunId> = tick.failed_stale.iter().map(|r| r.id.clone()).collect();
    assert_eq!(failed, std::slice::from_ref(&id));
    assert_eq!(
        tick.started.len(),
        1,
        "the stale run does not block the schedule"
    );
    let run = w.run(id.as_str()).await;
    assert_eq!(run["state"], "failed", "{run}");
    let reason = last_error(&run);
    for part in [
        "made no progress for",
        "dead-letter queue",
        "start a new pull",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    // The crashed step, delivered once more, finds its run failed and leaves it so; the new
    // pull runs to its review.
    w.queue.release(&receipt, Duration::ZERO).await.unwrap();
    w.drain(1000).await;
    assert_eq!(w.run(id.as_str()).await["state"], "failed");
    let next = w.run(tick.started[0].id.as_str()).await;
    assert_eq!(next["state"], "awaiting_review", "{next}");
}

/// Completes once the directory holds at least `n` accounts.
async fn accounts_reach(w: &World, n: usize) {
    loop {
        // A read that fails while the apply writes is simply tried again.
        if let Ok(page) = w.directory.accounts(1000, None).await
            && page.items.len() >= n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn an_apply_killed_in_the_middle_of_a_page_still_counts_every_row(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let id = w.pull().await;
    let planned = w.run(&id).await;
    let creates = counter(&planned, "planned_creates");
    let (status, _) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Killed while the first page of creates is applied and not yet saved.
    let deps = one_at_a_time(&w);
    let page = deps.settings.apply_page;
    let killed_at = usize::try_from(creates / 3).unwrap().min(page / 3).max(1);
    let step = w.queue.receive(1, Duration::from_secs(600)).await.unwrap();
    let receipt = step[0].receipt.clone();
    tokio::select! {
        _ = deps.handle(step) => panic!("the apply finished before the kill"),
        () = accounts_reach(&w, killed_at) => {}
    }
    w.queue.release(&receipt, Duration::ZERO).await.unwrap();
    drain_with(&w, &deps, 1000).await;

    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_counts_match_directory(&w, &planned, &run).await;
}

async fn a_step_failing_in_a_way_no_retry_mends_fails_the_run_on_its_first_delivery(
    engine: Engine,
) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let id = w.start_pull().await;
    let calm = failing_sends(&w, 500);
    let refused = Deps {
        pull_runs: calm
            .pull_runs
            .with_queue(Arc::new(SendsRefused(w.deps.pull_runs.queue().clone()))),
        ..calm
    };

    let deliveries = drain_with(&w, &refused, 50).await;
    assert_eq!(deliveries, 1, "a permanent failure is not retried");
    let run = w.run(&id).await;
    assert_eq!(run["state"], "failed", "{run}");
    let reason = last_error(&run);
    for part in [
        "retrying would fail the same way",
        "AccessDenied on SendMessage",
        "nothing was applied",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    assert!(w.queue.dead_letters(10).await.unwrap().is_empty());
    // The connector is free again.
    w.start_pull().await;
}

async fn an_unreadable_pull_message_is_parked_with_its_reason(engine: Engine) {
    let w = world(engine, engine.org(0.0), Options::default()).await;
    let group = w.connector.id.to_string();
    for (n, body) in [
        "{not json".to_owned(),
        format!(r#"{{"kind":"run","connector_id":"{group}","run_id":"RUN#1"}}"#),
    ]
    .into_iter()
    .enumerate()
    {
        w.deps
            .pull_runs
            .queue()
            .send(OutMessage::new(group.clone(), format!("junk-{n}"), body))
            .await
            .unwrap();
    }

    assert_eq!(drain_with(&w, &w.deps, 10).await, 2);
    assert!(
        w.queue.dead_letters(10).await.unwrap().is_empty(),
        "parked, not retried until dead-lettered"
    );
    let (status, body) = w
        .api(Method::GET, &format!("/parked-events?connector_id={group}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut reasons: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{body}");
    assert!(
        reasons[0].starts_with("pull message with an invalid run id \"RUN#1\""),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("unreadable pull message: "),
        "{reasons:?}"
    );
}
