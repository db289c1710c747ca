//! Byte encodings of the embedded table: order-preserving keys (so redb's byte order is DynamoDB's
//! string order) and a compact item value whose header can be read without parsing the JSON body.

use crate::ports::{IndexKey, Item, Key, MAX_ITEM_BYTES, TableError};

/// Bumped if the value layout ever changes, so an old file is reported rather than misread.
const FORMAT: u8 = 1;

/// Appends `s` as one component of a composite key. A zero byte is escaped as `00 FF` and the
/// component ends with `00 01`, so comparing the concatenations byte-wise compares the components
/// in order, each in UTF-8 byte order — and a component that is a prefix of another sorts first.
fn push_component(out: &mut Vec<u8>, s: &str) {
    push_escaped(out, s);
    out.extend_from_slice(&[0, 1]);
}

/// The escaped bytes of `s` without the terminator: every component starting with `s` starts with these.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if b == 0 {
            out.extend_from_slice(&[0, 0xFF]);
        } else {
            out.push(b);
        }
    }
}

/// The key of an item in the primary table.
pub(super) fn primary_key(key: &Key) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.pk.len() + key.sk.len() + 4);
    push_component(&mut out, &key.pk);
    push_component(&mut out, &key.sk);
    out
}

/// The key of an item in a secondary index: (index pk, index sk, primary pk, primary sk), so a
/// partition scan is a range scan and ties on the index sort key fall back to the primary key.
pub(super) fn index_key(index: &IndexKey, primary: &Key) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        index.pk.len() + index.sk.len() + primary.pk.len() + primary.sk.len() + 8,
    );
    push_component(&mut out, &index.pk);
    push_component(&mut out, &index.sk);
    push_component(&mut out, &primary.pk);
    push_component(&mut out, &primary.sk);
    out
}

/// The encoded partition key alone: the common prefix of every entry in the partition.
pub(super) fn partition_prefix(pk: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(pk.len() + 2);
    push_component(&mut out, pk);
    out
}

/// `prefix` followed by the sort key `sk` as a complete component.
pub(super) fn with_sort_key(prefix: &[u8], sk: &str) -> Vec<u8> {
    let mut out = prefix.to_vec();
    push_component(&mut out, sk);
    out
}

/// `prefix` followed by the escaped start of a sort key (for `begins_with`).
pub(super) fn with_sort_prefix(prefix: &[u8], sk_prefix: &str) -> Vec<u8> {
    let mut out = prefix.to_vec();
    push_escaped(&mut out, sk_prefix);
    out
}

/// The smallest byte string greater than every string that starts with `bytes`; `None` if there is none.
pub(super) fn successor(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// What a write needs to know about the stored item: its condition inputs and its index entries.
#[derive(Debug, PartialEq)]
pub(super) struct Header {
    pub version: u64,
    pub ttl: Option<i64>,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    pub key: Key,
}

impl Header {
    pub fn is_expired(&self, now_seconds: i64) -> bool {
        self.ttl.is_some_and(|t| t <= now_seconds)
    }
}

/// `[FORMAT][version u64][ttl?][gsi1?][gsi2?][pk][sk][data JSON]`, integers little-endian,
/// strings u32-length-prefixed. Refuses items over [`MAX_ITEM_BYTES`] as DynamoDB does.
pub(super) fn encode_item(item: &Item) -> Result<Vec<u8>, TableError> {
    let data = serde_json::to_vec(&item.data)
        .map_err(|e| TableError::Invalid(format!("item data is not serializable: {e}")))?;
    let mut out = Vec::with_capacity(data.len() + item.key.pk.len() + item.key.sk.len() + 64);
    out.push(FORMAT);
    out.extend_from_slice(&item.version.to_le_bytes());
    match item.ttl {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.to_le_bytes());
        }
        None => out.push(0),
    }
    for gsi in [&item.gsi1, &item.gsi2] {
        match gsi {
            Some(k) => {
                out.push(1);
                push_str(&mut out, &k.pk)?;
                push_str(&mut out, &k.sk)?;
            }
            None => out.push(0),
        }
    }
    push_str(&mut out, &item.key.pk)?;
    push_str(&mut out, &item.key.sk)?;
    out.extend_from_slice(&data);
    if out.len() > MAX_ITEM_BYTES {
        return Err(TableError::Invalid(format!(
            "item {}/{} is {} bytes, over the {MAX_ITEM_BYTES}-byte limit",
            item.key.pk,
            item.key.sk,
            out.len()
        )));
    }
    Ok(out)
}

fn push_str(out: &mut Vec<u8>, s: &str) -> Result<(), TableError> {
    let len = u32::try_from(s.len())
        .map_err(|_| TableError::Invalid("key attribute too long".to_owned()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// The header of a stored value and the JSON body after it.
pub(super) fn decode_header(bytes: &[u8]) -> Result<(Header, &[u8]), TableError> {
    let mut r = Reader { rest: bytes };
    if r.u8()? != FORMAT {
        return Err(corrupt());
    }
    let version = u64::from_le_bytes(r.array()?);
    let ttl = match r.u8()? {
        0 => None,
        _ => Some(i64::from_le_bytes(r.array()?)),
    };
    let mut gsis = [None, None];
    for gsi in &mut gsis {
        if r.u8()? != 0 {
            *gsi = Some(IndexKey::new(r.string()?, r.string()?));
        }
    }
    let [gsi1, gsi2] = gsis;
    let key = Key::new(r.string()?, r.string()?);
    let header = Header {
        version,
        ttl,
        gsi1,
        gsi2,
        key,
    };
    Ok((header, r.rest))
}

pub(super) fn decode_item(bytes: &[u8]) -> Result<Item, TableError> {
    let (h, data) = decode_header(bytes)?;
    let data = serde_json::from_slice(data).map_err(|_| corrupt())?;
    Ok(Item {
        key: h.key,
        version: h.version,
        gsi1: h.gsi1,
        gsi2: h.gsi2,
        ttl: h.ttl,
        data,
    })
}

fn corrupt() -> TableError {
    TableError::Permanent("embedded table holds a value it cannot decode".to_owned())
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TableError> {
        if self.rest.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, TableError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TableError> {
        self.take(N)?.try_into().map_err(|_| corrupt())
    }

    fn string(&mut self) -> Result<String, TableError> {
        let len = u32::from_le_bytes(self.array()?);
        let len = usize::try_from(len).map_err(|_| corrupt())?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn composite_keys_sort_like_their_components() {
        let pairs = [
            ("a", "b", "a", "ba"),
            ("a", "", "a", "\0"),
            ("a", "\0", "a", "\u{1}"),
            ("a", "z", "a\0", ""),
            ("a", "zz", "ab", ""),
            ("", "x", "a", ""),
            ("a", "é", "a", "\u{10FFFF}"),
        ];
        for (p1, s1, p2, s2) in pairs {
            let a = primary_key(&Key::new(p1, s1));
            let b = primary_key(&Key::new(p2, s2));
            assert!(a < b, "{p1:?}/{s1:?} should sort before {p2:?}/{s2:?}");
        }
    }

    #[test]
    fn a_sort_prefix_bounds_exactly_the_keys_that_start_with_it() {
        let p = partition_prefix("P");
        let lo = with_sort_prefix(&p, "ab");
        let hi = successor(&lo).unwrap();
        for sk in ["ab", "ab\0", "abz", "ab\u{10FFFF}x"] {
            let k = with_sort_key(&p, sk);
            assert!(lo <= k && k < hi, "{sk:?} is inside");
        }
        for sk in ["a", "aa\u{10FFFF}", "ac", "b"] {
            let k = with_sort_key(&p, sk);
            assert!(!(lo <= k && k < hi), "{sk:?} is outside");
        }
    }

    #[test]
    fn an_item_round_trips_through_its_encoding() {
        let item = Item::new(Key::new("p\0", "s"), 7, json!({"a": [1, "x"]}))
            .with_gsi1(IndexKey::new("g", "h"))
            .with_ttl(-5);
        let bytes = encode_item(&item).unwrap();
        assert_eq!(decode_item(&bytes).unwrap(), item);
        assert!(decode_item(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn an_item_over_the_size_limit_is_invalid() {
        let big = "x".repeat(MAX_ITEM_BYTES);
        let item = Item::new(Key::new("p", "s"), 1, json!(big));
        assert!(matches!(encode_item(&item), Err(TableError::Invalid(_))));
    }
}
