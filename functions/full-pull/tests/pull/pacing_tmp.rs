use std::time::Instant;
use crate::support::{Options, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn pacing_measure() {
    let mut cfg = crate::support::org(0.0);
    cfg.qps_per_api = 20;
    cfg.latency_ms = 30;
    cfg.users = 3000;
    cfg.depts = 300;
    let w = world(cfg, Options { qps: 19.5, ..Options::default() }).await;
    let t = Instant::now();
    let id = w.pull().await;
    let run = w.run(&id).await;
    println!("PULL {:?} {}", t.elapsed(), run["counters"]);
}
