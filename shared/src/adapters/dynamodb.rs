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

use crate::ports::{
    BatchOp, Clock, Cond, Index, IndexKey, Item, Key, MAX_BATCH_WRITE_ITEMS, MAX_ITEM_BYTES,
    MAX_TRANSACTION_ITEMS, Page, Query, SkRange, Table, TableError, TxOp,
};
use async_trait::async_trait;
/// The SDK, for callers that build clients (functions' `main`, tests) without depending on it.
pub use aws_sdk_dynamodb as sdk;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, Put, PutRequest,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
    WriteRequest,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

type Attrs = HashMap<String, AttributeValue>;

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
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(transaction_error(err)),
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

/// A condition expression with exactly the placeholders it uses (DynamoDB refuses unused ones).
#[derive(Debug, Clone, PartialEq)]
struct CondExpr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// `None` for an unconditional write. An item whose `ttl <= now` counts as absent.
fn condition_expr(cond: Cond, now: i64) -> Option<CondExpr> {
    const LIVE: &str = "(attribute_not_exists(#ttl) OR #ttl > :now)";
    let mut names = HashMap::from([("#ttl".to_owned(), TTL.to_owned())]);
    let mut values = HashMap::from([(":now".to_owned(), n(now))]);
    let text = match cond {
        Cond::None => return None,
        Cond::Absent => "attribute_not_exists(pk) OR #ttl <= :now".to_owned(),
        Cond::Exists => format!("attribute_exists(pk) AND {LIVE}"),
        Cond::Version(version) => {
            names.insert("#v".to_owned(), VERSION.to_owned());
            values.insert(":v".to_owned(), n(version));
            format!("#v = :v AND {LIVE}")
        }
    };
    Some(CondExpr {
        text,
        names,
        values,
    })
}

/// The sort-key part of a query's key condition, with its values.
#[derive(Debug, Clone, PartialEq)]
struct KeyCondition {
    text: String,
    uses_sk: bool,
    values: HashMap<String, AttributeValue>,
}

/// `None` when no sort key can match (DynamoDB rejects an empty string or an inverted `BETWEEN`
/// in a key condition rather than returning nothing, so those cases are answered here).
fn key_condition(range: &SkRange) -> Option<KeyCondition> {
    let all = KeyCondition {
        text: "#pk = :pk".to_owned(),
        uses_sk: false,
        values: HashMap::new(),
    };
    let with = |op: String, values: Vec<(&str, &str)>| KeyCondition {
        text: format!("#pk = :pk AND {op}"),
        uses_sk: true,
        values: values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), s(value)))
            .collect(),
    };
    match range {
        SkRange::All => Some(all),
        SkRange::Prefix(p) | SkRange::From(p) if p.is_empty() => Some(all),
        SkRange::Prefix(p) => Some(with("begins_with(#sk, :a)".to_owned(), vec![(":a", p)])),
        SkRange::From(a) => Some(with("#sk >= :a".to_owned(), vec![(":a", a)])),
        SkRange::Between(a, b) if a > b || b.is_empty() => None,
        SkRange::Between(a, b) if a.is_empty() => {
            Some(with("#sk <= :b".to_owned(), vec![(":b", b)]))
        }
        SkRange::Between(a, b) => Some(with(
            "#sk BETWEEN :a AND :b".to_owned(),
            vec![(":a", a), (":b", b)],
        )),
    }
}

fn index_attrs(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Primary => (PK, SK),
        Index::Gsi1 => (GSI1PK, GSI1SK),
        Index::Gsi2 => (GSI2PK, GSI2SK),
    }
}

/// The key attributes DynamoDB puts in `LastEvaluatedKey` for a query of `index`.
fn cursor_attr_names(index: Index) -> Vec<&'static str> {
    match index {
        Index::Primary => vec![PK, SK],
        Index::Gsi1 => vec![PK, SK, GSI1PK, GSI1SK],
        Index::Gsi2 => vec![PK, SK, GSI2PK, GSI2SK],
    }
}

/// The `ExclusiveStartKey` that resumes a query just after `item`.
fn cursor_key(item: &Item, index: Index) -> BTreeMap<String, String> {
    let mut key = BTreeMap::from([
        (PK.to_owned(), item.key.pk.clone()),
        (SK.to_owned(), item.key.sk.clone()),
    ]);
    let gsi = match index {
        Index::Primary => None,
        Index::Gsi1 => item.gsi1.as_ref(),
        Index::Gsi2 => item.gsi2.as_ref(),
    };
    if let Some(gsi) = gsi {
        let (pk, sk) = index_attrs(index);
        key.insert(pk.to_owned(), gsi.pk.clone());
        key.insert(sk.to_owned(), gsi.sk.clone());
    }
    key
}

fn encode_cursor(key: &BTreeMap<String, String>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_string(key).unwrap_or_default())
}

/// Refuses anything that is not a cursor of this query's index and partition.
fn decode_cursor(cursor: &str, query: &Query) -> Result<Attrs, TableError> {
    let invalid = || TableError::Invalid("malformed query cursor".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let key: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let expected = cursor_attr_names(query.index);
    let names_match =
        key.len() == expected.len() && expected.iter().all(|name| key.contains_key(*name));
    let (pk_attr, _) = index_attrs(query.index);
    if !names_match || key.get(pk_attr) != Some(&query.pk) || key.values().any(String::is_empty) {
        return Err(invalid());
    }
    Ok(key.into_iter().map(|(k, v)| (k, s(&v))).collect())
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

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn non_empty<V>(map: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

/// DynamoDB refuses empty strings in key attributes; say so before the call.
fn check_key(key: &Key) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(TableError::Invalid("empty pk or sk".to_owned()));
    }
    Ok(())
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([(PK.to_owned(), s(&key.pk)), (SK.to_owned(), s(&key.sk))])
}

fn to_attrs(item: &Item) -> Result<Attrs, TableError> {
    check_key(&item.key)?;
    let data = serde_json::to_string(&item.data)
        .map_err(|e| TableError::Invalid(format!("item data: {e}")))?;
    let mut attrs = key_attrs(&item.key);
    for (gsi, pk, sk) in [(&item.gsi1, GSI1PK, GSI1SK), (&item.gsi2, GSI2PK, GSI2SK)] {
        if let Some(IndexKey { pk: gpk, sk: gsk }) = gsi {
            if gpk.is_empty() || gsk.is_empty() {
                return Err(TableError::Invalid("empty index key".to_owned()));
            }
            attrs.insert(pk.to_owned(), s(gpk));
            attrs.insert(sk.to_owned(), s(gsk));
        }
    }
    attrs.insert(VERSION.to_owned(), n(item.version));
    if let Some(ttl) = item.ttl {
        attrs.insert(TTL.to_owned(), n(ttl));
    }
    attrs.insert(DATA.to_owned(), AttributeValue::S(data));
    let size = item_size(&attrs);
    if size > MAX_ITEM_BYTES {
        return Err(TableError::Invalid(format!(
            "item of {size} bytes (max {MAX_ITEM_BYTES})"
        )));
    }
    Ok(attrs)
}

/// DynamoDB's item size: names plus values, a number costing about one byte per two digits.
fn item_size(attrs: &Attrs) -> usize {
    attrs
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(v) => v.len(),
                    AttributeValue::N(v) => v.len().div_ceil(2) + 1,
                    _ => 0,
                }
        })
        .sum()
}

fn from_attrs(attrs: &Attrs) -> Result<Item, TableError> {
    let malformed = |what: &str| TableError::Permanent(format!("malformed stored item: {what}"));
    let string = |name: &str| -> Result<Option<String>, TableError> {
        match attrs.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(malformed(name)),
        }
    };
    let number = |name: &str| -> Option<&String> { attrs.get(name).and_then(|v| v.as_n().ok()) };
    let pair = |pk: &str, sk: &str| -> Result<Option<IndexKey>, TableError> {
        Ok(match (string(pk)?, string(sk)?) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        })
    };
    let key = Key {
        pk: string(PK)?.ok_or_else(|| malformed(PK))?,
        sk: string(SK)?.ok_or_else(|| malformed(SK))?,
    };
    let version = number(VERSION)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(VERSION))?;
    let ttl = match attrs.get(TTL) {
        None => None,
        Some(_) => Some(
            number(TTL)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| malformed(TTL))?,
        ),
    };
    let data = string(DATA)?.ok_or_else(|| malformed(DATA))?;
    Ok(Item {
        key,
        version,
        gsi1: pair(GSI1PK, GSI1SK)?,
        gsi2: pair(GSI2PK, GSI2SK)?,
        ttl,
        data: serde_json::from_str(&data).map_err(|_| malformed(DATA))?,
    })
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Permanent(format!("building request: {err}"))
}

/// Service error codes that mean "the same call may succeed later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Maps an SDK failure onto the port's outcomes. Messages carry the operation, the error code and
/// the service's message only — never request contents or credentials.
fn sdk_error<E>(op: &str, err: SdkError<E, HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            TableError::Transient(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(service) => {
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{op}: {code}: {}", err.message().unwrap_or_default());
            if code == "ConditionalCheckFailedException" {
                TableError::ConditionFailed
            } else if TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error() {
                TableError::Transient(message)
            } else {
                TableError::Permanent(message)
            }
        }
        SdkError::ResponseError(response) if response.raw().status().is_server_error() => {
            TableError::Transient(format!("{op}: HTTP {}", response.raw().status()))
        }
        _ => TableError::Permanent(format!("{op}: {}", DisplayErrorContext(&err))),
    }
}

/// DynamoDB reports one cancellation reason per operation, in order; `None` for those that were fine.
fn transaction_error(err: SdkError<TransactWriteItemsError, HttpResponse>) -> TableError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return sdk_error("TransactWriteItems", err);
    };
    let codes: Vec<Option<&str>> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    cancellation_outcome(&codes)
}

fn cancellation_outcome(codes: &[Option<&str>]) -> TableError {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| **code == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    if !failed.is_empty() {
        return TableError::TransactionCancelled { failed };
    }
    let transient = codes.iter().flatten().any(|code| {
        matches!(
            *code,
            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    });
    let reasons: Vec<&str> = codes
        .iter()
        .flatten()
        .copied()
        .filter(|c| *c != "None")
        .collect();
    let message = format!("TransactWriteItems cancelled: {reasons:?}");
    if transient {
        TableError::Transient(message)
    } else {
        TableError::Permanent(message)
    }
}

/// Creates the table as `template.yaml` declares it (on-demand; `pk`/`sk`; GSIs `gsi1`, `gsi2`
/// projecting all attributes; TTL on `ttl`) and waits until it is usable. An existing table is
/// left as it is, apart from enabling TTL when it is off.
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let gsi = |index: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, TableError> {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi("gsi1", GSI1PK, GSI1SK)?)
        .global_secondary_indexes(gsi("gsi2", GSI2PK, GSI2SK)?);
    for attr in [PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err) if err.code() == Some("ResourceInUseException") => {}
        Err(err) => return Err(sdk_error("CreateTable", err)),
    }
    wait_until_active(client, name).await?;

    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTimeToLive", e))?;
    let enabled = ttl.time_to_live_description().is_some_and(|d| {
        matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
    });
    if !enabled {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    }
    Ok(())
}

/// A new table takes seconds to leave `CREATING` on AWS; emulators are `ACTIVE` at once.
async fn wait_until_active(client: &Client, name: &str) -> Result<(), TableError> {
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(TableError::Transient(format!(
        "table {name} not ACTIVE after 120 s"
    )))
}

/// The SDK configuration from the environment: region, credentials, and `AWS_ENDPOINT_URL`, which
/// the SDK honours itself (that is how tests and `infra/local` reach a local emulator).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
    fn absent_condition_accepts_expired_items() {
        let expr = condition_expr(Cond::Absent, 100).unwrap();
        assert_eq!(expr.text, "attribute_not_exists(pk) OR #ttl <= :now");
        assert_eq!(expr.names, HashMap::from([("#ttl".into(), "ttl".into())]));
        assert_eq!(expr.values, HashMap::from([(":now".into(), n(100))]));
    }

    #[test]
    fn exists_condition_requires_a_live_item() {
        let expr = condition_expr(Cond::Exists, 7).unwrap();
        assert_eq!(
            expr.text,
            "attribute_exists(pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)"
        );
        assert_eq!(expr.values.len(), 1);
    }

    #[test]
    fn version_condition_compares_v_of_a_live_item() {
        let expr = condition_expr(Cond::Version(42), 7).unwrap();
        assert_eq!(
            expr.text,
            "#v = :v AND (attribute_not_exists(#ttl) OR #ttl > :now)"
        );
        assert_eq!(expr.names.get("#v").map(String::as_str), Some("v"));
        assert_eq!(expr.values.get(":v"), Some(&n(42)));
        assert_eq!(expr.values.get(":now"), Some(&n(7)));
    }

    #[test]
    fn unconditional_writes_have_no_expression() {
        assert_eq!(condition_expr(Cond::None, 1), None);
    }

    #[test]
    fn key_conditions_follow_the_range() {
        let text = |r: SkRange| key_condition(&r).map(|k| k.text);
        assert_eq!(text(SkRange::All).unwrap(), "#pk = :pk");
        assert_eq!(
            text(SkRange::Prefix("a#".into())).unwrap(),
            "#pk = :pk AND begins_with(#sk, :a)"
        );
        assert_eq!(
            text(SkRange::Between("a".into(), "b".into())).unwrap(),
            "#pk = :pk AND #sk BETWEEN :a AND :b"
        );
        assert_eq!(
            text(SkRange::From("m".into())).unwrap(),
            "#pk = :pk AND #sk >= :a"
        );
        assert_eq!(text(SkRange::Prefix(String::new())).unwrap(), "#pk = :pk");
        assert_eq!(text(SkRange::Between("b".into(), "a".into())), None);
    }

    #[test]
    fn cursors_round_trip_for_their_index_and_partition() {
        let item = Item::new(Key::new("P", "S"), 1, json!(null)).with_gsi1(IndexKey::new("G", "H"));
        let query = Query::partition(Index::Gsi1, "G");
        let cursor = encode_cursor(&cursor_key(&item, Index::Gsi1));
        let key = decode_cursor(&cursor, &query).unwrap();
        assert_eq!(key.len(), 4);
        assert_eq!(key.get("gsi1sk"), Some(&s("H")));
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn garbage_and_foreign_cursors_are_invalid() {
        let query = Query::partition(Index::Primary, "P");
        let other = encode_cursor(&BTreeMap::from([
            ("pk".to_owned(), "Q".to_owned()),
            ("sk".to_owned(), "S".to_owned()),
        ]));
        for cursor in ["!!!", "bm90IGpzb24", &other] {
            assert!(matches!(
                decode_cursor(cursor, &query),
                Err(TableError::Invalid(_))
            ));
        }
    }

    #[test]
    fn items_round_trip_through_attributes() {
        let item = Item::new(Key::new("P", "S"), 9, json!({"a": [1, "x"]}))
            .with_gsi2(IndexKey::new("G", "H"))
            .with_ttl(1_700_000_000);
        let attrs = to_attrs(&item).unwrap();
        assert!(!attrs.contains_key("gsi1pk"));
        assert_eq!(attrs.get("v"), Some(&n(9)));
        assert_eq!(from_attrs(&attrs).unwrap(), item);
    }

    #[test]
    fn oversized_items_are_invalid() {
        let item = Item::new(Key::new("P", "S"), 1, json!("x".repeat(MAX_ITEM_BYTES)));
        assert!(matches!(to_attrs(&item), Err(TableError::Invalid(_))));
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

    #[test]
    fn cancellation_reasons_name_the_failed_conditions() {
        let outcome = cancellation_outcome(&[
            Some("None"),
            Some("ConditionalCheckFailed"),
            None,
            Some("ConditionalCheckFailed"),
        ]);
        assert_eq!(
            outcome,
            TableError::TransactionCancelled { failed: vec![1, 3] }
        );
        assert!(matches!(
            cancellation_outcome(&[Some("None"), Some("TransactionConflict")]),
            TableError::Transient(_)
        ));
        assert!(matches!(
            cancellation_outcome(&[Some("ValidationError")]),
            TableError::Permanent(_)
        ));
    }
}
