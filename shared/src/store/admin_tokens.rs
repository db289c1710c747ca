//! Admin API bearer tokens, stored only as their SHA-256 digest (`ADMTOK#{digest}`): a copy of the
//! table holds no usable credential, and a check is one point read by digest.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::time_key;
use super::{DirectoryError, decode, encode};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TableError};
use crate::secrets::token_digest;

pub const ALL_ADMIN_TOKENS: &str = "ADMTOKS";

/// A stored token: its digest and a label for audit entries (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    pub digest: String,
    pub name: String,
    pub created_ms: i64,
}

fn token_key(digest: &str) -> Key {
    Key::new(format!("ADMTOK#{digest}"), "ADMTOK")
}

#[derive(Clone)]
pub struct AdminTokens {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl AdminTokens {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// The stored token matching a presented bearer token, if any.
    pub async fn find(&self, token: &str) -> Result<Option<AdminToken>, DirectoryError> {
        match self.table.get(&token_key(&token_digest(token))).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// Stores a token's digest; `false` when it was already stored.
    pub async fn add(&self, token: &str, name: &str) -> Result<bool, DirectoryError> {
        let now = self.clock.now_millis();
        let digest = token_digest(token);
        let t = AdminToken {
            digest: digest.clone(),
            name: name.to_owned(),
            created_ms: now,
        };
        let item = Item::new(token_key(&digest), 1, encode(&t)?).with_gsi1(IndexKey::new(
            ALL_ADMIN_TOKENS,
            format!("{}#{digest}", time_key(now)),
        ));
        match self.table.put(item, Cond::Absent).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether any admin token exists (first start: none yet).
    pub async fn any(&self) -> Result<bool, DirectoryError> {
        let q = Query::partition(Index::Gsi1, ALL_ADMIN_TOKENS).limit(1);
        Ok(!self.table.query(&q).await?.items.is_empty())
    }
}
