//! `EmbeddedTable`: the `Table` port on redb with DynamoDB's semantics — conditional writes, TTL,
//! two overloaded GSIs kept in step on every write, paginated partition queries, transactions.

use super::codec::{self, Header};
use super::query::ScanPlan;
use super::{StoreInner, blocking, table_storage};
use crate::ports::{
    BatchOp, Clock, Cond, Item, Key, MAX_TRANSACTION_ITEMS, Page, Query, Table, TableError, TxOp,
};
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::collections::HashSet;
use std::sync::Arc;

/// Primary table: `codec::primary_key` → `codec::encode_item`.
pub(super) const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("table.items");
/// Index tables: `codec::index_key` → the primary key of the item (the item is stored once).
pub(super) const GSI1: TableDefinition<&[u8], &[u8]> = TableDefinition::new("table.gsi1");
pub(super) const GSI2: TableDefinition<&[u8], &[u8]> = TableDefinition::new("table.gsi2");

/// Writes per redb transaction in `batch_write`. DynamoDB's 25 is a wire limit; here each commit
/// costs an fsync, so bigger chunks are what makes bulk loads fast, and 1000 bounds the dirty pages.
const BATCH_COMMIT_ITEMS: usize = 1000;

/// Creates the tables up front so that read transactions never meet a missing table.
pub(super) fn create_tables(db: &Database) -> Result<(), TableError> {
    let txn = db.begin_write().map_err(table_storage)?;
    for def in [ITEMS, GSI1, GSI2] {
        txn.open_table(def).map_err(table_storage)?;
    }
    txn.commit().map_err(table_storage)
}

/// The `Table` port on the shared embedded store.
#[derive(Clone)]
pub struct EmbeddedTable {
    store: Arc<StoreInner>,
    clock: Arc<dyn Clock>,
}

impl EmbeddedTable {
    pub(super) fn new(store: Arc<StoreInner>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Deletes expired items (and their index entries), as DynamoDB's TTL sweeper does in the
    /// background; reads already hide them, this only reclaims space. Returns how many went.
    pub async fn purge_expired(&self) -> Result<usize, TableError> {
        let now = self.clock.now_seconds();
        self.write(move |txn| {
            let mut t = Tables::open(txn)?;
            let mut expired = Vec::new();
            for entry in t.items.iter().map_err(table_storage)? {
                let (k, v) = entry.map_err(table_storage)?;
                let (header, _) = codec::decode_header(v.value())?;
                if header.is_expired(now) {
                    expired.push((k.value().to_vec(), header));
                }
            }
            let count = expired.len();
            for (key, header) in expired {
                t.remove(&key, &header)?;
            }
            Ok(count)
        })
        .await
    }

    /// One redb write transaction: committed (fsynced) if `work` succeeds, aborted otherwise.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> Result<R, TableError> + Send + 'static,
    ) -> Result<R, TableError> {
        let store = self.store.clone();
        blocking(
            move || {
                let txn = store.db.begin_write().map_err(table_storage)?;
                match work(&txn) {
                    Ok(r) => {
                        txn.commit().map_err(table_storage)?;
                        Ok(r)
                    }
                    Err(e) => {
                        txn.abort().map_err(table_storage)?;
                        Err(e)
                    }
                }
            },
            TableError::Permanent,
        )
        .await
    }
}

/// The three redb tables, open in one write transaction.
struct Tables<'t> {
    items: redb::Table<'t, &'static [u8], &'static [u8]>,
    gsi1: redb::Table<'t, &'static [u8], &'static [u8]>,
    gsi2: redb::Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, TableError> {
        Ok(Self {
            items: txn.open_table(ITEMS).map_err(table_storage)?,
            gsi1: txn.open_table(GSI1).map_err(table_storage)?,
            gsi2: txn.open_table(GSI2).map_err(table_storage)?,
        })
    }

    /// The stored item's header, expired or not (an expired item still owns index entries).
    fn stored(&self, key: &[u8]) -> Result<Option<Header>, TableError> {
        match self.items.get(key).map_err(table_storage)? {
            Some(v) => Ok(Some(codec::decode_header(v.value())?.0)),
            None => Ok(None),
        }
    }

    /// Writes `item` over whatever `old` was, moving its index entries if their keys changed.
    fn put(
        &mut self,
        key: &[u8],
        value: &[u8],
        item: &Item,
        old: Option<&Header>,
    ) -> Result<(), TableError> {
        let (old1, old2) = old.map_or((None, None), |h| (h.gsi1.as_ref(), h.gsi2.as_ref()));
        for (index, old_key, new_key) in [
            (&mut self.gsi1, old1, item.gsi1.as_ref()),
            (&mut self.gsi2, old2, item.gsi2.as_ref()),
        ] {
            if old_key == new_key {
                continue;
            }
            if let Some(o) = old_key {
                index
                    .remove(codec::index_key(o, &item.key).as_slice())
                    .map_err(table_storage)?;
            }
            if let Some(n) = new_key {
                index
                    .insert(codec::index_key(n, &item.key).as_slice(), key)
                    .map_err(table_storage)?;
            }
        }
        self.items.insert(key, value).map_err(table_storage)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8], old: &Header) -> Result<(), TableError> {
        if let Some(o) = &old.gsi1 {
            self.gsi1
                .remove(codec::index_key(o, &old.key).as_slice())
                .map_err(table_storage)?;
        }
        if let Some(o) = &old.gsi2 {
            self.gsi2
                .remove(codec::index_key(o, &old.key).as_slice())
                .map_err(table_storage)?;
        }
        self.items.remove(key).map_err(table_storage)?;
        Ok(())
    }
}

/// Whether `cond` holds against the stored item; an expired item counts as absent.
fn holds(cond: Cond, stored: Option<&Header>, now_seconds: i64) -> bool {
    let live = stored.filter(|h| !h.is_expired(now_seconds));
    match cond {
        Cond::None => true,
        Cond::Absent => live.is_none(),
        Cond::Exists => live.is_some(),
        Cond::Version(v) => live.is_some_and(|h| h.version == v),
    }
}

/// A write validated and encoded before its transaction starts, so the transaction only does I/O.
enum Prepared {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        item: Item,
        cond: Cond,
    },
    Delete {
        key: Vec<u8>,
        cond: Cond,
    },
    Check {
        key: Vec<u8>,
        cond: Cond,
    },
}

impl Prepared {
    fn from_tx(op: TxOp) -> Result<Self, TableError> {
        Ok(match op {
            TxOp::Put { item, cond } => Self::Put {
                key: codec::primary_key(&item.key),
                value: codec::encode_item(&item)?,
                item,
                cond,
            },
            TxOp::Delete { key, cond } => Self::Delete {
                key: codec::primary_key(&key),
                cond,
            },
            TxOp::Check { key, cond } => Self::Check {
                key: codec::primary_key(&key),
                cond,
            },
        })
    }

    fn from_batch(op: BatchOp) -> Result<Self, TableError> {
        Self::from_tx(match op {
            BatchOp::Put(item) => TxOp::Put {
                item,
                cond: Cond::None,
            },
            BatchOp::Delete(key) => TxOp::Delete {
                key,
                cond: Cond::None,
            },
        })
    }

    fn key(&self) -> &[u8] {
        match self {
            Self::Put { key, .. } | Self::Delete { key, .. } | Self::Check { key, .. } => key,
        }
    }

    fn cond(&self) -> Cond {
        match self {
            Self::Put { cond, .. } | Self::Delete { cond, .. } | Self::Check { cond, .. } => *cond,
        }
    }

    fn apply(&self, t: &mut Tables<'_>, stored: Option<&Header>) -> Result<(), TableError> {
        match self {
            Self::Put {
                key, value, item, ..
            } => t.put(key, value, item, stored),
            Self::Delete { key, .. } => match stored {
                Some(old) => t.remove(key, old),
                None => Ok(()),
            },
            Self::Check { .. } => Ok(()),
        }
    }
}

/// Validates the shared rule of transactions and batches: one write per key per request.
fn distinct_keys<'a>(keys: impl Iterator<Item = &'a [u8]>, what: &str) -> Result<(), TableError> {
    let mut seen = HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(TableError::Invalid(format!(
                "{what} touches the same key twice"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        let store = self.store.clone();
        let key = codec::primary_key(key);
        let now = self.clock.now_seconds();
        blocking(
            move || {
                let txn = store.db.begin_read().map_err(table_storage)?;
                let items = txn.open_table(ITEMS).map_err(table_storage)?;
                let Some(v) = items.get(key.as_slice()).map_err(table_storage)? else {
                    return Ok(None);
                };
                let item = codec::decode_item(v.value())?;
                Ok((!item.is_expired(now)).then_some(item))
            },
            TableError::Permanent,
        )
        .await
    }

    async fn put(&self, item: Item, cond: Cond) -> Result<(), TableError> {
        let op = Prepared::from_tx(TxOp::Put { item, cond })?;
        let now = self.clock.now_seconds();
        self.write(move |txn| {
            let mut t = Tables::open(txn)?;
            let stored = t.stored(op.key())?;
            if !holds(op.cond(), stored.as_ref(), now) {
                return Err(TableError::ConditionFailed);
            }
            op.apply(&mut t, stored.as_ref())
        })
        .await
    }

    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), TableError> {
        let op = Prepared::from_tx(TxOp::Delete {
            key: key.clone(),
            cond,
        })?;
        let now = self.clock.now_seconds();
        self.write(move |txn| {
            let mut t = Tables::open(txn)?;
            let stored = t.stored(op.key())?;
            if !holds(op.cond(), stored.as_ref(), now) {
                return Err(TableError::ConditionFailed);
            }
            op.apply(&mut t, stored.as_ref())
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let plan = ScanPlan::new(query)?;
        let store = self.store.clone();
        let now = self.clock.now_seconds();
        blocking(move || plan.run(&store.db, now), TableError::Permanent).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        if ops.is_empty() || ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(TableError::Invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACTION_ITEMS} operations, not {}",
                ops.len()
            )));
        }
        let ops = ops
            .into_iter()
            .map(Prepared::from_tx)
            .collect::<Result<Vec<_>, _>>()?;
        distinct_keys(ops.iter().map(Prepared::key), "a transaction")?;
        let now = self.clock.now_seconds();
        self.write(move |txn| {
            let mut t = Tables::open(txn)?;
            // Keys are distinct, so checking every condition before the first write checks each
            // against the state before the transaction, as DynamoDB does.
            let mut stored = Vec::with_capacity(ops.len());
            let mut failed = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let header = t.stored(op.key())?;
                if !holds(op.cond(), header.as_ref(), now) {
                    failed.push(i);
                }
                stored.push(header);
            }
            if !failed.is_empty() {
                return Err(TableError::TransactionCancelled { failed });
            }
            for (op, header) in ops.iter().zip(&stored) {
                op.apply(&mut t, header.as_ref())?;
            }
            Ok(())
        })
        .await
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<(), TableError> {
        let ops = ops
            .into_iter()
            .map(Prepared::from_batch)
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB refuses a BatchWriteItem call naming one key twice; the AWS engine sends
        // chunks of 25 in order, so the same chunks are checked here, all before writing any.
        for chunk in ops.chunks(crate::ports::MAX_BATCH_WRITE_ITEMS) {
            distinct_keys(chunk.iter().map(Prepared::key), "a batch of 25 writes")?;
        }
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            let chunk: Vec<Prepared> = ops.by_ref().take(BATCH_COMMIT_ITEMS).collect();
            self.write(move |txn| {
                let mut t = Tables::open(txn)?;
                for op in &chunk {
                    let stored = t.stored(op.key())?;
                    op.apply(&mut t, stored.as_ref())?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    fn engine(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::EmbeddedStore;
    use super::super::test_clock::TestClock;
    use super::*;
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
        let between = Query::partition(Index::Primary, "P")
            .range(SkRange::Between("a\0b".into(), "aé".into()));
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
}
