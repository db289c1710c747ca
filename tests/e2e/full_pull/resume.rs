//! Kills: a pull that runs out of time continues from its checkpoint, a step killed mid-walk or
//! mid-apply is redelivered and resumes; either way the directory converges, with no duplicates.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use dingbridge::store::mappings::MappedKind;
use dingbridge::worker::BatchHandler;
use full_pull::{Deps, PullSettings};
use tracing::instrument::WithSubscriber;

use crate::full_pull::support::{Engine, Options, World, world};

on_engines!(a_pull_killed_mid_walk_and_mid_apply_converges_without_duplicates);

/// Delivers one step and kills its handler once `progressed` completes (the future is dropped,
/// as a crashed Lambda would be); the message is released, as after its visibility timeout. A
/// kill by progress, not by time: it lands mid-step on any engine.
async fn kill_one_step(w: &World, progressed: impl Future<Output = ()>) {
    let step = w.queue.receive(1, Duration::from_secs(600)).await.unwrap();
    assert_eq!(step.len(), 1, "a step to kill");
    let receipt = step[0].receipt.clone();
    tokio::select! {
        _ = w.deps.handle(step) => panic!("the step finished before the kill"),
        () = progressed => {}
    }
    w.queue.release(&receipt, Duration::ZERO).await.unwrap();
}

/// The log lines written through it (a `tracing` subscriber's writer).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Completes once `check` holds, polling.
async fn until<F: Future<Output = bool>>(mut check: impl FnMut() -> F) {
    while !check().await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

async fn a_pull_killed_mid_walk_and_mid_apply_converges_without_duplicates(engine: Engine) {
    let w = world(
        engine,
        engine.org(0.0),
        Options {
            checkpoint_every: 10,
            ..Options::default()
        },
    )
    .await;
    let sim = w.sim_org().await;
    let users = sim.users.len();
    let id = w.start_pull().await;
    // A second start while the first is running is refused.
    let (status, _) = w.request_pull().await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Killed mid-walk, once a checkpoint has saved some users.
    kill_one_step(
        &w,
        until(|| async { w.run(&id).await["counters"]["users"].as_u64() > Some(0) }),
    )
    .await;
    // The rest under a tiny budget: every step checkpoints and hands over to a continuation.
    let hurried = Deps {
        settings: PullSettings {
            budget: Duration::from_millis(1),
            ..w.deps.settings.clone()
        },
        ..(*w.deps).clone()
    };
    let logs = Logs::default();
    let subscriber = lambda_runtime::tracing::subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let steps = w
        .drain_with(&hurried, 10_000)
        .with_subscriber(subscriber)
        .await;
    let text = logs.text();
    assert!(
        text.contains(&format!("resuming run {id} from checkpoint")),
        "the redelivered step says it resumes: {text}"
    );
    assert!(
        steps > 2,
        "the tiny budget made the walk continue ({steps} steps)"
    );
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["counters"]["users"], users as u64);
    let rows = w.all(&format!("/runs/{id}/rows")).await;
    assert_eq!(rows.len(), users, "one row per user");

    // Killed mid-apply, once a third of the accounts exist.
    let (status, _) = w.api(Method::POST, &format!("/runs/{id}/confirm")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    kill_one_step(
        &w,
        until(|| async {
            let page = w.directory.accounts(1000, None).await.unwrap();
            page.items.len() >= users / 3
        }),
    )
    .await;
    w.drain(10_000).await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");

    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), users);
    assert_eq!(dir.unit_paths.len(), sim.dept_paths.len());
    assert_eq!(user_mappings(&w).await, users);
}
