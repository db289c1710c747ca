//! Audit entries: who changed what, when, old → new, and through which path. Written in the same
//! transaction as the change they record, so there is no change without its entry. Read as one
//! entity's history, or as the whole log (newest first, by origin and time).

use serde::{Deserialize, Serialize};

use super::keys;
use super::{Actor, DirectoryError, PageOf, decode};
use crate::domain::directory::Origin;
use crate::ports::{
    Cond, Index, IndexKey, Item, Key, Page, Query, SkRange, Table, TableError, TxOp,
};

/// The entity kinds the stores write audit entries for (`entity_kind` of an entry).
pub const ENTITY_KINDS: [&str; 9] = [
    "account",
    "org_unit",
    "connector",
    "settings",
    "scim_client",
    "app",
    "auth_source",
    "binding",
    "account_roles",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    pub origin: Origin,
    pub actor: String,
    pub entity_kind: String,
    pub entity_id: String,
    pub action: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(
        actor: &Actor,
        at_ms: i64,
        entity_kind: &str,
        entity_id: &str,
        action: &str,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms,
            origin: actor.origin,
            actor: actor.name.clone(),
            entity_kind: entity_kind.to_owned(),
            entity_id: entity_id.to_owned(),
            action: action.to_owned(),
            old,
            new,
        }
    }
}

/// The transaction operation that stores an entry (with its day and origin index keys).
pub fn audit_op(entry: AuditEntry) -> TxOp {
    let sk = format!("{}#{}", keys::time_key(entry.at_ms), entry.id);
    let item = Item::new(
        Key::new(
            keys::audit_partition(&entry.entity_kind, &entry.entity_id),
            sk.clone(),
        ),
        1,
        serde_json::to_value(&entry).unwrap_or_default(),
    )
    .with_gsi1(IndexKey::new(keys::audit_day(entry.at_ms), sk.clone()))
    .with_gsi2(IndexKey::new(keys::audit_by_origin(entry.origin), sk));
    TxOp::Put {
        item,
        cond: Cond::Absent,
    }
}

/// Which entries a listing returns: from one origin, at or after `since_ms`, before `until_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub origin: Option<Origin>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl LogFilter {
    /// The sort-key range (inclusive both ends) of the filter's time window, below `before` (an
    /// exclusive sort key); `None` when the window is empty.
    fn range(&self, before: Option<&str>) -> Option<SkRange> {
        let low = keys::time_key(self.since_ms.unwrap_or(0));
        // Sort keys are `{13 digits}#{id}`: `time_key(t)` sorts before every key at `t`, so it
        // is an exclusive bound for `until`.
        let mut high = self
            .until_ms
            .map(keys::time_key)
            .unwrap_or_else(|| "~".to_owned());
        if let Some(before) = before.map(just_below)
            && before < high
        {
            high = before;
        }
        (low <= high).then_some(SkRange::Between(low, high))
    }

    fn admits(&self, entry: &AuditEntry) -> bool {
        self.origin.is_none_or(|o| o == entry.origin)
    }
}

/// The greatest string below the sort key `sk` that no sort key can equal: its last character
/// lowered by one (keys are ASCII of fixed shape, so nothing sorts in between).
fn just_below(sk: &str) -> String {
    let mut chars: Vec<char> = sk.chars().collect();
    if let Some(last) = chars.pop() {
        chars.push(char::from_u32(u32::from(last).saturating_sub(1)).unwrap_or(last));
    }
    chars.into_iter().collect()
}

/// An entity's history, newest first.
pub async fn history(
    table: &dyn Table,
    entity_kind: &str,
    entity_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> Result<PageOf<AuditEntry>, DirectoryError> {
    entity_log(
        table,
        entity_kind,
        entity_id,
        &LogFilter::default(),
        limit,
        cursor,
    )
    .await
}

/// An entity's history, newest first, filtered. The origin is checked after the read (an
/// entity has few entries), so a page may hold fewer than `limit` and still have a next one.
pub async fn entity_log(
    table: &dyn Table,
    entity_kind: &str,
    entity_id: &str,
    filter: &LogFilter,
    limit: usize,
    cursor: Option<String>,
) -> Result<PageOf<AuditEntry>, DirectoryError> {
    let Some(range) = filter.range(None) else {
        return Ok(PageOf {
            items: Vec::new(),
            next: None,
        });
    };
    let q = Query::partition(
        Index::Primary,
        keys::audit_partition(entity_kind, entity_id),
    )
    .range(range)
    .limit(limit)
    .descending()
    .after(cursor);
    let page = table.query(&q).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let entry: AuditEntry = decode(item)?;
        if filter.admits(&entry) {
            items.push(entry);
        }
    }
    Ok(PageOf {
        items,
        next: page.next,
    })
}

/// The whole log, newest first: the per-origin partitions of `gsi2` (one, with an origin
/// filter), merged. The cursor is the position of the last entry returned (`{at_ms}.{id}`), so
/// each page re-reads every partition from there.
pub async fn log(
    table: &dyn Table,
    filter: &LogFilter,
    limit: usize,
    cursor: Option<String>,
) -> Result<PageOf<AuditEntry>, DirectoryError> {
    let before = cursor.as_deref().map(cursor_sort_key).transpose()?;
    let Some(range) = filter.range(before.as_deref()) else {
        return Ok(PageOf {
            items: Vec::new(),
            next: None,
        });
    };
    let origins = match filter.origin {
        Some(origin) => vec![origin],
        None => Origin::ALL.to_vec(),
    };
    let pages: Vec<Page> = futures::future::try_join_all(origins.into_iter().map(|origin| {
        let q = Query::partition(Index::Gsi2, keys::audit_by_origin(origin))
            .range(range.clone())
            // One more than the page, to tell whether more follow (a partition's own next
            // page says so too, so the engines' cap loses nothing).
            .limit((limit + 1).min(crate::ports::MAX_QUERY_LIMIT))
            .descending();
        async move { table.query(&q).await }
    }))
    .await?;
    // A partition with more to read is in order only down to its last item: entries of the
    // other partitions below that point might interleave with its unread ones.
    let mut floor: Option<String> = None;
    let mut merged: Vec<(String, &Item)> = Vec::new();
    for page in &pages {
        for item in &page.items {
            merged.push((gsi2_sort_key(item)?, item));
        }
        if page.next.is_some()
            && let Some(last) = page.items.last()
        {
            let last = gsi2_sort_key(last)?;
            if floor.as_ref().is_none_or(|f| &last > f) {
                floor = Some(last);
            }
        }
    }
    merged.sort_by(|a, b| b.0.cmp(&a.0));
    if let Some(floor) = &floor {
        merged.retain(|(sk, _)| sk >= floor);
    }
    let more = floor.is_some() || merged.len() > limit;
    merged.truncate(limit);
    let next = match merged.last() {
        Some((sk, _)) if more => Some(sort_key_cursor(sk)),
        _ => None,
    };
    let items = merged
        .into_iter()
        .map(|(_, item)| decode(item))
        .collect::<Result<_, _>>()?;
    Ok(PageOf { items, next })
}

fn gsi2_sort_key(item: &Item) -> Result<String, DirectoryError> {
    item.gsi2
        .as_ref()
        .map(|k| k.sk.clone())
        .ok_or_else(|| DirectoryError::Corrupt(format!("{} has no gsi2 key", item.key.pk)))
}

/// `{13 digits}#{uuid}` → `{13 digits}.{uuid}`: nothing to escape in a URL.
fn sort_key_cursor(sk: &str) -> String {
    sk.replacen('#', ".", 1)
}

/// The sort key a cursor of [`log`] stands for; anything else is the engine's "bad cursor".
fn cursor_sort_key(cursor: &str) -> Result<String, DirectoryError> {
    let bad = || DirectoryError::Storage(TableError::Invalid("not an audit log cursor".to_owned()));
    let (time, id) = cursor.split_once('.').ok_or_else(bad)?;
    if time.len() != 13 || !time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(format!("{time}#{}", id.hyphenated()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let sk = format!(
            "{}#{}",
            keys::time_key(1_700_000_000_123),
            uuid::Uuid::now_v7()
        );
        let cursor = sort_key_cursor(&sk);
        assert!(!cursor.contains('#'));
        assert_eq!(cursor_sort_key(&cursor).unwrap(), sk);
        for bad in [
            "",
            "x",
            "123.abc",
            "170000000012.0190d5a4-0000-7000-8000-000000000abc",
        ] {
            assert!(cursor_sort_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_range_is_inclusive_of_since_and_exclusive_of_until_and_the_cursor() {
        let at = |t: i64| format!("{}#0190d5a4-0000-7000-8000-000000000abc", keys::time_key(t));
        let f = LogFilter {
            origin: None,
            since_ms: Some(100),
            until_ms: Some(200),
        };
        let range = f.range(None).unwrap();
        assert!(range.contains(&at(100)) && range.contains(&at(199)));
        assert!(!range.contains(&at(99)) && !range.contains(&at(200)));
        let range = f.range(Some(&at(150))).unwrap();
        assert!(range.contains(&at(149)) && !range.contains(&at(150)));
        assert!(f.range(Some(&at(50))).is_none(), "a cursor before since");
        let open = LogFilter::default().range(None).unwrap();
        assert!(open.contains(&at(0)) && open.contains(&at(9_999_999_999_999)));
    }
}
