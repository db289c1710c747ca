//! Group commit: concurrent writes share one commit, and each op of a group keeps its own outcome.

use super::*;
use crate::adapters::embedded::test_clock::TestClock;
use crate::adapters::embedded::{EmbeddedStore, EmbeddedTable};
use crate::ports::{Cond, Item, Key, Table, TableError, TxOp};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

const T0: i64 = 1_700_000_000_000;
const SCRATCH: TableDefinition<&str, u64> = TableDefinition::new("test.scratch");

fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item::new(Key::new(pk, sk), version, json!({ "sk": sk }))
}

type Pending = Pin<Box<dyn Future<Output = Result<(), TableError>> + Send>>;

/// Holds the writer busy inside a transaction until the returned sender is used (or dropped), so
/// that everything sent meanwhile queues up and forms the next group.
async fn stall_writer(store: &EmbeddedStore) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let mut started_tx = Some(started_tx);
    let release_rx = std::sync::Mutex::new(release_rx);
    let inner = store.inner.clone();
    let stall = tokio::spawn(async move {
        inner
            .writer
            .run(
                Cost::one(0),
                move |_txn| {
                    if let Some(s) = started_tx.take() {
                        let _ = s.send(());
                    }
                    let _ = release_rx.lock().unwrap().recv();
                    Ok::<_, TableError>((false, ()))
                },
                |_| false,
                TableError::Permanent,
            )
            .await
            .unwrap();
    });
    started_rx.await.unwrap();
    (release_tx, stall)
}

/// Polls each write once — which queues it at the writer — then awaits them all.
async fn queue_then_await(writes: Vec<Pending>) -> Vec<Result<(), TableError>> {
    let mut writes = writes;
    for w in &mut writes {
        std::future::poll_fn(|cx| {
            assert!(w.as_mut().poll(cx).is_pending(), "the writer is stalled");
            Poll::Ready(())
        })
        .await;
    }
    futures::future::join_all(writes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_during_a_commit_share_the_next_one_and_keep_their_own_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table = store.table(TestClock::at(T0));
    table.put(item("p", "taken", 1), Cond::None).await.unwrap();
    let before = store.commits();

    let (release, stall) = stall_writer(&store).await;
    let t = |f: fn(EmbeddedTable) -> Pending| f(table.clone());
    let mut writes: Vec<Pending> = (0..64)
        .map(|i| -> Pending {
            let table = table.clone();
            Box::pin(async move {
                table
                    .put(item("p", &format!("k{i:02}"), 1), Cond::Absent)
                    .await
            })
        })
        .collect();
    // Refused: the key exists. Must not affect the puts around it.
    writes.push(t(|t| {
        Box::pin(async move { t.put(item("p", "taken", 9), Cond::Absent).await })
    }));
    // Sees k00, put earlier in the same group; "taken" is still at version 1.
    writes.push(t(|t| {
        Box::pin(async move {
            t.transact(vec![
                TxOp::Check {
                    key: Key::new("p", "k00"),
                    cond: Cond::Exists,
                },
                TxOp::Put {
                    item: item("p", "taken", 2),
                    cond: Cond::Version(1),
                },
            ])
            .await
        })
    }));
    // Cancelled as a whole: its first op would succeed, its second fails on the write above.
    writes.push(t(|t| {
        Box::pin(async move {
            t.transact(vec![
                TxOp::Put {
                    item: item("p", "never", 1),
                    cond: Cond::Absent,
                },
                TxOp::Put {
                    item: item("p", "taken", 3),
                    cond: Cond::Version(1),
                },
            ])
            .await
        })
    }));
    writes.push(t(|t| {
        Box::pin(async move { t.delete(&Key::new("p", "k01"), Cond::Version(1)).await })
    }));
    let waiting = tokio::spawn(queue_then_await(writes));
    // Nothing is answered before its commit.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    release.send(()).unwrap();
    let results = waiting.await.unwrap();
    stall.await.unwrap();

    assert_eq!(store.commits() - before, 1, "one group, one commit");
    assert!(results[..64].iter().all(Result::is_ok), "{results:?}");
    assert!(matches!(results[64], Err(TableError::ConditionFailed)));
    assert!(results[65].is_ok(), "{:?}", results[65]);
    assert!(matches!(
        &results[66],
        Err(TableError::TransactionCancelled { failed }) if failed == &[1]
    ));
    assert!(results[67].is_ok());
    assert_eq!(
        table
            .get(&Key::new("p", "taken"))
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert!(table.get(&Key::new("p", "never")).await.unwrap().is_none());
    assert!(table.get(&Key::new("p", "k01")).await.unwrap().is_none());
    assert!(table.get(&Key::new("p", "k63")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_op_failing_mid_write_is_rolled_back_and_the_rest_of_its_group_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table = store.table(TestClock::at(T0));

    let (release, stall) = stall_writer(&store).await;
    let scribble = |value: u64, fail: bool| -> Pending {
        let inner = store.inner.clone();
        Box::pin(async move {
            inner
                .writer
                .run(
                    Cost::one(8),
                    move |txn| {
                        let mut t = txn
                            .open_table(SCRATCH)
                            .map_err(super::super::table_storage)?;
                        let old = t
                            .get("n")
                            .map_err(super::super::table_storage)?
                            .map(|v| v.value());
                        t.insert("n", old.unwrap_or(0) + value)
                            .map_err(super::super::table_storage)?;
                        if fail {
                            return Err(TableError::Permanent("disk on fire".to_owned()));
                        }
                        Ok((true, ()))
                    },
                    |_| false,
                    TableError::Permanent,
                )
                .await
        })
    };
    let put = |sk: &'static str| -> Pending {
        let table = table.clone();
        Box::pin(async move { table.put(item("p", sk, 1), Cond::Absent).await })
    };
    let writes = vec![
        put("a"),
        scribble(1, false),
        scribble(100, true),
        scribble(10, false),
        put("b"),
    ];
    let waiting = tokio::spawn(queue_then_await(writes));
    release.send(()).unwrap();
    let results = waiting.await.unwrap();
    stall.await.unwrap();

    assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok() && results[4].is_ok());
    assert!(matches!(&results[2], Err(TableError::Permanent(m)) if m == "disk on fire"));
    let txn = store.inner.db.begin_read().unwrap();
    let n = txn
        .open_table(SCRATCH)
        .unwrap()
        .get("n")
        .unwrap()
        .unwrap()
        .value();
    assert_eq!(
        n, 11,
        "the failed op's increment is gone, the others are kept in order"
    );
    assert!(table.get(&Key::new("p", "b")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_uncontended_write_commits_alone_and_a_write_that_changes_nothing_costs_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table = store.table(TestClock::at(T0));
    let before = store.commits();
    table.put(item("p", "a", 1), Cond::Absent).await.unwrap();
    table.put(item("p", "b", 1), Cond::Absent).await.unwrap();
    assert_eq!(store.commits() - before, 2);
    assert!(matches!(
        table.put(item("p", "a", 2), Cond::Absent).await,
        Err(TableError::ConditionFailed)
    ));
    assert_eq!(store.commits() - before, 2);
}
