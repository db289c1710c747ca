//! The ports the domain needs from the outside world: `Table` (a DynamoDB-shaped key-value table),
//! `Queue` / `QueueConsumer` (an SQS-FIFO-shaped queue), `Clock`, `Secrets` (`ports/secrets.rs`) and
//! `DingTalk` (`ports/dingtalk.rs`). Ports import nothing but the domain.
//! Engines live in `adapters/`; one contract-test suite (`shared/tests/contract`) holds every engine
//! to the same semantics.

mod dingtalk;
mod secrets;
pub use secrets::{DeploymentSecret, Secrets, SecretsError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest page a query may ask for (the engines refuse more; a DynamoDB page stops at 1 MB).
pub const MAX_QUERY_LIMIT: usize = 1000;
/// DynamoDB's limit on items in one `TransactWriteItems` call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB's limit on requests in one `BatchWriteItem` call.
pub const MAX_BATCH_WRITE_ITEMS: usize = 25;
/// SQS's limit on entries in one `SendMessageBatch` call.
pub const MAX_SEND_BATCH: usize = 10;
/// DynamoDB's limit on the size of one item; the engines refuse larger items alike.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The primary key of an item: partition key and sort key (both strings, as in `docs/table-design.md`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A key on one of the two overloaded global secondary indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item. `data` is the entity's JSON document; the key attributes, `version` and `ttl`
/// are first-class so every engine can index, condition and expire on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: Key,
    /// Monotonic per item; stored as given. Repositories write `old.version + 1` conditioned on `old.version`.
    pub version: u64,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    /// Expiry in epoch seconds (DynamoDB's TTL unit). Expired items are invisible to every read.
    pub ttl: Option<i64>,
    pub data: serde_json::Value,
}

impl Item {
    pub fn new(key: Key, version: u64, data: serde_json::Value) -> Self {
        Self {
            key,
            version,
            gsi1: None,
            gsi2: None,
            ttl: None,
            data,
        }
    }

    pub fn with_gsi1(mut self, key: IndexKey) -> Self {
        self.gsi1 = Some(key);
        self
    }

    pub fn with_gsi2(mut self, key: IndexKey) -> Self {
        self.gsi2 = Some(key);
        self
    }

    pub fn with_ttl(mut self, epoch_seconds: i64) -> Self {
        self.ttl = Some(epoch_seconds);
        self
    }

    /// True when the item has a TTL at or before `now_epoch_seconds`.
    pub fn is_expired(&self, now_epoch_seconds: i64) -> bool {
        self.ttl.is_some_and(|t| t <= now_epoch_seconds)
    }
}

/// The condition a write is applied under. An expired item counts as absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cond {
    /// Unconditional.
    #[default]
    None,
    /// No live item has this key.
    Absent,
    /// A live item exists (any version).
    Exists,
    /// A live item exists and its version equals N.
    Version(u64),
}

/// Which index a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

/// Which sort keys of the partition a query returns (UTF-8 byte order, as DynamoDB sorts strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// Inclusive on both ends, like DynamoDB's `BETWEEN`.
    Between(String, String),
    /// `sk >= from`.
    From(String),
}

impl SkRange {
    pub fn contains(&self, sk: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(p) => sk.starts_with(p.as_str()),
            Self::Between(a, b) => a.as_str() <= sk && sk <= b.as_str(),
            Self::From(a) => a.as_str() <= sk,
        }
    }
}

/// A paginated query of one partition.
#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub range: SkRange,
    /// Page size (1..=1000); a page may hold fewer items than this and still have a next page.
    pub limit: usize,
    pub descending: bool,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            range: SkRange::All,
            limit: 100,
            descending: false,
            cursor: None,
        }
    }

    pub fn range(mut self, range: SkRange) -> Self {
        self.range = range;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query; `next` is an opaque cursor, `None` on the last page.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum TxOp {
    Put {
        item: Item,
        cond: Cond,
    },
    Delete {
        key: Key,
        cond: Cond,
    },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check {
        key: Key,
        cond: Cond,
    },
}

impl TxOp {
    pub fn key(&self) -> &Key {
        match self {
            Self::Put { item, .. } => &item.key,
            Self::Delete { key, .. } | Self::Check { key, .. } => key,
        }
    }
}

/// One write of a batch: unconditional, like DynamoDB's `BatchWriteItem`.
#[derive(Clone, Debug)]
pub enum BatchOp {
    Put(Item),
    Delete(Key),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// The write's condition did not hold; nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; `failed` lists the indexes of the operations whose condition failed.
    /// Nothing was written.
    #[error("transaction cancelled (conditions failed at {failed:?})")]
    TransactionCancelled { failed: Vec<usize> },
    /// The request itself is wrong (too many items, an item too large, two writes to one key, a bad cursor).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Throttling, a timeout, a conflict with a concurrent transaction: the same call may succeed later.
    #[error("transient storage error: {0}")]
    Transient(String),
    /// Anything else the engine reports.
    #[error("storage error: {0}")]
    Permanent(String),
}

impl TableError {
    /// Throttling or a timeout: the same call may succeed later. Everything else stays as it
    /// is until something changes.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A DynamoDB-shaped table. Every read hides expired items; every conditional write treats them as absent.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;
    async fn put(&self, item: Item, cond: Cond) -> Result<(), TableError>;
    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), TableError>;
    async fn query(&self, query: &Query) -> Result<Page, TableError>;
    /// All or nothing, at most [`MAX_TRANSACTION_ITEMS`] operations, each key at most once.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError>;
    /// Any number of unconditional writes; engines chunk to [`MAX_BATCH_WRITE_ITEMS`] and retry
    /// unprocessed items. Not atomic as a whole.
    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<(), TableError>;
    /// A short name for `/healthz` and logs (`embedded`, `dynamodb`).
    fn engine(&self) -> &'static str;
}

/// A message for a FIFO queue: delivered in order within its group, at most once per
/// deduplication id inside the queue's deduplication window (5 minutes, as SQS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    pub group: String,
    pub dedup_id: String,
    pub body: String,
}

impl OutMessage {
    pub fn new(
        group: impl Into<String>,
        dedup_id: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            dedup_id: dedup_id.into(),
            body: body.into(),
        }
    }
}

/// A message as a consumer receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Stable across deliveries of the same message (SQS `MessageId`).
    pub id: String,
    /// Valid for this delivery only (SQS `ReceiptHandle`).
    pub receipt: String,
    pub group: String,
    pub body: String,
    /// 1 on the first delivery (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("transient queue error: {0}")]
    Transient(String),
    #[error("queue error: {0}")]
    Permanent(String),
}

impl QueueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// The sending side of a queue; consumption is the function's trigger on Lambda.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: OutMessage) -> Result<(), QueueError>;
    /// Engines chunk to [`MAX_SEND_BATCH`]; an error means some messages may not have been sent,
    /// and sending them again is safe (deduplication ids).
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), QueueError>;
    fn engine(&self) -> &'static str;
}

/// The receiving side, as SQS with a redrive policy: what Lambda's event source mapping does for us
/// on AWS, `infra/local` does with this trait, and the contract tests check both.
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Up to `max` visible messages, hidden for `visibility` afterwards. A message received more than
    /// the queue's max-receives times goes to its dead-letter queue instead of being returned.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError>;
    /// Acknowledge (delete) one delivered message.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// Make a delivered message visible again after `delay` (zero = now).
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
    /// Messages in the dead-letter queue, oldest first, without removing them.
    async fn dead_letters(&self, max: usize) -> Result<Vec<Received>, QueueError>;
}

/// Wall-clock time, as a port so that expiry and scheduling are testable.
pub trait Clock: Send + Sync {
    fn now_millis(&self) -> i64;
    fn now_seconds(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }
}

// --- DingTalk ---------------------------------------------------------------------------------
// `ports/dingtalk.rs`, in the domain's terms; `dingtalk::HttpDingTalk` is the real implementation
// (tests point it at the simulator).
pub use dingtalk::{DingTalk, MAX_PAGE_SIZE};
