//! `EmbeddedTable`: the `Table` port on redb with DynamoDB's semantics — conditional writes, TTL,
//! two overloaded GSIs kept in step on every write, paginated partition queries, transactions.

use super::codec::{self, Header};
use super::commit::Cost;
use super::query::ScanPlan;
use super::{StoreInner, blocking, table_storage};
use crate::ports::{
    BatchOp, Clock, Cond, IndexKey, Item, Key, MAX_TRANSACTION_ITEMS, Page, Query, Table,
    TableError, TxOp,
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
        self.write(Cost::one(0), move |txn| {
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

    /// Runs `work` in the store's next group commit (see `commit`): its writes are durable when
    /// this returns `Ok`. A refused condition or request writes nothing and fails only this call.
    async fn write<R: Send + 'static>(
        &self,
        cost: Cost,
        mut work: impl FnMut(&WriteTransaction) -> Result<R, TableError> + Send + 'static,
    ) -> Result<R, TableError> {
        self.store
            .writer
            .run(
                cost,
                move |txn| work(txn).map(|r| (true, r)),
                refused_before_writing,
                TableError::Permanent,
            )
            .await
    }
}

/// The errors the table's writes raise after checking and before writing: conditions and invalid
/// requests. Anything else (storage, corruption) may come mid-write.
fn refused_before_writing(e: &TableError) -> bool {
    matches!(
        e,
        TableError::ConditionFailed
            | TableError::TransactionCancelled { .. }
            | TableError::Invalid(_)
    )
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
        new_index_keys: &IndexKeys,
        old: Option<&Header>,
    ) -> Result<(), TableError> {
        let old_index_keys = old.map(index_keys).unwrap_or_default();
        for (index, old_key, new_key) in [
            (&mut self.gsi1, &old_index_keys[0], &new_index_keys[0]),
            (&mut self.gsi2, &old_index_keys[1], &new_index_keys[1]),
        ] {
            if old_key == new_key {
                continue;
            }
            if let Some(o) = old_key {
                index.remove(o.as_slice()).map_err(table_storage)?;
            }
            if let Some(n) = new_key {
                index.insert(n.as_slice(), key).map_err(table_storage)?;
            }
        }
        self.items.insert(key, value).map_err(table_storage)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8], old: &Header) -> Result<(), TableError> {
        let [gsi1, gsi2] = index_keys(old);
        if let Some(k) = gsi1 {
            self.gsi1.remove(k.as_slice()).map_err(table_storage)?;
        }
        if let Some(k) = gsi2 {
            self.gsi2.remove(k.as_slice()).map_err(table_storage)?;
        }
        self.items.remove(key).map_err(table_storage)?;
        Ok(())
    }
}

/// An item's entries in GSI1 and GSI2, if it has those keys.
type IndexKeys = [Option<Vec<u8>>; 2];

fn index_keys_of(key: &Key, gsi1: Option<&IndexKey>, gsi2: Option<&IndexKey>) -> IndexKeys {
    [
        gsi1.map(|g| codec::index_key(g, key)),
        gsi2.map(|g| codec::index_key(g, key)),
    ]
}

fn index_keys(h: &Header) -> IndexKeys {
    index_keys_of(&h.key, h.gsi1.as_ref(), h.gsi2.as_ref())
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
        index_keys: IndexKeys,
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
                index_keys: index_keys_of(&item.key, item.gsi1.as_ref(), item.gsi2.as_ref()),
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

    /// Roughly what the op writes, for bounding commit groups.
    fn bytes(&self) -> usize {
        match self {
            Self::Put { key, value, .. } => key.len() + value.len(),
            Self::Delete { key, .. } | Self::Check { key, .. } => key.len(),
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
                key,
                value,
                index_keys,
                ..
            } => t.put(key, value, index_keys, stored),
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
        self.write(Cost::one(op.bytes()), move |txn| {
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
        self.write(Cost::one(op.bytes()), move |txn| {
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
        let cost = Cost {
            ops: ops.len(),
            bytes: ops.iter().map(Prepared::bytes).sum(),
        };
        self.write(cost, move |txn| {
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
            let cost = Cost {
                ops: chunk.len(),
                bytes: chunk.iter().map(Prepared::bytes).sum(),
            };
            self.write(cost, move |txn| {
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
mod tests;
