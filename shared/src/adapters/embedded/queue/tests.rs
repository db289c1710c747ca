//! Engine-specific unit tests of `EmbeddedQueue`; the shared semantics are in `shared/tests/contract`.

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::adapters::embedded::test_clock::TestClock;

const T0: i64 = 1_700_000_000_000;
const VIS: Duration = Duration::from_secs(30);

fn open(dir: &tempfile::TempDir, clock: Arc<TestClock>) -> EmbeddedQueue {
    let settings = QueueSettings {
        max_receives: 2,
        dedup_window: Duration::from_secs(300),
    };
    EmbeddedStore::open(dir.path())
        .unwrap()
        .queue("work", settings, clock)
}

fn msg(group: &str, dedup: &str) -> OutMessage {
    OutMessage::new(group, dedup, format!("body of {dedup}"))
}

fn bodies(got: &[Received]) -> Vec<&str> {
    got.iter().map(|m| m.body.as_str()).collect()
}

#[tokio::test]
async fn a_group_with_a_message_in_flight_delivers_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, TestClock::at(T0));
    q.send_batch(vec![msg("a", "a1"), msg("a", "a2"), msg("b", "b1")])
        .await
        .unwrap();
    let first = q.receive(1, VIS).await.unwrap();
    assert_eq!(bodies(&first), ["body of a1"]);
    // Group a is locked by a1; b still flows.
    assert_eq!(bodies(&q.receive(10, VIS).await.unwrap()), ["body of b1"]);
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
    q.ack(&first[0].receipt).await.unwrap();
    assert_eq!(bodies(&q.receive(10, VIS).await.unwrap()), ["body of a2"]);
}

#[tokio::test]
async fn a_stale_receipt_neither_acks_nor_releases_the_newer_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let q = open(&dir, clock.clone());
    q.send(msg("g", "m")).await.unwrap();
    let old = q.receive(1, VIS).await.unwrap().remove(0);
    clock.advance_millis(30_000);
    let new = q.receive(1, VIS).await.unwrap().remove(0);
    assert_eq!((new.id.as_str(), new.receive_count), (old.id.as_str(), 2));
    assert_ne!(new.receipt, old.receipt);
    q.ack(&old.receipt).await.unwrap();
    q.release(&old.receipt, Duration::ZERO).await.unwrap();
    assert!(
        q.receive(1, VIS).await.unwrap().is_empty(),
        "still in flight"
    );
    q.ack(&new.receipt).await.unwrap();
    clock.advance_millis(60_000);
    assert!(
        q.receive(1, VIS).await.unwrap().is_empty(),
        "acked for good"
    );
    for garbage in ["", "x", "1.zz", "1.0", "dead.x"] {
        assert!(
            matches!(q.ack(garbage).await, Err(QueueError::Invalid(_))),
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn duplicates_are_dropped_only_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let q = open(&dir, clock.clone());
    q.send(msg("g", "d")).await.unwrap();
    let got = q.receive(10, VIS).await.unwrap();
    q.ack(&got[0].receipt).await.unwrap();
    clock.advance_millis(299_999);
    q.send(msg("g", "d")).await.unwrap();
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
    clock.advance_millis(1);
    q.send(msg("g", "d")).await.unwrap();
    assert_eq!(q.receive(10, VIS).await.unwrap().len(), 1);
}

#[tokio::test]
async fn in_flight_messages_survive_a_restart_and_return_after_their_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    {
        let q = open(&dir, clock.clone());
        q.send_batch(vec![msg("g", "1"), msg("g", "2")])
            .await
            .unwrap();
        assert_eq!(q.receive(1, VIS).await.unwrap().len(), 1);
    }
    let q = open(&dir, clock.clone());
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
    clock.advance_millis(30_000);
    let got = q.receive(10, VIS).await.unwrap();
    assert_eq!(bodies(&got), ["body of 1", "body of 2"]);
    assert_eq!(got[0].receive_count, 2);
    // Deduplication ids and sequence numbers persist too.
    q.send(msg("g", "1")).await.unwrap();
    q.send(msg("g", "3")).await.unwrap();
    for m in &got {
        q.ack(&m.receipt).await.unwrap();
    }
    assert_eq!(bodies(&q.receive(10, VIS).await.unwrap()), ["body of 3"]);
}

#[tokio::test]
async fn a_message_past_max_receives_dead_letters_and_can_be_redriven() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let q = open(&dir, clock.clone());
    q.send_batch(vec![msg("g", "poison"), msg("g", "next")])
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            bodies(&q.receive(1, VIS).await.unwrap()),
            ["body of poison"]
        );
        clock.advance_millis(30_000);
    }
    // The third attempt moves it aside and the group moves on.
    assert_eq!(bodies(&q.receive(1, VIS).await.unwrap()), ["body of next"]);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(bodies(&dead), ["body of poison"]);
    assert_eq!(dead[0].receive_count, 2);
    assert_eq!(q.redrive_dead_letters().await.unwrap(), 1);
    assert!(q.dead_letters(10).await.unwrap().is_empty());
    clock.advance_millis(30_000);
    let again = q.receive(10, VIS).await.unwrap();
    assert_eq!(bodies(&again), ["body of poison", "body of next"]);
    assert_eq!(again[0].receive_count, 1);
}

#[tokio::test]
async fn acking_a_dead_letter_receipt_discards_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let q = open(&dir, clock.clone());
    q.send(msg("g", "poison")).await.unwrap();
    for _ in 0..3 {
        q.receive(1, VIS).await.unwrap();
        clock.advance_millis(30_000);
    }
    let dead = q.dead_letters(10).await.unwrap();
    q.ack(&dead[0].receipt).await.unwrap();
    assert!(q.dead_letters(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn release_with_a_delay_keeps_the_group_locked_until_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let q = open(&dir, clock.clone());
    q.send_batch(vec![msg("g", "1"), msg("g", "2")])
        .await
        .unwrap();
    let got = q.receive(1, VIS).await.unwrap();
    q.release(&got[0].receipt, Duration::from_secs(5))
        .await
        .unwrap();
    clock.advance_millis(4_999);
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
    clock.advance_millis(1);
    let again = q.receive(1, VIS).await.unwrap();
    assert_eq!(
        (again[0].id.as_str(), again[0].receive_count),
        (got[0].id.as_str(), 2)
    );
}

#[tokio::test]
async fn a_send_wakes_a_waiting_consumer_even_if_it_came_first() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, TestClock::at(T0));
    q.send(msg("g", "early")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), q.notified())
        .await
        .expect("the wakeup is kept for the next waiter");
    let waiter = tokio::spawn({
        let q = q.clone();
        async move { q.notified().await }
    });
    tokio::task::yield_now().await;
    q.send(msg("g", "late")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the send")
        .unwrap();
}

#[tokio::test]
async fn messages_sqs_would_refuse_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, TestClock::at(T0));
    let long = "x".repeat(129);
    let refused = [
        OutMessage::new("", "d", "b"),
        OutMessage::new("g", long.as_str(), "b"),
        OutMessage::new("g h", "d", "b"),
        OutMessage::new("g", "d", ""),
        OutMessage::new("g", "d", "\u{1}"),
        OutMessage::new("g", "d", "x".repeat(MAX_BODY_BYTES + 1)),
    ];
    for m in refused {
        assert!(
            matches!(q.send(m.clone()).await, Err(QueueError::Invalid(_))),
            "{m:?}"
        );
    }
    // A batch with one bad message sends none.
    let batch = vec![msg("g", "ok"), OutMessage::new("g", "d", "")];
    assert!(q.send_batch(batch).await.is_err());
    assert!(q.receive(10, VIS).await.unwrap().is_empty());
}
