//! The attribute codec: an `Item` as first-class DynamoDB attributes and back, with DynamoDB's own
//! limits (no empty key strings, 400 KB per item) checked before any call.

use super::{DATA, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK, TTL, VERSION};
use crate::ports::{IndexKey, Item, Key, MAX_ITEM_BYTES, TableError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub(super) type Attrs = HashMap<String, AttributeValue>;

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn non_empty<V>(map: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

/// DynamoDB refuses empty strings in key attributes; say so before the call.
pub(super) fn check_key(key: &Key) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(TableError::Invalid("empty pk or sk".to_owned()));
    }
    Ok(())
}

pub(super) fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([(PK.to_owned(), s(&key.pk)), (SK.to_owned(), s(&key.sk))])
}

pub(super) fn to_attrs(item: &Item) -> Result<Attrs, TableError> {
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
pub(super) fn item_size(attrs: &Attrs) -> usize {
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

pub(super) fn from_attrs(attrs: &Attrs) -> Result<Item, TableError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
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
}
