//! The short-lived states of a DingTalk sign-in (`LSTATE#{digest}`, TTL ≤ 10 minutes): the
//! `state` sent to DingTalk with the QR login, and the pending binding of a DingTalk user the
//! directory does not know yet. Each is bound to the browser that started it (the digest of a
//! cookie's value) and single-use: taking it deletes it, so a replayed `state` finds nothing.
//! The table holds only the SHA-256 of the id.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DirectoryError, decode, encode};
use crate::ports::{Clock, Cond, Item, Key, Table, TableError};
use crate::secrets::{generate_token, token_digest};

pub const STATE_PREFIX: &str = "dbls_";
/// DingTalk's login pages wait for a scan; ten minutes is ample and bounds a stolen state.
pub const MAX_TTL_MS: i64 = 10 * 60 * 1000;
const MAX_ID_LEN: usize = 128;

/// What the sign-in was doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Sent to DingTalk's login page; DingTalk brings the `state` back.
    Started,
    /// DingTalk said who the person is; the directory has no account for them yet.
    Binding {
        corp_id: String,
        userid: String,
        unionid: Option<String>,
        name: Option<String>,
        /// The bind form's CSRF token.
        csrf: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    pub source_id: String,
    /// Where to go after sign-in (a local path), when something asked.
    pub next: Option<String>,
    /// The digest of the browser cookie the state is bound to.
    pub browser: String,
    pub created_ms: i64,
    #[serde(flatten)]
    pub stage: Stage,
}

impl LoginState {
    /// Whether `cookie` is the browser the state was made for.
    pub fn is_for(&self, cookie: Option<&str>) -> bool {
        cookie.is_some_and(|c| crate::secrets::same_token(&token_digest(c), &self.browser))
    }
}

fn key(id: &str) -> Key {
    Key::new(format!("LSTATE#{}", token_digest(id)), "LSTATE")
}

fn plausible(id: &str) -> bool {
    id.starts_with(STATE_PREFIX) && id.len() <= MAX_ID_LEN
}

#[derive(Clone)]
pub struct LoginStates {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl LoginStates {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// Stores a state for the browser whose cookie is `browser_cookie`; its id.
    pub async fn start(
        &self,
        source_id: &str,
        next: Option<String>,
        browser_cookie: &str,
        stage: Stage,
        ttl_ms: i64,
    ) -> Result<String, DirectoryError> {
        let now = self.clock.now_millis();
        let id = generate_token(STATE_PREFIX);
        let state = LoginState {
            source_id: source_id.to_owned(),
            next,
            browser: token_digest(browser_cookie),
            created_ms: now,
            stage,
        };
        let expires = now + ttl_ms.clamp(1_000, MAX_TTL_MS);
        let item = Item::new(key(&id), 1, encode(&state)?).with_ttl(expires.div_euclid(1000) + 1);
        self.table.put(item, Cond::Absent).await?;
        Ok(id)
    }

    /// The state, left in place (the bind page shows it until the binding succeeds).
    pub async fn peek(&self, id: &str) -> Result<Option<LoginState>, DirectoryError> {
        if !plausible(id) {
            return Ok(None);
        }
        match self.table.get(&key(id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// The state, deleted: only one request ever gets it.
    pub async fn take(&self, id: &str) -> Result<Option<LoginState>, DirectoryError> {
        if !plausible(id) {
            return Ok(None);
        }
        let Some(item) = self.table.get(&key(id)).await? else {
            return Ok(None);
        };
        match self
            .table
            .delete(&key(id), Cond::Version(item.version))
            .await
        {
            Ok(()) => Ok(Some(decode(&item)?)),
            Err(TableError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
