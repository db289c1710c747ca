//! The local system as `cargo run` starts it: served over real HTTP, stopped cleanly, restarted
//! on the same data directory with nothing lost.

use std::time::Duration;

use dingbridge::ports::{OutMessage, Queue, QueueConsumer};
use dingbridge_local::{Options, start};

fn options(dir: &std::path::Path) -> Options {
    Options::new("127.0.0.1:0".parse().unwrap(), dir.join("data"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_with_the_version_and_the_embedded_engines() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let url = format!("http://{}/healthz", running.addr);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: health::Health = response.json().await.unwrap();
    assert_eq!(body.status, "ok");
    assert_eq!(body.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (body.engines.table.as_str(), body.engines.queue.as_str()),
        ("embedded", "embedded")
    );
    running.shutdown().await.unwrap();
    // Stopped means stopped: the port no longer answers.
    assert!(reqwest::get(&url).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    // No consumers: the test itself plays the worker that was interrupted.
    let quiet = || {
        let mut o = options(dir.path());
        o.run_workers = false;
        o
    };
    let running = start(quiet()).await.unwrap();
    let queue = running.engines.sync_queue.clone();
    queue
        .send(OutMessage::new("conn-1", "evt-1", "{\"event\":1}"))
        .await
        .unwrap();
    queue
        .send(OutMessage::new("conn-1", "evt-2", "{\"event\":2}"))
        .await
        .unwrap();
    // One message is in flight (received, not acknowledged) when the process stops.
    let in_flight = queue.receive(1, Duration::from_millis(200)).await.unwrap();
    assert_eq!(in_flight.len(), 1);
    drop(queue);
    running.shutdown().await.unwrap();

    let running = start(quiet()).await.unwrap();
    let queue = running.engines.sync_queue.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bodies = Vec::new();
    for m in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
        bodies.push(m.body.clone());
        queue.ack(&m.receipt).await.unwrap();
    }
    if bodies.len() < 2 {
        // FIFO: the second message of the group waits for the first to be acknowledged.
        for m in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
            bodies.push(m.body.clone());
            queue.ack(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(bodies, ["{\"event\":1}", "{\"event\":2}"]);
    drop(queue);
    running.shutdown().await.unwrap();
}
