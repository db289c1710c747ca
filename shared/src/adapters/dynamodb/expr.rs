//! Condition and key-condition expressions with exactly the placeholders they use, and the opaque
//! query cursors (DynamoDB's `LastEvaluatedKey`, checked against the query they resume).

use super::codec::{Attrs, n, s};
use super::{GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK, TTL, VERSION};
use crate::ports::{Cond, Index, Item, Query, SkRange, TableError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::{BTreeMap, HashMap};

/// A condition expression with exactly the placeholders it uses (DynamoDB refuses unused ones).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CondExpr {
    pub(super) text: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

/// `None` for an unconditional write. An item whose `ttl <= now` counts as absent.
pub(super) fn condition_expr(cond: Cond, now: i64) -> Option<CondExpr> {
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
pub(super) struct KeyCondition {
    pub(super) text: String,
    pub(super) uses_sk: bool,
    pub(super) values: HashMap<String, AttributeValue>,
}

/// `None` when no sort key can match (DynamoDB rejects an empty string or an inverted `BETWEEN`
/// in a key condition rather than returning nothing, so those cases are answered here).
pub(super) fn key_condition(range: &SkRange) -> Option<KeyCondition> {
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

pub(super) fn index_attrs(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Primary => (PK, SK),
        Index::Gsi1 => (GSI1PK, GSI1SK),
        Index::Gsi2 => (GSI2PK, GSI2SK),
    }
}

/// The key attributes DynamoDB puts in `LastEvaluatedKey` for a query of `index`.
pub(super) fn cursor_attr_names(index: Index) -> Vec<&'static str> {
    match index {
        Index::Primary => vec![PK, SK],
        Index::Gsi1 => vec![PK, SK, GSI1PK, GSI1SK],
        Index::Gsi2 => vec![PK, SK, GSI2PK, GSI2SK],
    }
}

/// The `ExclusiveStartKey` that resumes a query just after `item`.
pub(super) fn cursor_key(item: &Item, index: Index) -> BTreeMap<String, String> {
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

pub(super) fn encode_cursor(key: &BTreeMap<String, String>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_string(key).unwrap_or_default())
}

/// Refuses anything that is not a cursor of this query's index and partition.
pub(super) fn decode_cursor(cursor: &str, query: &Query) -> Result<Attrs, TableError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{IndexKey, Key};
    use serde_json::json;

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
}
