//! A walk shows how far it is while it runs: the run's counters move between checkpoints (here
//! there are none before the end), on a simulator slowed down by its latency knob.

use std::time::Duration;

use serde_json::{Value, json};

use crate::full_pull::support::{Engine, Options, world};

on_engines!(a_slow_walk_shows_its_counters_before_it_ends);

async fn a_slow_walk_shows_its_counters_before_it_ends(engine: Engine) {
    let w = world(
        engine,
        engine.org(0.0),
        Options {
            checkpoint_every: 1_000_000,
            progress_every: Duration::from_millis(100),
            ..Options::default()
        },
    )
    .await;
    let users = w.sim_org().await.users.len() as u64;
    w.sim_call(
        reqwest::Method::POST,
        "/_sim/settings",
        Some(json!({ "latency_ms": 150 })),
    )
    .await;
    let id = w.start_pull().await;

    // Polls the run while the walk runs beside it; `None` once the run left `pulling` first.
    let watch = async {
        loop {
            let run = w.run(&id).await;
            if run["state"] != "pulling" {
                return None::<Value>;
            }
            let c = &run["counters"];
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            if n("api_calls") > 0
                && (1..users).contains(&n("users"))
                && n("pending_calls") > 0
                && n("elapsed_ms") > 0
                && c["estimated_remaining_ms"].is_u64()
            {
                return Some(run);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (_, seen) = tokio::join!(w.drain(1000), watch);
    let seen = seen.expect("non-zero counters while the walk was under way");
    assert!(seen["counters"]["departments"].as_u64() > Some(0), "{seen}");
    let run = w.run(&id).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert_eq!(run["counters"]["users"], users);
    assert_eq!(run["counters"]["pending_calls"], 0);
}
