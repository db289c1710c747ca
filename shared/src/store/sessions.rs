//! Sign-in sessions of the portal (`SESS#{digest}`, TTL): the browser holds a random id in an
//! `HttpOnly` cookie, the table only its SHA-256, so a read of the table gives no usable session.
//! A session ends when it has been idle too long, when it reaches its absolute lifetime, at
//! sign-out, or when its account is disabled (checked by the portal on every request).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DirectoryError, decode, encode};
use crate::domain::ids::AccountId;
use crate::ports::{Clock, Cond, Item, Key, Table, TableError};
use crate::secrets::{generate_token, token_digest};

/// Session ids start with this (a leaked one is recognisable in a secret scanner).
pub const SESSION_PREFIX: &str = "dbsess_";
/// Longer cookie values are none of ours: refused before any lookup.
const MAX_ID_LEN: usize = 128;

/// How long a session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// Ends after this long without a request.
    pub idle_ms: i64,
    /// Ends this long after sign-in, however busy.
    pub absolute_ms: i64,
}

impl Default for SessionSettings {
    /// An hour idle, a working day in all.
    fn default() -> Self {
        Self {
            idle_ms: 60 * 60 * 1000,
            absolute_ms: 12 * 60 * 60 * 1000,
        }
    }
}

/// A live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account_id: AccountId,
    /// When the person authenticated (OIDC `auth_time`, in ms).
    pub auth_time_ms: i64,
    pub last_seen_ms: i64,
    /// How they authenticated (OIDC `amr`: `pwd`, or the DingTalk login's values).
    pub amr: Vec<String>,
    /// The token every form of this session carries (CSRF).
    pub csrf: String,
    /// The password must be changed before anything else (first sign-in under the policy).
    pub must_change_password: bool,
}

/// Sessions over the table.
#[derive(Clone)]
pub struct Sessions {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
}

fn key(id: &str) -> Key {
    Key::new(format!("SESS#{}", token_digest(id)), "SESS")
}

fn plausible(id: &str) -> bool {
    id.starts_with(SESSION_PREFIX) && id.len() <= MAX_ID_LEN
}

impl Sessions {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, settings: SessionSettings) -> Self {
        Self {
            table,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    /// A new session for `account`: its id (the cookie's value, never stored) and the session.
    pub async fn create(
        &self,
        account: &AccountId,
        amr: &[&str],
        must_change_password: bool,
    ) -> Result<(String, Session), DirectoryError> {
        let now = self.clock.now_millis();
        let id = generate_token(SESSION_PREFIX);
        let session = Session {
            account_id: account.clone(),
            auth_time_ms: now,
            last_seen_ms: now,
            amr: amr.iter().map(|s| (*s).to_owned()).collect(),
            csrf: generate_token(""),
            must_change_password,
        };
        self.put(&id, &session, 1, Cond::Absent).await?;
        Ok((id, session))
    }

    fn ttl_s(&self, s: &Session) -> i64 {
        let end = (s.last_seen_ms + self.settings.idle_ms)
            .min(s.auth_time_ms + self.settings.absolute_ms);
        end.div_euclid(1000) + 1
    }

    fn live(&self, s: &Session, now: i64) -> bool {
        now < s.last_seen_ms + self.settings.idle_ms
            && now < s.auth_time_ms + self.settings.absolute_ms
    }

    async fn put(
        &self,
        id: &str,
        s: &Session,
        version: u64,
        cond: Cond,
    ) -> Result<(), DirectoryError> {
        let item = Item::new(key(id), version, encode(s)?).with_ttl(self.ttl_s(s));
        self.table.put(item, cond).await?;
        Ok(())
    }

    /// The live session behind a cookie value, its idle clock restarted (written at most once a
    /// minute, so busy pages do not write on every request).
    pub async fn get(&self, id: &str) -> Result<Option<Session>, DirectoryError> {
        if !plausible(id) {
            return Ok(None);
        }
        let Some(item) = self.table.get(&key(id)).await? else {
            return Ok(None);
        };
        let mut session: Session = decode(&item)?;
        let now = self.clock.now_millis();
        if !self.live(&session, now) {
            return Ok(None);
        }
        if now - session.last_seen_ms >= 60_000 {
            session.last_seen_ms = now;
            match self
                .put(id, &session, item.version + 1, Cond::Version(item.version))
                .await
            {
                // A concurrent request touched it first: as good.
                Ok(()) | Err(DirectoryError::Storage(TableError::ConditionFailed)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(session))
    }

    /// Records that the password was changed: the session may go on to the portal.
    pub async fn password_changed(&self, id: &str) -> Result<(), DirectoryError> {
        if !plausible(id) {
            return Ok(());
        }
        let Some(item) = self.table.get(&key(id)).await? else {
            return Ok(());
        };
        let mut session: Session = decode(&item)?;
        session.must_change_password = false;
        self.put(id, &session, item.version + 1, Cond::Version(item.version))
            .await
    }

    /// Ends the session (sign-out; a new sign-in replaces the old session the same way).
    pub async fn end(&self, id: &str) -> Result<(), DirectoryError> {
        if plausible(id) {
            self.table.delete(&key(id), Cond::None).await?;
        }
        Ok(())
    }
}
