//! What the OpenID provider hands out after a sign-in: authorization codes (`OCODE#{digest}`,
//! single use, a minute to redeem), the grant a redeemed code opens (`GRANT#{id}`), and the
//! opaque access and refresh tokens of a grant (`ATOK#{digest}`, `RTOK#{digest}`). Only digests
//! of codes and tokens are stored. A code redeemed twice revokes its grant, and with it every
//! token the first redemption issued (RFC 6749 §4.1.2); so does a refresh token used twice.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{DirectoryError, decode, encode};
use crate::domain::ids::AccountId;
use crate::ports::{Clock, Cond, Item, Key, Table, TableError, TxOp};
use crate::secrets::{generate_token, token_digest};

/// An authorization code is redeemable this long (the OIDC checklist: at most a minute).
pub const CODE_LIFETIME_MS: i64 = 60_000;
/// A redeemed code is kept this long, so that a second redemption is recognised.
const USED_CODE_KEPT_MS: i64 = 10 * 60_000;
/// Access tokens live an hour.
pub const ACCESS_LIFETIME_S: i64 = 3600;
/// A grant (and its refresh token) lives thirty days from its last refresh.
pub const GRANT_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;
const MAX_TOKEN_LEN: usize = 128;

/// What the person agreed to at the authorization endpoint, carried by the code into the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub client_id: String,
    pub account_id: AccountId,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    pub auth_time_ms: i64,
    #[serde(default)]
    pub amr: Vec<String>,
    /// `acr_values` the request asked for, echoed as `acr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CodeItem {
    authorization: Authorization,
    grant_id: String,
    expires_ms: i64,
    used: bool,
}

/// A live grant: the authorization a code opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub authorization: Authorization,
}

#[derive(Serialize, Deserialize)]
struct TokenItem {
    grant_id: String,
    expires_ms: i64,
}

/// A redemption's outcome.
#[derive(Debug)]
pub enum Redeemed {
    /// The code's first redemption: the grant it opened.
    Granted(Box<Grant>),
    /// Used before (its grant is now revoked), expired, or never issued.
    Invalid(&'static str),
}

/// Issued tokens (their values exist only here and in the answer).
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in_s: i64,
}

#[derive(Clone)]
pub struct Grants {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

fn code_key(code: &str) -> Key {
    Key::new(format!("OCODE#{}", token_digest(code)), "OCODE")
}

fn grant_key(id: &str) -> Key {
    Key::new(format!("GRANT#{id}"), "GRANT")
}

fn access_key(token: &str) -> Key {
    Key::new(format!("ATOK#{}", token_digest(token)), "ATOK")
}

fn refresh_key(token: &str) -> Key {
    Key::new(format!("RTOK#{}", token_digest(token)), "RTOK")
}

fn ttl(ms: i64) -> i64 {
    ms.div_euclid(1000) + 1
}

impl Grants {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// A fresh code for `authorization`.
    pub async fn issue_code(&self, authorization: Authorization) -> Result<String, DirectoryError> {
        let now = self.clock.now_millis();
        let code = generate_token("dbac_");
        let item = CodeItem {
            authorization,
            grant_id: uuid::Uuid::now_v7().simple().to_string(),
            expires_ms: now + CODE_LIFETIME_MS,
            used: false,
        };
        let stored = Item::new(code_key(&code), 1, encode(&item)?).with_ttl(ttl(item.expires_ms));
        self.table.put(stored, Cond::Absent).await?;
        Ok(code)
    }

    /// Redeems a code once. The caller checks the client, redirect URI and PKCE against the
    /// returned grant and answers `invalid_grant` when they differ (the code is spent all the
    /// same, as RFC 6749 wants a code tried by the wrong client to be dead).
    pub async fn redeem(&self, code: &str) -> Result<Redeemed, DirectoryError> {
        if code.len() > MAX_TOKEN_LEN {
            return Ok(Redeemed::Invalid("unknown code"));
        }
        let key = code_key(code);
        let Some(item) = self.table.get(&key).await? else {
            return Ok(Redeemed::Invalid("unknown or expired code"));
        };
        let mut stored: CodeItem = decode(&item)?;
        let now = self.clock.now_millis();
        if stored.used {
            // A replay: whatever the first redemption issued stops working.
            self.table
                .delete(&grant_key(&stored.grant_id), Cond::None)
                .await?;
            return Ok(Redeemed::Invalid(
                "the code was already used; the tokens it gave are revoked",
            ));
        }
        if now >= stored.expires_ms {
            return Ok(Redeemed::Invalid("the code expired"));
        }
        stored.used = true;
        let grant = Grant {
            id: stored.grant_id.clone(),
            authorization: stored.authorization.clone(),
        };
        let used = Item::new(key, item.version + 1, encode(&stored)?)
            .with_ttl(ttl(now + USED_CODE_KEPT_MS));
        let grant_item = Item::new(grant_key(&grant.id), 1, encode(&grant)?)
            .with_ttl(ttl(now + GRANT_LIFETIME_MS));
        let ops = vec![
            TxOp::Put {
                item: used,
                cond: Cond::Version(item.version),
            },
            TxOp::Put {
                item: grant_item,
                cond: Cond::Absent,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(Redeemed::Granted(Box::new(grant))),
            // Redeemed by a concurrent request: that one wins, this one is a replay.
            Err(TableError::TransactionCancelled { .. }) | Err(TableError::ConditionFailed) => {
                self.table
                    .delete(&grant_key(&stored.grant_id), Cond::None)
                    .await?;
                Ok(Redeemed::Invalid("the code was already used"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Access and refresh tokens for a live grant.
    pub async fn issue_tokens(&self, grant: &Grant) -> Result<Tokens, DirectoryError> {
        let now = self.clock.now_millis();
        let access_token = generate_token("dbat_");
        let refresh_token = generate_token("dbrt_");
        let access = TokenItem {
            grant_id: grant.id.clone(),
            expires_ms: now + ACCESS_LIFETIME_S * 1000,
        };
        let refresh = TokenItem {
            grant_id: grant.id.clone(),
            expires_ms: now + GRANT_LIFETIME_MS,
        };
        self.table
            .transact(vec![
                TxOp::Put {
                    item: Item::new(access_key(&access_token), 1, encode(&access)?)
                        .with_ttl(ttl(access.expires_ms)),
                    cond: Cond::Absent,
                },
                TxOp::Put {
                    item: Item::new(refresh_key(&refresh_token), 1, encode(&refresh)?)
                        .with_ttl(ttl(refresh.expires_ms)),
                    cond: Cond::Absent,
                },
            ])
            .await?;
        Ok(Tokens {
            access_token,
            refresh_token,
            expires_in_s: ACCESS_LIFETIME_S,
        })
    }

    async fn grant(&self, id: &str) -> Result<Option<Grant>, DirectoryError> {
        match self.table.get(&grant_key(id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// The grant behind a live access token whose grant is not revoked.
    pub async fn by_access_token(&self, token: &str) -> Result<Option<Grant>, DirectoryError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let Some(item) = self.table.get(&access_key(token)).await? else {
            return Ok(None);
        };
        let stored: TokenItem = decode(&item)?;
        if self.clock.now_millis() >= stored.expires_ms {
            return Ok(None);
        }
        self.grant(&stored.grant_id).await
    }

    /// Trades a refresh token for new tokens (the old refresh token is spent; spending it again
    /// revokes the grant). `None` when the token is unknown, spent, or its grant revoked.
    pub async fn refresh(&self, token: &str) -> Result<Option<(Grant, Tokens)>, DirectoryError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let key = refresh_key(token);
        let Some(item) = self.table.get(&key).await? else {
            return Ok(None);
        };
        let stored: TokenItem = decode(&item)?;
        let now = self.clock.now_millis();
        let spent = item.data.get("spent").and_then(|s| s.as_bool()) == Some(true);
        if spent {
            self.table
                .delete(&grant_key(&stored.grant_id), Cond::None)
                .await?;
            return Ok(None);
        }
        if now >= stored.expires_ms {
            return Ok(None);
        }
        let Some(grant) = self.grant(&stored.grant_id).await? else {
            return Ok(None);
        };
        let mut data = encode(&stored)?;
        if let Some(obj) = data.as_object_mut() {
            obj.insert("spent".into(), json!(true));
        }
        let spent_item = Item::new(key, item.version + 1, data).with_ttl(ttl(stored.expires_ms));
        match self
            .table
            .put(spent_item, Cond::Version(item.version))
            .await
        {
            Ok(()) => {}
            Err(TableError::ConditionFailed) => {
                self.table
                    .delete(&grant_key(&stored.grant_id), Cond::None)
                    .await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        // The grant lives on from this refresh.
        let renewed = Item::new(grant_key(&grant.id), 1, encode(&grant)?)
            .with_ttl(ttl(now + GRANT_LIFETIME_MS));
        self.table.put(renewed, Cond::Exists).await?;
        let tokens = self.issue_tokens(&grant).await?;
        Ok(Some((grant, tokens)))
    }

    /// Revokes a grant and every token it issued.
    pub async fn revoke(&self, grant_id: &str) -> Result<(), DirectoryError> {
        self.table.delete(&grant_key(grant_id), Cond::None).await?;
        Ok(())
    }
}
