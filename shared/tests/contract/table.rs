//! The `Table` contract: what every engine must do, written once against the port.

use std::sync::Arc;

use dingbridge::ports::{
    BatchOp, Clock, Cond, Index, IndexKey, Item, Key, MAX_ITEM_BYTES, Query, SkRange, SystemClock,
    Table, TableError, TxOp,
};
use serde_json::json;

fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item::new(Key::new(pk, sk), version, json!({"name": sk, "n": version}))
}

fn now() -> i64 {
    SystemClock.now_seconds()
}

pub async fn get_returns_what_put_stored(t: Arc<dyn Table>) {
    let stored = item("P", "a", 1)
        .with_gsi1(IndexKey::new("G1", "x"))
        .with_gsi2(IndexKey::new("G2", "y"))
        .with_ttl(now() + 3600)
        .clone();
    let mut stored = stored;
    stored.data =
        json!({"name": "张三·Zhang", "nested": {"list": [1, 2.5, null, true]}, "empty": ""});
    t.put(stored.clone(), Cond::None).await.unwrap();
    assert_eq!(t.get(&Key::new("P", "a")).await.unwrap(), Some(stored));
    assert_eq!(t.get(&Key::new("P", "b")).await.unwrap(), None);
}

pub async fn conditional_put_conflicts(t: Arc<dyn Table>) {
    t.put(item("P", "a", 1), Cond::Absent).await.unwrap();
    assert_eq!(
        t.put(item("P", "a", 1), Cond::Absent).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(
        t.put(item("P", "a", 3), Cond::Version(2)).await,
        Err(TableError::ConditionFailed)
    );
    t.put(item("P", "a", 2), Cond::Version(1)).await.unwrap();
    assert_eq!(
        t.put(item("P", "missing", 1), Cond::Exists).await,
        Err(TableError::ConditionFailed)
    );
    t.put(item("P", "a", 3), Cond::Exists).await.unwrap();
    assert_eq!(
        t.get(&Key::new("P", "a")).await.unwrap().unwrap().version,
        3
    );
    // A failed condition leaves the stored item untouched.
    assert_eq!(
        t.put(item("P", "a", 9), Cond::Version(1)).await,
        Err(TableError::ConditionFailed)
    );
    assert_eq!(
        t.get(&Key::new("P", "a")).await.unwrap().unwrap().version,
        3
    );
}

pub async fn conditional_delete(t: Arc<dyn Table>) {
    t.put(item("P", "a", 4), Cond::None).await.unwrap();
    assert_eq!(
        t.delete(&Key::new("P", "a"), Cond::Version(3)).await,
        Err(TableError::ConditionFailed)
    );
    t.delete(&Key::new("P", "a"), Cond::Version(4))
        .await
        .unwrap();
    assert_eq!(t.get(&Key::new("P", "a")).await.unwrap(), None);
    assert_eq!(
        t.delete(&Key::new("P", "a"), Cond::Exists).await,
        Err(TableError::ConditionFailed)
    );
    // Unconditional delete of a missing item is fine, as in DynamoDB.
    t.delete(&Key::new("P", "a"), Cond::None).await.unwrap();
}

pub async fn version_race_has_exactly_one_winner(t: Arc<dyn Table>) {
    t.put(item("RACE", "x", 1), Cond::Absent).await.unwrap();
    let writers = (0..8).map(|i| {
        let t = t.clone();
        tokio::spawn(async move {
            let mut next = item("RACE", "x", 2);
            next.data = json!({"writer": i});
            t.put(next, Cond::Version(1)).await
        })
    });
    let results = futures::future::join_all(writers).await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    let losses = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(TableError::ConditionFailed))))
        .count();
    assert_eq!((wins, losses), (1, 7), "{results:?}");
    assert_eq!(
        t.get(&Key::new("RACE", "x"))
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

pub async fn transaction_is_all_or_nothing(t: Arc<dyn Table>) {
    t.put(item("TX", "existing", 1), Cond::None).await.unwrap();
    t.put(item("TX", "doomed", 1), Cond::None).await.unwrap();
    let ops = vec![
        TxOp::Put {
            item: item("TX", "new", 1),
            cond: Cond::Absent,
        },
        TxOp::Delete {
            key: Key::new("TX", "doomed"),
            cond: Cond::Version(1),
        },
        TxOp::Put {
            item: item("TX", "existing", 2),
            cond: Cond::Version(7),
        },
        TxOp::Check {
            key: Key::new("TX", "nothing"),
            cond: Cond::Exists,
        },
    ];
    match t.transact(ops).await {
        Err(TableError::TransactionCancelled { failed }) => assert_eq!(failed, vec![2, 3]),
        other => panic!("expected a cancelled transaction, got {other:?}"),
    }
    assert_eq!(t.get(&Key::new("TX", "new")).await.unwrap(), None);
    assert!(t.get(&Key::new("TX", "doomed")).await.unwrap().is_some());
    assert_eq!(
        t.get(&Key::new("TX", "existing"))
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    let ops = vec![
        TxOp::Put {
            item: item("TX", "new", 1),
            cond: Cond::Absent,
        },
        TxOp::Delete {
            key: Key::new("TX", "doomed"),
            cond: Cond::Version(1),
        },
        TxOp::Put {
            item: item("TX", "existing", 2),
            cond: Cond::Version(1),
        },
        TxOp::Check {
            key: Key::new("TX", "new2"),
            cond: Cond::Absent,
        },
    ];
    t.transact(ops).await.unwrap();
    assert!(t.get(&Key::new("TX", "new")).await.unwrap().is_some());
    assert_eq!(t.get(&Key::new("TX", "doomed")).await.unwrap(), None);
    assert_eq!(
        t.get(&Key::new("TX", "existing"))
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

pub async fn transaction_limits_are_enforced(t: Arc<dyn Table>) {
    let hundred: Vec<TxOp> = (0..100)
        .map(|i| TxOp::Put {
            item: item("TXL", &format!("{i:03}"), 1),
            cond: Cond::Absent,
        })
        .collect();
    t.transact(hundred).await.unwrap();
    let page = t
        .query(&Query::partition(Index::Primary, "TXL").limit(1000))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 100);

    let too_many: Vec<TxOp> = (0..101)
        .map(|i| TxOp::Put {
            item: item("TXM", &format!("{i:03}"), 1),
            cond: Cond::None,
        })
        .collect();
    assert!(matches!(
        t.transact(too_many).await,
        Err(TableError::Invalid(_))
    ));
    let twice = vec![
        TxOp::Put {
            item: item("TXM", "a", 1),
            cond: Cond::None,
        },
        TxOp::Delete {
            key: Key::new("TXM", "a"),
            cond: Cond::None,
        },
    ];
    assert!(matches!(
        t.transact(twice).await,
        Err(TableError::Invalid(_))
    ));
    let page = t
        .query(&Query::partition(Index::Primary, "TXM"))
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

pub async fn queries_select_by_range_and_order(t: Arc<dyn Table>) {
    for sk in ["a#1", "a#2", "b#1", "b#2", "c"] {
        t.put(item("Q", sk, 1), Cond::None).await.unwrap();
    }
    t.put(item("Q2", "a#1", 1), Cond::None).await.unwrap();
    let sks = |page: dingbridge::ports::Page| -> Vec<String> {
        page.items.into_iter().map(|i| i.key.sk).collect()
    };
    let q = |range| Query::partition(Index::Primary, "Q").range(range);
    assert_eq!(
        sks(t.query(&q(SkRange::All)).await.unwrap()),
        ["a#1", "a#2", "b#1", "b#2", "c"]
    );
    assert_eq!(
        sks(t.query(&q(SkRange::Prefix("b#".into()))).await.unwrap()),
        ["b#1", "b#2"]
    );
    assert_eq!(
        sks(t
            .query(&q(SkRange::Between("a#2".into(), "b#1".into())))
            .await
            .unwrap()),
        ["a#2", "b#1"]
    );
    assert_eq!(
        sks(t.query(&q(SkRange::From("b#2".into()))).await.unwrap()),
        ["b#2", "c"]
    );
    assert_eq!(
        sks(t
            .query(&q(SkRange::Prefix("a#".into())).descending())
            .await
            .unwrap()),
        ["a#2", "a#1"]
    );
    assert!(matches!(
        t.query(&q(SkRange::All).limit(0)).await,
        Err(TableError::Invalid(_))
    ));
}

pub async fn pagination_returns_every_item_once(t: Arc<dyn Table>) {
    let ops: Vec<BatchOp> = (0..57)
        .map(|i| BatchOp::Put(item("PG", &format!("{i:03}"), 1)))
        .collect();
    t.batch_write(ops).await.unwrap();
    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let mut q = Query::partition(Index::Primary, "PG")
                .limit(10)
                .after(cursor.take());
            q.descending = descending;
            let page = t.query(&q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 10);
            seen.extend(page.items.into_iter().map(|i| i.key.sk));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 20, "pagination does not end");
        }
        let mut expected: Vec<String> = (0..57).map(|i| format!("{i:03}")).collect();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected);
        assert!((6..=7).contains(&pages), "{pages} pages");
    }
    let garbage = Query::partition(Index::Primary, "PG").after(Some("%%not-a-cursor%%".into()));
    assert!(matches!(
        t.query(&garbage).await,
        Err(TableError::Invalid(_))
    ));
}

pub async fn secondary_indexes_follow_their_keys(t: Arc<dyn Table>) {
    let with = |sk: &str, g1: Option<(&str, &str)>, g2: Option<(&str, &str)>| {
        let mut i = item("E", sk, 1);
        i.gsi1 = g1.map(|(p, s)| IndexKey::new(p, s));
        i.gsi2 = g2.map(|(p, s)| IndexKey::new(p, s));
        i
    };
    t.put(
        with("u1", Some(("OU#1", "bob")), Some(("ALL", "bob"))),
        Cond::None,
    )
    .await
    .unwrap();
    t.put(
        with("u2", Some(("OU#1", "alice")), Some(("ALL", "alice"))),
        Cond::None,
    )
    .await
    .unwrap();
    t.put(with("u3", Some(("OU#2", "carol")), None), Cond::None)
        .await
        .unwrap();
    let keys = |page: dingbridge::ports::Page| -> Vec<String> {
        page.items.into_iter().map(|i| i.key.sk).collect()
    };
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi1, "OU#1"))
                .await
                .unwrap()
        ),
        ["u2", "u1"]
    );
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi2, "ALL"))
                .await
                .unwrap()
        ),
        ["u2", "u1"]
    );
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi1, "OU#1").range(SkRange::Prefix("b".into())))
                .await
                .unwrap()
        ),
        ["u1"]
    );
    // Moving an item's index key moves it between index partitions; removing it drops it.
    t.put(with("u1", Some(("OU#2", "bob")), None), Cond::Version(1))
        .await
        .unwrap();
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi1, "OU#1"))
                .await
                .unwrap()
        ),
        ["u2"]
    );
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi1, "OU#2"))
                .await
                .unwrap()
        ),
        ["u1", "u3"]
    );
    assert_eq!(
        keys(
            t.query(&Query::partition(Index::Gsi2, "ALL"))
                .await
                .unwrap()
        ),
        ["u2"]
    );
    t.delete(&Key::new("E", "u2"), Cond::None).await.unwrap();
    assert!(
        t.query(&Query::partition(Index::Gsi1, "OU#1"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn expired_items_are_invisible(t: Arc<dyn Table>) {
    let past = now() - 10;
    t.put(
        item("TTL", "old", 1)
            .with_ttl(past)
            .with_gsi1(IndexKey::new("TTLG", "old")),
        Cond::None,
    )
    .await
    .unwrap();
    t.put(
        item("TTL", "live", 1)
            .with_ttl(now() + 3600)
            .with_gsi1(IndexKey::new("TTLG", "live")),
        Cond::None,
    )
    .await
    .unwrap();
    assert_eq!(t.get(&Key::new("TTL", "old")).await.unwrap(), None);
    let page = t
        .query(&Query::partition(Index::Primary, "TTL"))
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|i| i.key.sk.as_str())
            .collect::<Vec<_>>(),
        ["live"]
    );
    let page = t
        .query(&Query::partition(Index::Gsi1, "TTLG"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // An expired item is absent for conditions: a lease can be re-taken, an old version cannot be matched.
    assert_eq!(
        t.put(item("TTL", "old", 2), Cond::Version(1)).await,
        Err(TableError::ConditionFailed)
    );
    t.put(item("TTL", "old", 1), Cond::Absent).await.unwrap();
    assert!(t.get(&Key::new("TTL", "old")).await.unwrap().is_some());
}

pub async fn batch_writes_any_count(t: Arc<dyn Table>) {
    let puts: Vec<BatchOp> = (0..130)
        .map(|i| BatchOp::Put(item("B", &format!("{i:04}"), 1)))
        .collect();
    t.batch_write(puts).await.unwrap();
    let page = t
        .query(&Query::partition(Index::Primary, "B").limit(1000))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 130);
    let deletes: Vec<BatchOp> = (0..100)
        .map(|i| BatchOp::Delete(Key::new("B", format!("{i:04}"))))
        .collect();
    t.batch_write(deletes).await.unwrap();
    let page = t
        .query(&Query::partition(Index::Primary, "B").limit(1000))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 30);
    assert_eq!(page.items[0].key.sk, "0100");
}

pub async fn oversized_items_are_refused(t: Arc<dyn Table>) {
    let mut big = item("BIG", "x", 1);
    big.data = json!({"blob": "x".repeat(MAX_ITEM_BYTES + 1)});
    assert!(matches!(
        t.put(big, Cond::None).await,
        Err(TableError::Invalid(_))
    ));
    assert_eq!(t.get(&Key::new("BIG", "x")).await.unwrap(), None);
}
