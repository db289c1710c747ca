//! Engine-specific unit tests of `EmbeddedTable`; the shared semantics are in `shared/tests/contract`.

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::adapters::embedded::test_clock::TestClock;
use crate::ports::{Index, IndexKey, SkRange};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::ReadableTableMetadata;
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

fn open(dir: &tempfile::TempDir) -> (EmbeddedTable, Arc<TestClock>) {
    let clock = TestClock::at(T0);
    let table = EmbeddedStore::open(dir.path())
        .unwrap()
        .table(clock.clone());
    (table, clock)
}

fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item::new(Key::new(pk, sk), version, json!({ "sk": sk }))
}

async fn sks(t: &EmbeddedTable, q: Query) -> Vec<String> {
    t.query(&q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.key.sk)
        .collect()
}

#[tokio::test]
async fn a_cursor_that_is_not_one_we_returned_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir);
    for sk in ["a", "b", "c"] {
        t.put(item("P", sk, 1), Cond::None).await.unwrap();
    }
    let page = t
        .query(&Query::partition(Index::Primary, "P").limit(1))
        .await
        .unwrap();
    let cursor = page.next.unwrap();
    let garbage = [
        "!!!".to_owned(),
        String::new(),
        URL_SAFE_NO_PAD.encode(b"random bytes"),
    ];
    for bad in garbage {
        let q = Query::partition(Index::Primary, "P").after(Some(bad.clone()));
        assert!(
            matches!(t.query(&q).await, Err(TableError::Invalid(_))),
            "{bad:?}"
        );
    }
    // A real cursor of another partition does not leak into this one.
    let q = Query::partition(Index::Primary, "Q").after(Some(cursor.clone()));
    assert!(matches!(t.query(&q).await, Err(TableError::Invalid(_))));
    let q = Query::partition(Index::Primary, "P").after(Some(cursor));
    assert_eq!(sks(&t, q).await, ["b", "c"]);
    for limit in [0, 1001] {
        let q = Query::partition(Index::Primary, "P").limit(limit);
        assert!(matches!(t.query(&q).await, Err(TableError::Invalid(_))));
    }
}

#[tokio::test]
async fn index_entries_move_with_their_keys_and_ties_order_by_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir);
    for pk in ["U#2", "U#1", "U#3"] {
        let i = item(pk, "profile", 1).with_gsi1(IndexKey::new("OU#a", "same"));
        t.put(i, Cond::None).await.unwrap();
    }
    let gsi = |pk: &str| Query::partition(Index::Gsi1, pk);
    let pks = |page: Page| page.items.into_iter().map(|i| i.key.pk).collect::<Vec<_>>();
    assert_eq!(
        pks(t.query(&gsi("OU#a")).await.unwrap()),
        ["U#1", "U#2", "U#3"]
    );
    assert_eq!(
        pks(t.query(&gsi("OU#a").descending()).await.unwrap()),
        ["U#3", "U#2", "U#1"]
    );
    // Paging through ties resumes after the exact entry.
    let first = t.query(&gsi("OU#a").limit(2)).await.unwrap();
    let rest = t.query(&gsi("OU#a").after(first.next)).await.unwrap();
    assert_eq!(pks(rest), ["U#3"]);

    let moved = item("U#2", "profile", 2)
        .with_gsi1(IndexKey::new("OU#b", "same"))
        .with_gsi2(IndexKey::new("ALL", "x"));
    t.put(moved, Cond::Version(1)).await.unwrap();
    assert_eq!(pks(t.query(&gsi("OU#a")).await.unwrap()), ["U#1", "U#3"]);
    assert_eq!(pks(t.query(&gsi("OU#b")).await.unwrap()), ["U#2"]);
    // A transaction and a batch keep the indexes in step too.
    t.transact(vec![TxOp::Delete {
        key: Key::new("U#2", "profile"),
        cond: Cond::Version(2),
    }])
    .await
    .unwrap();
    t.batch_write(vec![BatchOp::Put(item("U#1", "profile", 2))])
        .await
        .unwrap();
    assert!(t.query(&gsi("OU#b")).await.unwrap().items.is_empty());
    assert!(
        t.query(&Query::partition(Index::Gsi2, "ALL"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(pks(t.query(&gsi("OU#a")).await.unwrap()), ["U#3"]);
}

#[tokio::test]
async fn ranges_follow_utf8_byte_order_including_zero_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir);
    let keys = [
        "a",
        "a\0",
        "a\0b",
        "ab",
        "a\u{7f}",
        "aé",
        "a\u{10FFFF}",
        "b",
    ];
    t.batch_write(keys.iter().map(|k| BatchOp::Put(item("P", k, 1))).collect())
        .await
        .unwrap();
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(
        sks(&t, Query::partition(Index::Primary, "P")).await,
        expected
    );
    let prefix = Query::partition(Index::Primary, "P").range(SkRange::Prefix("a\0".into()));
    assert_eq!(sks(&t, prefix).await, ["a\0", "a\0b"]);
    let between =
        Query::partition(Index::Primary, "P").range(SkRange::Between("a\0b".into(), "aé".into()));
    assert_eq!(
        sks(&t, between.descending()).await,
        ["aé", "a\u{7f}", "ab", "a\0b"]
    );
    let backwards =
        Query::partition(Index::Primary, "P").range(SkRange::Between("b".into(), "a".into()));
    assert!(matches!(
        t.query(&backwards).await,
        Err(TableError::Invalid(_))
    ));
}

#[tokio::test]
async fn expiry_follows_the_clock_and_purging_drops_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (t, clock) = open(&dir);
    let lease = item("L", "x", 1)
        .with_ttl(T0 / 1000 + 60)
        .with_gsi1(IndexKey::new("G", "x"));
    t.put(lease, Cond::Absent).await.unwrap();
    assert_eq!(
        t.put(item("L", "x", 1), Cond::Absent).await,
        Err(TableError::ConditionFailed)
    );
    clock.advance_millis(60_000);
    assert_eq!(t.get(&Key::new("L", "x")).await.unwrap(), None);
    assert_eq!(
        t.delete(&Key::new("L", "x"), Cond::Exists).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(t.purge_expired().await.unwrap(), 1);
    let store = t.store.clone();
    let txn = store.db.begin_read().unwrap();
    assert!(txn.open_table(GSI1).unwrap().is_empty().unwrap());
    assert!(txn.open_table(ITEMS).unwrap().is_empty().unwrap());
}

#[tokio::test]
async fn a_failed_transaction_names_every_failed_condition_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir);
    t.put(item("T", "a", 1), Cond::None).await.unwrap();
    let ops = vec![
        TxOp::Put {
            item: item("T", "a", 2),
            cond: Cond::Version(1),
        },
        TxOp::Put {
            item: item("T", "b", 1),
            cond: Cond::Exists,
        },
        TxOp::Check {
            key: Key::new("T", "c"),
            cond: Cond::Version(1),
        },
    ];
    assert_eq!(
        t.transact(ops).await,
        Err(TableError::TransactionCancelled { failed: vec![1, 2] })
    );
    assert_eq!(
        t.get(&Key::new("T", "a")).await.unwrap().unwrap().version,
        1
    );
    assert!(matches!(
        t.transact(Vec::new()).await,
        Err(TableError::Invalid(_))
    ));
}

#[tokio::test]
async fn batches_beyond_one_commit_chunk_are_all_written_and_dupes_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir);
    let ops: Vec<BatchOp> = (0..2500)
        .map(|i| BatchOp::Put(item("B", &format!("{i:05}"), 1)))
        .collect();
    t.batch_write(ops).await.unwrap();
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = t
            .query(
                &Query::partition(Index::Primary, "B")
                    .limit(1000)
                    .after(cursor),
            )
            .await
            .unwrap();
        count += page.items.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(count, 2500);
    let dupes = vec![
        BatchOp::Put(item("D", "x", 1)),
        BatchOp::Delete(Key::new("D", "x")),
    ];
    assert!(matches!(
        t.batch_write(dupes).await,
        Err(TableError::Invalid(_))
    ));
    assert_eq!(t.get(&Key::new("D", "x")).await.unwrap(), None);
}

#[tokio::test]
async fn writes_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (t, _) = open(&dir);
        t.put(
            item("P", "kept", 3).with_gsi2(IndexKey::new("G", "k")),
            Cond::Absent,
        )
        .await
        .unwrap();
    }
    let (t, _) = open(&dir);
    assert_eq!(
        t.get(&Key::new("P", "kept"))
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert_eq!(sks(&t, Query::partition(Index::Gsi2, "G")).await, ["kept"]);
}
