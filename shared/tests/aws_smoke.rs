//! Scratch end-to-end checks of `DynamoTable` and `SqsQueue` against a wire endpoint (moto).
//! Needs `AWS_ENDPOINT_URL`; without it every test fails rather than skips.
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dingbridge::adapters::dynamodb::{DynamoTable, create_table, load_aws_config};
use dingbridge::adapters::sqs::{SqsQueue, create_fifo_queue_with_dlq};
use dingbridge::ports::Queue as _;
use dingbridge::ports::{
    BatchOp, Clock, Cond, Index, IndexKey, Item, Key, OutMessage, Query, QueueConsumer, SkRange,
    Table, TableError, TxOp,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst) * 1000
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at a DynamoDB/SQS endpoint (moto_server)"
    );
    load_aws_config().await
}

async fn table_at(now: i64) -> (DynamoTable, Arc<ManualClock>) {
    let client = aws_sdk_dynamodb::Client::new(&config().await);
    let name = unique("smoke");
    create_table(&client, &name).await.unwrap();
    // Idempotent: a second call finds the table and leaves it be.
    create_table(&client, &name).await.unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(now)));
    (DynamoTable::new(client, name, clock.clone()), clock)
}

fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item::new(Key::new(pk, sk), version, json!({"sk": sk, "v": version}))
}

#[tokio::test]
async fn conditional_writes_and_versions() {
    let (table, _) = table_at(1_000).await;
    let key = Key::new("P", "a");
    table.put(item("P", "a", 1), Cond::Absent).await.unwrap();
    assert_eq!(
        table.put(item("P", "a", 1), Cond::Absent).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(item("P", "a", 1)));
    table
        .put(item("P", "a", 2), Cond::Version(1))
        .await
        .unwrap();
    assert_eq!(
        table.put(item("P", "a", 3), Cond::Version(1)).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(
        table.put(item("P", "b", 1), Cond::Exists).await,
        Err(TableError::ConditionFailed)
    );

    let table = Arc::new(table);
    let racers: Vec<_> = (0..2)
        .map(|i| {
            let table = table.clone();
            tokio::spawn(async move {
                table
                    .put(
                        Item::new(Key::new("P", "a"), 3, json!({"w": i})),
                        Cond::Version(2),
                    )
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        if racer.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    assert_eq!(
        table.delete(&key, Cond::Version(2)).await,
        Err(TableError::ConditionFailed)
    );
    table.delete(&key, Cond::Version(3)).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn transactions_roll_back_and_name_failures() {
    let (table, _) = table_at(1_000).await;
    table.put(item("T", "a", 1), Cond::Absent).await.unwrap();
    let result = table
        .transact(vec![
            TxOp::Put {
                item: item("T", "b", 1),
                cond: Cond::Absent,
            },
            TxOp::Put {
                item: item("T", "a", 2),
                cond: Cond::Version(7),
            },
            TxOp::Check {
                key: Key::new("T", "zz"),
                cond: Cond::Exists,
            },
        ])
        .await;
    assert_eq!(
        result,
        Err(TableError::TransactionCancelled { failed: vec![1, 2] })
    );
    assert_eq!(table.get(&Key::new("T", "b")).await.unwrap(), None);

    table
        .transact(vec![
            TxOp::Put {
                item: item("T", "b", 1),
                cond: Cond::Absent,
            },
            TxOp::Delete {
                key: Key::new("T", "a"),
                cond: Cond::Version(1),
            },
            TxOp::Check {
                key: Key::new("T", "c"),
                cond: Cond::None,
            },
        ])
        .await
        .unwrap();
    assert!(table.get(&Key::new("T", "b")).await.unwrap().is_some());
    assert!(table.get(&Key::new("T", "a")).await.unwrap().is_none());

    let dup = table
        .transact(vec![
            TxOp::Check {
                key: Key::new("T", "b"),
                cond: Cond::Exists,
            },
            TxOp::Delete {
                key: Key::new("T", "b"),
                cond: Cond::None,
            },
        ])
        .await;
    assert!(matches!(dup, Err(TableError::Invalid(_))));
}

#[tokio::test]
async fn queries_paginate_filter_and_use_indexes() {
    let (table, _) = table_at(1_000).await;
    let ops: Vec<BatchOp> = (0..60)
        .map(|i| {
            let mut it = item("Q", &format!("s#{i:03}"), 1)
                .with_gsi1(IndexKey::new(format!("G#{}", i % 2), format!("g#{i:03}")));
            if i % 10 == 0 {
                it = it.with_ttl(500);
            }
            BatchOp::Put(it)
        })
        // A repeated key in one batch: the later write wins.
        .chain([BatchOp::Put(
            item("Q", "s#001", 9).with_gsi1(IndexKey::new("G#1", "g#001")),
        )])
        .collect();
    table.batch_write(ops).await.unwrap();
    assert_eq!(
        table
            .get(&Key::new("Q", "s#001"))
            .await
            .unwrap()
            .unwrap()
            .version,
        9
    );
    assert_eq!(table.get(&Key::new("Q", "s#010")).await.unwrap(), None);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = table
            .query(&Query::partition(Index::Primary, "Q").limit(7).after(cursor))
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| i.key.sk));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 54, "expired items are hidden");
    assert_eq!(pages, 8);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let desc = table
        .query(
            &Query::partition(Index::Primary, "Q")
                .range(SkRange::Between("s#011".into(), "s#015".into()))
                .descending(),
        )
        .await
        .unwrap();
    let sks: Vec<_> = desc.items.iter().map(|i| i.key.sk.as_str()).collect();
    assert_eq!(sks, ["s#015", "s#014", "s#013", "s#012", "s#011"]);
    assert!(desc.next.is_none());

    let prefix = table
        .query(&Query::partition(Index::Primary, "Q").range(SkRange::Prefix("s#05".into())))
        .await
        .unwrap();
    assert_eq!(prefix.items.len(), 9);
    let from = table
        .query(&Query::partition(Index::Primary, "Q").range(SkRange::From("s#055".into())))
        .await
        .unwrap();
    assert_eq!(from.items.len(), 5);

    let gsi = table
        .query(&Query::partition(Index::Gsi1, "G#1").limit(10))
        .await
        .unwrap();
    assert_eq!(gsi.items.len(), 10);
    assert!(
        gsi.items
            .iter()
            .all(|i| i.gsi1.as_ref().unwrap().pk == "G#1")
    );
    let rest = table
        .query(
            &Query::partition(Index::Gsi1, "G#1")
                .limit(1000)
                .after(gsi.next),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 20);
    assert!(rest.next.is_none());

    let bad = table
        .query(&Query::partition(Index::Primary, "Q").after(Some("garbage!".into())))
        .await;
    assert!(matches!(bad, Err(TableError::Invalid(_))));
    let bad = table
        .query(&Query::partition(Index::Primary, "Q").limit(0))
        .await;
    assert!(matches!(bad, Err(TableError::Invalid(_))));
}

#[tokio::test]
async fn expired_items_count_as_absent() {
    let (table, clock) = table_at(1_000).await;
    table
        .put(item("X", "a", 1).with_ttl(1_010), Cond::Absent)
        .await
        .unwrap();
    assert!(table.get(&Key::new("X", "a")).await.unwrap().is_some());
    clock.0.store(1_010, Ordering::SeqCst);
    assert_eq!(table.get(&Key::new("X", "a")).await.unwrap(), None);
    assert_eq!(
        table.put(item("X", "a", 2), Cond::Version(1)).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(
        table.delete(&Key::new("X", "a"), Cond::Exists).await,
        Err(TableError::ConditionFailed)
    );
    table.put(item("X", "a", 1), Cond::Absent).await.unwrap();
    assert_eq!(
        table.get(&Key::new("X", "a")).await.unwrap(),
        Some(item("X", "a", 1))
    );
}

async fn queue(max_receives: u32) -> SqsQueue {
    let client = aws_sdk_sqs::Client::new(&config().await);
    let name = unique("smoke");
    let (url, dlq) = create_fifo_queue_with_dlq(&client, &name, max_receives, 30)
        .await
        .unwrap();
    let again = create_fifo_queue_with_dlq(&client, &name, max_receives, 30)
        .await
        .unwrap();
    assert_eq!(again, (url.clone(), dlq.clone()));
    SqsQueue::new(client, url).with_dead_letter_queue(dlq)
}

#[tokio::test]
async fn queue_sends_dedups_and_redelivers() {
    let q = queue(5).await;
    let batch: Vec<_> = (0..23)
        .map(|i| OutMessage::new("g1", format!("d{i}"), format!("m{i}")))
        .collect();
    q.send_batch(batch.clone()).await.unwrap();
    q.send_batch(batch).await.unwrap();
    q.send(OutMessage::new("g1", "d0", "again")).await.unwrap();

    let mut bodies = Vec::new();
    loop {
        let got = q.receive(10, Duration::from_secs(30)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            assert_eq!(m.group, "g1");
            assert_eq!(m.receive_count, 1);
            bodies.push(m.body.clone());
            q.ack(&m.receipt).await.unwrap();
        }
    }
    let expected: Vec<_> = (0..23).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected, "in order, each once");

    q.send(OutMessage::new("g2", "x", "retry me"))
        .await
        .unwrap();
    let first = q.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].receive_count, 2);
    q.release(&second[0].receipt, Duration::ZERO).await.unwrap();
    let third = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].receive_count, 3);
}

#[tokio::test]
async fn queue_dead_letters_after_max_receives() {
    let q = queue(2).await;
    q.send(OutMessage::new("g", "poison", "poison"))
        .await
        .unwrap();
    q.send(OutMessage::new("h", "poison2", "poison2"))
        .await
        .unwrap();
    let mut deliveries = 0;
    for _ in 0..6 {
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        deliveries += got.len();
        for m in &got {
            assert!(m.receive_count <= 2, "{m:?}");
        }
    }
    assert_eq!(deliveries, 4);
    let dead = q.dead_letters(10).await.unwrap();
    let bodies: Vec<_> = dead.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["poison", "poison2"]);
    // Listing does not consume.
    assert_eq!(q.dead_letters(10).await.unwrap().len(), 2);
}
