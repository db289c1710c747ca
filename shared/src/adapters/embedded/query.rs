//! Query planning and execution for `EmbeddedTable`: a partition and sort-key range become one
//! byte range of the primary or an index table, paged with an opaque cursor (the last key returned).

use super::codec;
use super::table::{GSI1, GSI2, ITEMS};
use super::table_storage;
use crate::ports::{Index, Page, Query, SkRange, TableError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{Database, ReadableDatabase};
use std::ops::Bound;

use crate::ports::MAX_QUERY_LIMIT;

/// A query turned into one byte range of one redb table, plus where the previous page stopped.
pub(super) struct ScanPlan {
    index: Index,
    /// Inclusive lower and exclusive upper bound of the partition's matching entries.
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
    after: Option<Vec<u8>>,
    limit: usize,
    descending: bool,
}

impl ScanPlan {
    pub(super) fn new(q: &Query) -> Result<Self, TableError> {
        if q.limit == 0 || q.limit > MAX_QUERY_LIMIT {
            return Err(TableError::Invalid(format!(
                "query limit must be 1..={MAX_QUERY_LIMIT}, not {}",
                q.limit
            )));
        }
        let partition = codec::partition_prefix(&q.pk);
        let partition_end = codec::successor(&partition);
        let (lower, upper) = match &q.range {
            SkRange::All => (partition.clone(), partition_end),
            SkRange::Prefix(p) => {
                let lower = codec::with_sort_prefix(&partition, p);
                let upper = codec::successor(&lower);
                (lower, upper)
            }
            SkRange::Between(a, b) => {
                if a > b {
                    return Err(TableError::Invalid(
                        "BETWEEN needs its lower bound at or below its upper bound".to_owned(),
                    ));
                }
                // The upper bound takes in every entry whose sort key is `b`, whatever follows it.
                let upper = codec::successor(&codec::with_sort_key(&partition, b));
                (codec::with_sort_key(&partition, a), upper)
            }
            SkRange::From(a) => (codec::with_sort_key(&partition, a), partition_end),
        };
        let after = match &q.cursor {
            None => None,
            Some(c) => {
                let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad_cursor())?;
                let inside = bytes >= lower && upper.as_ref().is_none_or(|u| &bytes < u);
                if !inside {
                    return Err(bad_cursor());
                }
                Some(bytes)
            }
        };
        Ok(Self {
            index: q.index,
            lower,
            upper,
            after,
            limit: q.limit,
            descending: q.descending,
        })
    }

    pub(super) fn run(&self, db: &Database, now: i64) -> Result<Page, TableError> {
        let txn = db.begin_read().map_err(table_storage)?;
        let items = txn.open_table(ITEMS).map_err(table_storage)?;
        let scanned = match self.index {
            Index::Primary => &items,
            Index::Gsi1 => &txn.open_table(GSI1).map_err(table_storage)?,
            Index::Gsi2 => &txn.open_table(GSI2).map_err(table_storage)?,
        };
        let (start, end) = match (&self.after, self.descending) {
            (Some(after), false) => (Bound::Excluded(after.as_slice()), self.upper_bound()),
            (Some(after), true) => (
                Bound::Included(self.lower.as_slice()),
                Bound::Excluded(after.as_slice()),
            ),
            (None, _) => (Bound::Included(self.lower.as_slice()), self.upper_bound()),
        };
        if is_empty_range(start, end) {
            return Ok(Page::default());
        }
        let range = scanned
            .range::<&[u8]>((start, end))
            .map_err(table_storage)?;
        let entries: Box<dyn Iterator<Item = _>> = if self.descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut page = Page::default();
        let mut last_key = Vec::new();
        for entry in entries {
            let (k, v) = entry.map_err(table_storage)?;
            let item = match self.index {
                Index::Primary => codec::decode_item(v.value())?,
                // An index entry always has its item: both are written in one transaction.
                Index::Gsi1 | Index::Gsi2 => match items.get(v.value()).map_err(table_storage)? {
                    Some(stored) => codec::decode_item(stored.value())?,
                    None => continue,
                },
            };
            if item.is_expired(now) {
                continue;
            }
            if page.items.len() == self.limit {
                // A live item follows the full page, so there is a next page to point to.
                page.next = Some(URL_SAFE_NO_PAD.encode(&last_key));
                break;
            }
            last_key = k.value().to_vec();
            page.items.push(item);
        }
        Ok(page)
    }

    fn upper_bound(&self) -> Bound<&[u8]> {
        match &self.upper {
            Some(u) => Bound::Excluded(u.as_slice()),
            None => Bound::Unbounded,
        }
    }
}

fn is_empty_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

fn bad_cursor() -> TableError {
    TableError::Invalid("the query cursor is not one this query returned".to_owned())
}
