//! The `Queue` / `QueueConsumer` contract: SQS FIFO with a redrive policy, for every engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dingbridge::ports::{OutMessage, Queue, QueueConsumer, Received};

/// Each engine's queue under test, created with `max_receives` = 2.
pub struct QueueUnderTest {
    pub queue: Arc<dyn Queue>,
    pub consumer: Arc<dyn QueueConsumer>,
}

pub const MAX_RECEIVES: u32 = 2;
const VISIBILITY: Duration = Duration::from_secs(1);

/// Receive until `want` messages arrived or `patience` passed (SQS may return fewer than asked).
async fn receive_n(c: &dyn QueueConsumer, want: usize, patience: Duration) -> Vec<Received> {
    let deadline = Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        let batch = c
            .receive((want - got.len()).min(10), Duration::from_secs(30))
            .await
            .unwrap();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        got.extend(batch);
    }
    got
}

fn msg(group: &str, dedup: &str, body: &str) -> OutMessage {
    OutMessage::new(group, dedup, body)
}

pub async fn sent_messages_arrive_once_acked(q: QueueUnderTest) {
    q.queue.send(msg("g", "d1", "hello")).await.unwrap();
    let got = receive_n(q.consumer.as_ref(), 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].body.as_str(),
            got[0].group.as_str(),
            got[0].receive_count
        ),
        ("hello", "g", 1)
    );
    q.consumer.ack(&got[0].receipt).await.unwrap();
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    let again = q.consumer.receive(10, VISIBILITY).await.unwrap();
    assert!(again.is_empty(), "an acked message came back: {again:?}");
}

pub async fn order_is_kept_within_a_group(q: QueueUnderTest) {
    let batch: Vec<OutMessage> = (0..25)
        .map(|i| {
            msg(
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("m{i}"),
                &i.to_string(),
            )
        })
        .collect();
    q.queue.send_batch(batch).await.unwrap();
    let mut got: Vec<Received> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 25 && Instant::now() < deadline {
        let batch = q
            .consumer
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap();
        for m in &batch {
            q.consumer.ack(&m.receipt).await.unwrap();
        }
        got.extend(batch);
    }
    assert_eq!(
        got.len(),
        25,
        "send_batch must deliver every message (chunked by 10)"
    );
    for group in ["even", "odd"] {
        let bodies: Vec<u32> = got
            .iter()
            .filter(|m| m.group == group)
            .map(|m| m.body.parse().unwrap())
            .collect();
        let mut sorted = bodies.clone();
        sorted.sort_unstable();
        assert_eq!(bodies, sorted, "group {group} out of order");
    }
}

pub async fn duplicates_by_dedup_id_are_dropped(q: QueueUnderTest) {
    q.queue.send(msg("g", "same", "first")).await.unwrap();
    q.queue.send(msg("g", "same", "second")).await.unwrap();
    q.queue
        .send_batch(vec![msg("g", "same", "third"), msg("g", "other", "fourth")])
        .await
        .unwrap();
    let got = receive_n(q.consumer.as_ref(), 3, Duration::from_secs(3)).await;
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first", "fourth"]);
}

pub async fn unacked_messages_come_back_after_the_visibility_timeout(q: QueueUnderTest) {
    q.queue.send(msg("g", "d1", "retry me")).await.unwrap();
    let first = q.consumer.receive(1, VISIBILITY).await.unwrap();
    let first = match first.len() {
        1 => first,
        _ => receive_n(q.consumer.as_ref(), 1, Duration::from_secs(3)).await,
    };
    assert_eq!(first.len(), 1);
    // Hidden while in flight.
    assert!(q.consumer.receive(10, VISIBILITY).await.unwrap().is_empty());
    tokio::time::sleep(VISIBILITY + Duration::from_millis(500)).await;
    let second = receive_n(q.consumer.as_ref(), 1, Duration::from_secs(5)).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].receive_count, 2);
    // The older delivery's receipt no longer acknowledges; the new one does.
    q.consumer.ack(&second[0].receipt).await.unwrap();
}

pub async fn released_messages_are_visible_again(q: QueueUnderTest) {
    q.queue.send(msg("g", "d1", "later")).await.unwrap();
    let got = receive_n(q.consumer.as_ref(), 1, Duration::from_secs(3)).await;
    q.consumer
        .release(&got[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = receive_n(q.consumer.as_ref(), 1, Duration::from_secs(3)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, got[0].id);
}

pub async fn messages_dead_letter_after_max_receives(q: QueueUnderTest) {
    q.queue.send(msg("g", "poison", "poison")).await.unwrap();
    q.queue.send(msg("h", "fine", "fine")).await.unwrap();
    let mut poison_deliveries = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        for m in q.consumer.receive(10, VISIBILITY).await.unwrap() {
            if m.body == "poison" {
                poison_deliveries += 1;
                assert!(m.receive_count <= MAX_RECEIVES);
            } else {
                q.consumer.ack(&m.receipt).await.unwrap();
            }
        }
        if !q.consumer.dead_letters(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(poison_deliveries, MAX_RECEIVES as usize);
    let dead = q.consumer.dead_letters(10).await.unwrap();
    assert_eq!(
        dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["poison"]
    );
    // Listing dead letters does not consume them.
    assert_eq!(q.consumer.dead_letters(10).await.unwrap().len(), 1);
    assert!(q.consumer.receive(10, VISIBILITY).await.unwrap().is_empty());
}
