//! `EmbeddedQueue`: the `Queue` and `QueueConsumer` ports on redb with SQS FIFO semantics —
//! per-group order, one in-flight batch per group, deduplication window, visibility timeout,
//! receive counting and a dead-letter list (SQS redrive) — persisted across restarts.

use super::commit::Cost;
use super::{StoreInner, blocking};
use crate::ports::{Clock, OutMessage, Queue, QueueConsumer, QueueError, Received};
use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Next sequence number per queue name. Sequence numbers order messages and never repeat.
const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("queue.sequences");
/// SQS's limits on a FIFO message (`SendMessage` API reference).
const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_ID_CHARS: usize = 128;
/// Sends between two sweeps of expired deduplication ids.
const DEDUP_SWEEP_EVERY: u64 = 512;
/// Receipts of dead letters start with this, so `ack` can discard one (an admin "delete").
const DEAD_RECEIPT_PREFIX: &str = "dead.";

/// How a queue redrives and deduplicates: SQS's `maxReceiveCount` and FIFO deduplication interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Deliveries before a message goes to the dead-letter list instead (0 is treated as 1, as
    /// SQS's minimum).
    pub max_receives: u32,
    pub dedup_window: Duration,
}

impl Default for QueueSettings {
    /// Five deliveries and SQS's fixed five-minute deduplication interval.
    fn default() -> Self {
        Self {
            max_receives: 5,
            dedup_window: Duration::from_secs(300),
        }
    }
}

/// A FIFO queue in the embedded store; clones share the queue.
///
/// Receipts follow SQS: each delivery gets a new one, and acking or releasing with the receipt of
/// an older delivery succeeds without effect (SQS: "the request succeeds, but the message will not
/// be deleted"); a string that is no receipt at all is `Invalid`. One `receive` may return several
/// messages of one group, in order, as SQS does; the group then delivers nothing more until all of
/// them are acked or visible again.
#[derive(Clone)]
pub struct EmbeddedQueue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    store: Arc<StoreInner>,
    name: String,
    messages: String,
    dead: String,
    dedup: String,
    settings: QueueSettings,
    clock: Arc<dyn Clock>,
    wakeup: Arc<Notify>,
}

/// A message as stored, in the main table or the dead-letter table, keyed by its sequence number.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    group: String,
    body: String,
    receive_count: u32,
    /// Epoch ms before which the message is in flight (received or released with a delay).
    visible_at: i64,
    /// The current delivery's receipt token; 0 before the first delivery.
    token: u64,
}

impl QueueInner {
    fn messages_def(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.messages)
    }

    fn dead_def(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.dead)
    }

    fn dedup_def(&self) -> TableDefinition<'_, &'static str, i64> {
        TableDefinition::new(&self.dedup)
    }

    /// Runs `work` in the store's next group commit (see `commit`): durable when this returns
    /// `Ok`. `work` returns whether it changed anything; a group that changed nothing is aborted,
    /// so an empty poll costs no fsync. An invalid receipt is refused before anything is written.
    async fn write<R: Send + 'static>(
        self: &Arc<Self>,
        cost: Cost,
        mut work: impl FnMut(&Self, &WriteTransaction) -> Result<(bool, R), QueueError> + Send + 'static,
    ) -> Result<R, QueueError> {
        let q = self.clone();
        self.store
            .writer
            .run(
                cost,
                move |txn| work(&q, txn),
                |e| matches!(e, QueueError::Invalid(_)),
                QueueError::Permanent,
            )
            .await
    }

    /// Appends the messages not dropped by deduplication; returns how many were appended.
    fn append(&self, txn: &WriteTransaction, batch: &[OutMessage]) -> Result<usize, QueueError> {
        let now = self.clock.now_millis();
        let window = millis(self.settings.dedup_window);
        let mut messages = txn.open_table(self.messages_def()).map_err(storage)?;
        let mut dedup = txn.open_table(self.dedup_def()).map_err(storage)?;
        let mut sequences = txn.open_table(SEQUENCES).map_err(storage)?;
        let mut seq = sequences
            .get(self.name.as_str())
            .map_err(storage)?
            .map_or(1, |g| g.value());
        let first = seq;
        let mut appended = 0;
        for m in batch {
            let duplicate = dedup
                .get(m.dedup_id.as_str())
                .map_err(storage)?
                .is_some_and(|until| until.value() > now);
            if duplicate {
                continue;
            }
            dedup
                .insert(m.dedup_id.as_str(), now.saturating_add(window))
                .map_err(storage)?;
            let stored = Stored {
                id: uuid::Uuid::now_v7().to_string(),
                group: m.group.clone(),
                body: m.body.clone(),
                receive_count: 0,
                visible_at: 0,
                token: 0,
            };
            messages
                .insert(seq, encode(&stored)?.as_slice())
                .map_err(storage)?;
            seq += 1;
            appended += 1;
        }
        sequences.insert(self.name.as_str(), seq).map_err(storage)?;
        if first / DEDUP_SWEEP_EVERY != seq / DEDUP_SWEEP_EVERY {
            dedup.retain(|_, until| until > now).map_err(storage)?;
        }
        Ok(appended)
    }

    fn receive(
        &self,
        txn: &WriteTransaction,
        max: usize,
        visibility: Duration,
    ) -> Result<(bool, Vec<Received>), QueueError> {
        let now = self.clock.now_millis();
        let max_receives = self.settings.max_receives.max(1);
        let mut messages = txn.open_table(self.messages_def()).map_err(storage)?;
        // Groups with a message in flight before this call: nothing more of them is delivered.
        let mut locked: HashSet<String> = HashSet::new();
        let mut deliver = Vec::new();
        let mut dead = Vec::new();
        for entry in messages.iter().map_err(storage)? {
            let (seq, value) = entry.map_err(storage)?;
            let m: Stored = decode(value.value())?;
            if locked.contains(&m.group) {
                continue;
            }
            if m.visible_at > now {
                locked.insert(m.group);
                continue;
            }
            if m.receive_count >= max_receives {
                dead.push((seq.value(), m));
                continue;
            }
            deliver.push((seq.value(), m));
            if deliver.len() == max {
                break;
            }
        }
        let changed = !(deliver.is_empty() && dead.is_empty());
        if !dead.is_empty() {
            let mut dead_table = txn.open_table(self.dead_def()).map_err(storage)?;
            for (seq, m) in &dead {
                messages.remove(seq).map_err(storage)?;
                // The original sequence number keeps dead letters oldest-first and, on re-drive,
                // puts them back ahead of later messages of their group.
                dead_table
                    .insert(seq, encode(m)?.as_slice())
                    .map_err(storage)?;
            }
        }
        let visible_at = now.saturating_add(millis(visibility));
        let mut received = Vec::with_capacity(deliver.len());
        for (seq, mut m) in deliver {
            m.receive_count += 1;
            m.visible_at = visible_at;
            m.token = fresh_token();
            messages
                .insert(seq, encode(&m)?.as_slice())
                .map_err(storage)?;
            received.push(Received {
                receipt: format!("{seq}.{:x}", m.token),
                id: m.id,
                group: m.group,
                body: m.body,
                receive_count: m.receive_count,
            });
        }
        Ok((changed, received))
    }

    /// Applies `change` to the delivery `receipt` names if it is still the current one.
    fn with_delivery(
        &self,
        txn: &WriteTransaction,
        receipt: &str,
        change: impl FnOnce(
            &mut redb::Table<'_, u64, &'static [u8]>,
            u64,
            Stored,
        ) -> Result<(), QueueError>,
    ) -> Result<(bool, ()), QueueError> {
        let (seq, token) = parse_receipt(receipt)?;
        let mut messages = txn.open_table(self.messages_def()).map_err(storage)?;
        let current = match messages.get(seq).map_err(storage)? {
            Some(v) => decode::<Stored>(v.value())?,
            None => return Ok((false, ())),
        };
        if current.token != token {
            return Ok((false, ()));
        }
        change(&mut messages, seq, current)?;
        Ok((true, ()))
    }
}

/// `"{seq}.{token:x}"`; a token of 0 is never issued, so an undelivered message matches no receipt.
fn parse_receipt(receipt: &str) -> Result<(u64, u64), QueueError> {
    let invalid = || QueueError::Invalid("not a receipt of this queue".to_owned());
    let (seq, token) = receipt.split_once('.').ok_or_else(invalid)?;
    let seq = seq.parse::<u64>().map_err(|_| invalid())?;
    let token = u64::from_str_radix(token, 16).map_err(|_| invalid())?;
    if token == 0 {
        return Err(invalid());
    }
    Ok((seq, token))
}

fn fresh_token() -> u64 {
    rand::random::<u64>().max(1)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn encode(m: &Stored) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(m).map_err(storage)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, QueueError> {
    serde_json::from_slice(bytes).map_err(|e| {
        QueueError::Permanent(format!(
            "embedded queue holds a message it cannot decode: {e}"
        ))
    })
}

/// redb errors are I/O, a full disk, or corruption: none of them goes away by retrying the call.
fn storage(e: impl Display) -> QueueError {
    QueueError::Permanent(format!("embedded queue storage: {e}"))
}

/// SQS's rules for a FIFO message: ids of 1..=128 printable ASCII characters, a body of 1 to
/// 256 KiB of the characters XML allows.
fn validate(m: &OutMessage) -> Result<(), QueueError> {
    for (what, id) in [("group", &m.group), ("deduplication id", &m.dedup_id)] {
        let ok =
            !id.is_empty() && id.len() <= MAX_ID_CHARS && id.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(QueueError::Invalid(format!(
                "message {what} must be 1 to {MAX_ID_CHARS} printable ASCII characters"
            )));
        }
    }
    if m.body.is_empty() || m.body.len() > MAX_BODY_BYTES {
        return Err(QueueError::Invalid(format!(
            "message body must be 1 to {MAX_BODY_BYTES} bytes"
        )));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if !m.body.chars().all(allowed) {
        return Err(QueueError::Invalid(
            "message body holds a character SQS refuses".to_owned(),
        ));
    }
    Ok(())
}

impl EmbeddedQueue {
    pub(super) fn new(
        store: Arc<StoreInner>,
        name: &str,
        settings: QueueSettings,
        clock: Arc<dyn Clock>,
        wakeup: Arc<Notify>,
    ) -> Self {
        Self {
            inner: Arc::new(QueueInner {
                store,
                name: name.to_owned(),
                messages: format!("queue.{name}.messages"),
                dead: format!("queue.{name}.dead"),
                dedup: format!("queue.{name}.dedup"),
                settings,
                clock,
                wakeup,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Completes when a message may have become receivable (a send, a release without delay, a
    /// re-drive) since the last wakeup was taken, so a consumer loop sleeps on this instead of
    /// polling. A wakeup sent while nobody waits is kept for the next waiter. Messages that
    /// become visible by timeout send no wakeup: a consumer also polls at its own interval.
    pub async fn notified(&self) {
        self.inner.wakeup.notified().await;
    }

    /// The wakeup itself, for a consumer that selects over it with other events.
    pub fn notify_handle(&self) -> Arc<Notify> {
        self.inner.wakeup.clone()
    }

    /// Moves every dead letter back to the queue (SQS "start DLQ redrive"), receive count reset,
    /// visible now, ahead of later messages of its group. Returns how many moved.
    pub async fn redrive_dead_letters(&self) -> Result<usize, QueueError> {
        let moved = self
            .inner
            .write(Cost::one(0), |q, txn| {
                let mut dead = txn.open_table(q.dead_def()).map_err(storage)?;
                let mut messages = txn.open_table(q.messages_def()).map_err(storage)?;
                let mut moved = 0;
                while let Some((seq, value)) = dead.pop_first().map_err(storage)? {
                    let mut m: Stored = decode(value.value())?;
                    m.receive_count = 0;
                    m.visible_at = 0;
                    m.token = 0;
                    messages
                        .insert(seq.value(), encode(&m)?.as_slice())
                        .map_err(storage)?;
                    moved += 1;
                }
                Ok((moved > 0, moved))
            })
            .await?;
        if moved > 0 {
            self.inner.wakeup.notify_one();
        }
        Ok(moved)
    }

    async fn send_all(&self, messages: Vec<OutMessage>) -> Result<(), QueueError> {
        messages.iter().try_for_each(validate)?;
        if messages.is_empty() {
            return Ok(());
        }
        let cost = Cost {
            ops: messages.len(),
            bytes: messages
                .iter()
                .map(|m| m.body.len() + m.group.len() + m.dedup_id.len())
                .sum(),
        };
        let appended = self
            .inner
            .write(cost, move |q, txn| {
                q.append(txn, &messages).map(|n| (true, n))
            })
            .await?;
        if appended > 0 {
            self.inner.wakeup.notify_one();
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, message: OutMessage) -> Result<(), QueueError> {
        self.send_all(vec![message]).await
    }

    /// All messages go in one transaction: either all are durably queued or none is.
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), QueueError> {
        self.send_all(messages).await
    }

    fn engine(&self) -> &'static str {
        "embedded"
    }
}

#[async_trait]
impl QueueConsumer for EmbeddedQueue {
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.inner
            .write(Cost::one(0), move |q, txn| q.receive(txn, max, visibility))
            .await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.inner
            .write(Cost::one(0), move |q, txn| {
                if let Some(seq) = receipt.strip_prefix(DEAD_RECEIPT_PREFIX) {
                    let seq = seq.parse::<u64>().map_err(|_| {
                        QueueError::Invalid("not a receipt of this queue".to_owned())
                    })?;
                    let mut dead = txn.open_table(q.dead_def()).map_err(storage)?;
                    let removed = dead.remove(seq).map_err(storage)?.is_some();
                    return Ok((removed, ()));
                }
                q.with_delivery(txn, &receipt, |messages, seq, _| {
                    messages.remove(seq).map_err(storage).map(drop)
                })
            })
            .await
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let now = self.inner.clock.now_millis();
        self.inner
            .write(Cost::one(0), move |q, txn| {
                q.with_delivery(txn, &receipt, |messages, seq, mut m| {
                    m.visible_at = now.saturating_add(millis(delay));
                    messages
                        .insert(seq, encode(&m)?.as_slice())
                        .map_err(storage)
                        .map(drop)
                })
            })
            .await?;
        if delay.is_zero() {
            self.inner.wakeup.notify_one();
        }
        Ok(())
    }

    /// Oldest (first sent) first. Each carries a `dead.{seq}` receipt: acking it discards the letter.
    async fn dead_letters(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let inner = self.inner.clone();
        blocking(
            move || {
                let txn = inner.store.db.begin_read().map_err(storage)?;
                let dead = match txn.open_table(inner.dead_def()) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(storage(e)),
                };
                let mut out = Vec::new();
                for entry in dead.iter().map_err(storage)?.take(max) {
                    let (seq, value) = entry.map_err(storage)?;
                    let m: Stored = decode(value.value())?;
                    out.push(Received {
                        id: m.id,
                        receipt: format!("{DEAD_RECEIPT_PREFIX}{}", seq.value()),
                        group: m.group,
                        body: m.body,
                        receive_count: m.receive_count,
                    });
                }
                Ok(out)
            },
            QueueError::Permanent,
        )
        .await
    }
}

#[cfg(test)]
mod tests;
