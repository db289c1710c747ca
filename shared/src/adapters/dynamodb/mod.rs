//! `DynamoTable`: the `Table` port on one DynamoDB table (single-table design, two overloaded GSIs).
//!
//! Item layout — every attribute is first-class so DynamoDB itself can key, index, condition and expire:
//!
//! | attribute           | type | holds                                                        |
//! |---------------------|------|--------------------------------------------------------------|
//! | `pk`, `sk`          | S    | `Item.key` (table key: HASH `pk`, RANGE `sk`)                 |
//! | `gsi1pk`, `gsi1sk`  | S    | `Item.gsi1`, only when `Some` (index `gsi1`, sparse)          |
//! | `gsi2pk`, `gsi2sk`  | S    | `Item.gsi2`, only when `Some` (index `gsi2`, sparse)          |
//! | `v`                 | N    | `Item.version`                                               |
//! | `ttl`               | N    | `Item.ttl`, epoch seconds, only when `Some` (the TTL attribute) |
//! | `d`                 | S    | `Item.data` as JSON text                                     |
//!
//! DynamoDB deletes expired items lazily (within days; emulators never), so every read hides items
//! whose `ttl <= now` and every condition treats them as absent.

mod codec;
mod errors;
mod expr;
mod provision;

pub use super::aws::load_aws_config;
pub use provision::create_table;

use crate::ports::{
    BatchOp, Clock, Cond, Index, Item, Key, MAX_BATCH_WRITE_ITEMS, MAX_TRANSACTION_ITEMS, Page,
    Query, Table, TableError, TxOp,
};
use async_trait::async_trait;
/// The SDK, for callers that build clients (functions' `main`, tests) without depending on it.
pub use aws_sdk_dynamodb as sdk;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use codec::{Attrs, check_key, from_attrs, key_attrs, n, non_empty, s, to_attrs};
use errors::{build_error, sdk_error, transaction_error};
use expr::{
    CondExpr, KeyCondition, condition_expr, cursor_key, decode_cursor, encode_cursor, index_attrs,
    key_condition,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const PK: &str = "pk";
const SK: &str = "sk";
const GSI1PK: &str = "gsi1pk";
const GSI1SK: &str = "gsi1sk";
const GSI2PK: &str = "gsi2pk";
const GSI2SK: &str = "gsi2sk";
const VERSION: &str = "v";
const TTL: &str = "ttl";
const DATA: &str = "d";

/// Retries of a batch's `UnprocessedItems` before giving up as `Transient` (~3 s of backoff in all).
const BATCH_RETRIES: u32 = 6;
const BATCH_BACKOFF_BASE: Duration = Duration::from_millis(50);

/// The `Table` port on DynamoDB.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table_name: String,
    clock: Arc<dyn Clock>,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: String, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table_name,
            clock,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_seconds()
    }

    async fn query_once(
        &self,
        query: &Query,
        key_cond: &KeyCondition,
        limit: usize,
        start: Option<Attrs>,
        now: i64,
    ) -> Result<(Vec<Item>, Option<Attrs>), TableError> {
        let (pk_attr, sk_attr) = index_attrs(query.index);
        let mut names = HashMap::from([
            ("#pk".to_owned(), pk_attr.to_owned()),
            ("#ttl".to_owned(), TTL.to_owned()),
        ]);
        if key_cond.uses_sk {
            names.insert("#sk".to_owned(), sk_attr.to_owned());
        }
        let mut values = key_cond.values.clone();
        values.insert(":pk".to_owned(), s(&query.pk));
        values.insert(":now".to_owned(), n(now));
        let mut request = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression(&key_cond.text)
            .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!query.descending)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        request = match query.index {
            // GSIs are eventually consistent only; DynamoDB refuses ConsistentRead on them.
            Index::Primary => request.consistent_read(true),
            Index::Gsi1 => request.index_name("gsi1"),
            Index::Gsi2 => request.index_name("gsi2"),
        };
        let out = request.send().await.map_err(|e| sdk_error("Query", e))?;
        let items = out
            .items()
            .iter()
            .map(from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, out.last_evaluated_key().cloned()))
    }

    async fn batch_chunk(&self, chunk: Vec<BatchOp>) -> Result<(), TableError> {
        let mut requests = chunk
            .iter()
            .map(write_request)
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table_name, requests)
                .send()
                .await
                .map_err(|e| sdk_error("BatchWriteItem", e))?;
            requests = out
                .unprocessed_items()
                .and_then(|m| m.get(&self.table_name))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            if attempt >= BATCH_RETRIES {
                return Err(TableError::Transient(format!(
                    "BatchWriteItem: {} items still unprocessed after {BATCH_RETRIES} retries",
                    requests.len()
                )));
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }
}

/// Attempts at a transaction that conflicting transactions keep cancelling.
const TRANSACT_ATTEMPTS: u32 = 4;

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        let Some(attrs) = out.item() else {
            return Ok(None);
        };
        let item = from_attrs(attrs)?;
        Ok((!item.is_expired(self.now())).then_some(item))
    }

    async fn put(&self, item: Item, cond: Cond) -> Result<(), TableError> {
        let attrs = to_attrs(&item)?;
        let expr = condition_expr(cond, self.now());
        self.client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(attrs))
            .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expr.as_ref().map(|e| e.names.clone()))
            .set_expression_attribute_values(expr.map(|e| e.values))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn delete(&self, key: &Key, cond: Cond) -> Result<(), TableError> {
        check_key(key)?;
        let expr = condition_expr(cond, self.now());
        self.client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expr.as_ref().map(|e| e.names.clone()))
            .set_expression_attribute_values(expr.map(|e| e.values))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        if !(1..=1000).contains(&query.limit) {
            return Err(TableError::Invalid(format!(
                "query limit {} outside 1..=1000",
                query.limit
            )));
        }
        let mut start = match &query.cursor {
            Some(cursor) => Some(decode_cursor(cursor, query)?),
            None => None,
        };
        let Some(key_cond) = key_condition(&query.range) else {
            return Ok(Page::default());
        };
        if query.pk.is_empty() {
            return Ok(Page::default());
        }
        let now = self.now();
        // Ask for one item more than the page so that `next` is `Some` exactly when a live item
        // follows; the filter on `ttl` may thin any response, so keep reading until then.
        let mut items = Vec::new();
        loop {
            let want = query.limit + 1 - items.len();
            let (mut got, last) = self.query_once(query, &key_cond, want, start, now).await?;
            items.append(&mut got);
            start = last;
            if items.len() > query.limit || start.is_none() {
                break;
            }
        }
        let next = if items.len() > query.limit {
            items.truncate(query.limit);
            items
                .last()
                .map(|last| encode_cursor(&cursor_key(last, query.index)))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        check_transaction(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let items = ops
            .iter()
            .map(|op| self.transact_item(op, now))
            .collect::<Result<Vec<_>, _>>()?;
        // A transaction cancelled by a conflicting one (two creates checking the same org unit
        // at once) wrote nothing: it is sent again a few times, after a short random pause, before
        // its caller hears of it. Failed conditions are answered at once.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(err) => match transaction_error(err) {
                    TableError::Transient(_) if attempt < TRANSACT_ATTEMPTS => {
                        let pause = rand::random_range(5..=20u64) << attempt;
                        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    }
                    other => return Err(other),
                },
            }
        }
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<(), TableError> {
        for op in &ops {
            match op {
                BatchOp::Put(item) => {
                    to_attrs(item)?;
                }
                BatchOp::Delete(key) => check_key(key)?,
            }
        }
        for chunk in batch_chunks(ops) {
            self.batch_chunk(chunk).await?;
        }
        Ok(())
    }

    fn engine(&self) -> &'static str {
        "dynamodb"
    }
}

impl DynamoTable {
    fn transact_item(&self, op: &TxOp, now: i64) -> Result<TransactWriteItem, TableError> {
        let item = match op {
            TxOp::Put { item, cond } => {
                let expr = condition_expr(*cond, now);
                let put = Put::builder()
                    .table_name(&self.table_name)
                    .set_item(Some(to_attrs(item)?))
                    .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(expr.as_ref().map(|e| e.names.clone()))
                    .set_expression_attribute_values(expr.map(|e| e.values))
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            TxOp::Delete { key, cond } => {
                check_key(key)?;
                let expr = condition_expr(*cond, now);
                let delete = Delete::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(expr.as_ref().map(|e| e.text.clone()))
                    .set_expression_attribute_names(expr.as_ref().map(|e| e.names.clone()))
                    .set_expression_attribute_values(expr.map(|e| e.values))
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            TxOp::Check { key, cond } => {
                check_key(key)?;
                // ConditionCheck needs an expression; `Cond::None` becomes one that always holds.
                let expr = condition_expr(*cond, now).unwrap_or_else(|| CondExpr {
                    text: "attribute_exists(pk) OR attribute_not_exists(pk)".to_owned(),
                    names: HashMap::new(),
                    values: HashMap::new(),
                });
                let check = ConditionCheck::builder()
                    .table_name(&self.table_name)
                    .set_key(Some(key_attrs(key)))
                    .condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

/// Splits a batch into `BatchWriteItem` calls of at most 25 requests. DynamoDB refuses two requests
/// for one key in a call, so a repeated key starts a new chunk; chunks run in order, so the later
/// write still wins.
fn batch_chunks(ops: Vec<BatchOp>) -> Vec<Vec<BatchOp>> {
    let mut chunks: Vec<Vec<BatchOp>> = Vec::new();
    let mut keys: HashSet<Key> = HashSet::new();
    for op in ops {
        let key = match &op {
            BatchOp::Put(item) => item.key.clone(),
            BatchOp::Delete(key) => key.clone(),
        };
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < MAX_BATCH_WRITE_ITEMS && !keys.contains(&key) => {
                chunk.push(op);
            }
            _ => {
                keys.clear();
                chunks.push(vec![op]);
            }
        }
        keys.insert(key);
    }
    chunks
}

fn check_transaction(ops: &[TxOp]) -> Result<(), TableError> {
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(TableError::Invalid(format!(
            "transaction of {} operations (max {MAX_TRANSACTION_ITEMS})",
            ops.len()
        )));
    }
    let mut seen = HashSet::new();
    for op in ops {
        if !seen.insert(op.key()) {
            return Err(TableError::Invalid(
                "transaction writes one key twice".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Exponential with jitter, so that concurrent writers do not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = BATCH_BACKOFF_BASE.saturating_mul(1 << attempt.min(10));
    let jitter = rand::random_range(0..=base.as_millis().min(1_000) as u64 / 2);
    base + Duration::from_millis(jitter)
}

fn write_request(op: &BatchOp) -> Result<WriteRequest, TableError> {
    Ok(match op {
        BatchOp::Put(item) => WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(to_attrs(item)?))
                    .build()
                    .map_err(build_error)?,
            )
            .build(),
        BatchOp::Delete(key) => WriteRequest::builder()
            .delete_request(
                DeleteRequest::builder()
                    .set_key(Some(key_attrs(key)))
                    .build()
                    .map_err(build_error)?,
            )
            .build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    fn put(pk: &str, sk: &str) -> BatchOp {
        BatchOp::Put(Item::new(Key::new(pk, sk), 1, json!({})))
    }

    #[test]
    fn batches_are_chunked_by_twenty_five() {
        let ops: Vec<_> = (0..60).map(|i| put("p", &format!("{i:03}"))).collect();
        let sizes: Vec<usize> = batch_chunks(ops).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![25, 25, 10]);
    }

    #[test]
    fn a_repeated_key_starts_a_new_chunk_in_order() {
        let ops = vec![
            put("p", "a"),
            put("p", "b"),
            BatchOp::Delete(Key::new("p", "a")),
            put("p", "c"),
        ];
        let chunks = batch_chunks(ops);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), 2);
        assert!(matches!(&chunks[1][0], BatchOp::Delete(k) if k.sk == "a"));
        assert_eq!(chunks[1].len(), 2);
    }

    #[test]
    fn an_empty_batch_makes_no_calls() {
        assert!(batch_chunks(Vec::new()).is_empty());
    }

    #[test]
    fn transactions_refuse_repeated_keys_and_excess_size() {
        let check = |sk: &str| TxOp::Check {
            key: Key::new("p", sk),
            cond: Cond::Exists,
        };
        assert!(check_transaction(&[check("a"), check("a")]).is_err());
        let many: Vec<_> = (0..=MAX_TRANSACTION_ITEMS)
            .map(|i| check(&i.to_string()))
            .collect();
        assert!(check_transaction(&many).is_err());
        assert!(check_transaction(&many[..MAX_TRANSACTION_ITEMS]).is_ok());
    }
}
