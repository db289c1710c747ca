//! Link requests of push link mode `association`: an account whose mobile is already a DingTalk
//! user of the corp waits for an admin to approve linking the two (one request per connector ×
//! account). Approval writes the mapping in the same transaction as the decision and its audit
//! entry; refusal keeps the push parked.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::audit::{AuditEntry, audit_op};
use super::keys::time_key;
use super::mappings::{MappedKind, Mapping, Mappings};
use super::{Actor, DirectoryError, PageOf, decode, encode};
use crate::dingtalk::DingUserId;
use crate::domain::ids::{AccountId, ConnectorId};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TableError, TxOp};

/// Where a link request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkRequestState {
    /// Filed by the push worker, waiting for an admin.
    Pending,
    /// The admin linked the account to the DingTalk user.
    Approved,
    /// The admin refused: the account's push stays parked.
    Refused,
}

impl LinkRequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Refused => "refused",
        }
    }
}

/// One request: link `account_id` to the DingTalk user `userid`, which holds its mobile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub connector_id: ConnectorId,
    pub account_id: AccountId,
    pub userid: DingUserId,
    /// The DingTalk user's name when the request was last filed.
    pub dingtalk_name: String,
    /// The DingTalk user's mobile as read, masked (`138****0001`); `None` when DingTalk hid it.
    pub dingtalk_mobile: Option<String>,
    /// DingTalk's answer to the create that found the mobile taken (`60104` or `60107`).
    pub code: String,
    pub state: LinkRequestState,
    pub created_ms: i64,
    /// The last time the push worker filed it (a pending request is refreshed by each push).
    pub filed_ms: i64,
    pub decided_ms: Option<i64>,
    /// The admin who decided (the audit log's actor).
    pub decided_by: Option<String>,
    /// The stored item's version (not part of the stored entity).
    #[serde(skip)]
    pub version: u64,
}

/// What the push worker knows when it files a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLinkRequest {
    pub connector_id: ConnectorId,
    pub account_id: AccountId,
    pub userid: DingUserId,
    pub dingtalk_name: String,
    /// The mobile as DingTalk returned it: stored masked.
    pub dingtalk_mobile: Option<String>,
    pub code: String,
}

impl LinkRequest {
    /// The outbox reason of a push waiting for this request.
    pub fn waiting_reason(&self) -> String {
        format!(
            "waiting for an admin to approve linking to DingTalk user {} ({}{}), which already \
             holds the account's mobile: approve or refuse the connector's link request for this \
             account",
            self.userid,
            self.dingtalk_name,
            self.dingtalk_mobile
                .as_deref()
                .map(|m| format!(", mobile {m}"))
                .unwrap_or_default(),
        )
    }

    /// The outbox reason of a push whose link was refused, with what the admin can do.
    pub fn refused_reason(&self) -> String {
        format!(
            "linking to DingTalk user {} ({}) was refused{}: the account's mobile belongs to that \
             user, so DingTalk will not create another. Correct the account's mobile (the push \
             then creates a new user), or delete that DingTalk user and re-drive this push",
            self.userid,
            self.dingtalk_name,
            self.decided_by
                .as_deref()
                .map(|by| format!(" by {by}"))
                .unwrap_or_default(),
        )
    }
}

/// `13800000001` → `138****0001`, `+86-13800000001` → `+86-138****0001`: enough for an admin to
/// recognise the number, not enough to read it off the list. Short values are masked whole.
pub fn mask_mobile(mobile: &str) -> String {
    let (prefix, number) = match mobile.rsplit_once('-') {
        Some((cc, n)) => (format!("{cc}-"), n),
        None => (String::new(), mobile),
    };
    let chars: Vec<char> = number.chars().collect();
    if chars.len() < 8 {
        return format!("{prefix}{}", "*".repeat(chars.len()));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{head}{}{tail}", "*".repeat(chars.len() - 7))
}

fn key(connector: &ConnectorId, account: &AccountId) -> Key {
    Key::new(format!("LINKREQ#{connector}"), format!("ACC#{account}"))
}

/// Every request of a connector, on `gsi2`, newest first.
fn all_of(connector: &ConnectorId) -> String {
    format!("LINKREQS#{connector}")
}

/// The requests of a connector in one state, on `gsi1`, newest first.
fn in_state(connector: &ConnectorId, state: LinkRequestState) -> String {
    format!("LINKREQS#{connector}#{}", state.as_str())
}

fn item(r: &LinkRequest, version: u64) -> Result<Item, DirectoryError> {
    let sk = format!("{}#{}", time_key(r.created_ms), r.account_id);
    Ok(
        Item::new(key(&r.connector_id, &r.account_id), version, encode(r)?)
            .with_gsi1(IndexKey::new(
                in_state(&r.connector_id, r.state),
                sk.clone(),
            ))
            .with_gsi2(IndexKey::new(all_of(&r.connector_id), sk)),
    )
}

/// The write of `r` over the version it was read at (absent when new).
fn versioned(r: &LinkRequest) -> Result<(Item, Cond), DirectoryError> {
    let cond = match r.version {
        0 => Cond::Absent,
        v => Cond::Version(v),
    };
    Ok((item(r, r.version + 1)?, cond))
}

fn put_op(r: &LinkRequest) -> Result<TxOp, DirectoryError> {
    let (item, cond) = versioned(r)?;
    Ok(TxOp::Put { item, cond })
}

fn read(i: &Item) -> Result<LinkRequest, DirectoryError> {
    let mut r: LinkRequest = decode(i)?;
    r.version = i.version;
    Ok(r)
}

#[derive(Clone)]
pub struct LinkRequests {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl LinkRequests {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    pub async fn get(
        &self,
        connector: &ConnectorId,
        account: &AccountId,
    ) -> Result<Option<LinkRequest>, DirectoryError> {
        match self.table.get(&key(connector, account)).await? {
            Some(i) => Ok(Some(read(&i)?)),
            None => Ok(None),
        }
    }

    /// Files the request of a push that found the account's mobile taken, and returns the request
    /// as it stands. A decision already taken for the same DingTalk user stands (an approval lets
    /// the worker link, a refusal keeps the push parked); a pending one is refreshed with what
    /// DingTalk shows now; a request for another DingTalk user (the mobile changed) is replaced by
    /// a new pending one.
    pub async fn file(&self, new: NewLinkRequest) -> Result<LinkRequest, DirectoryError> {
        let now = self.clock.now_millis();
        let existing = self.get(&new.connector_id, &new.account_id).await?;
        let request = match existing {
            Some(r) if r.userid == new.userid && r.state != LinkRequestState::Pending => {
                return Ok(r);
            }
            Some(r) if r.userid == new.userid => LinkRequest {
                dingtalk_name: new.dingtalk_name,
                dingtalk_mobile: new.dingtalk_mobile.as_deref().map(mask_mobile),
                code: new.code,
                filed_ms: now,
                ..r
            },
            other => LinkRequest {
                connector_id: new.connector_id,
                account_id: new.account_id,
                userid: new.userid,
                dingtalk_name: new.dingtalk_name,
                dingtalk_mobile: new.dingtalk_mobile.as_deref().map(mask_mobile),
                code: new.code,
                state: LinkRequestState::Pending,
                created_ms: now,
                filed_ms: now,
                decided_ms: None,
                decided_by: None,
                version: other.map_or(0, |r| r.version),
            },
        };
        let (item, cond) = versioned(&request)?;
        match self.table.put(item, cond).await {
            Ok(()) => Ok(LinkRequest {
                version: request.version + 1,
                ..request
            }),
            // Another push of the same account, or an admin's decision, came first.
            Err(TableError::ConditionFailed) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// A connector's requests, newest first: those in `state`, or all of them.
    pub async fn list(
        &self,
        connector: &ConnectorId,
        state: Option<LinkRequestState>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<LinkRequest>, DirectoryError> {
        let q = match state {
            Some(s) => Query::partition(Index::Gsi1, in_state(connector, s)),
            None => Query::partition(Index::Gsi2, all_of(connector)),
        }
        .descending()
        .limit(limit)
        .after(cursor);
        let page = self.table.query(&q).await?;
        let items = page.items.iter().map(read).collect::<Result<_, _>>()?;
        Ok(PageOf {
            items,
            next: page.next,
        })
    }

    /// Approves `r` (read just before): the mapping account ↔ DingTalk user, the decision and its
    /// audit entry in one transaction. Refused with a conflict when the request is approved
    /// already, or is stale: the DingTalk user is linked to another account by now, or the
    /// account to another DingTalk user.
    pub async fn approve(
        &self,
        r: &LinkRequest,
        actor: &Actor,
    ) -> Result<LinkRequest, DirectoryError> {
        if r.state == LinkRequestState::Approved {
            return Err(conflict(format!(
                "the request was approved already: the account is linked to DingTalk user {}",
                r.userid
            )));
        }
        let mappings = Mappings::new(self.table.clone());
        let holder = mappings.account_of(&r.connector_id, &r.userid).await?;
        if let Some(other) = holder.as_ref().filter(|a| **a != r.account_id) {
            return Err(conflict(format!(
                "DingTalk user {} is linked to account {other} by now: the request is stale. \
                 Correct the mobile of one of the two accounts",
                r.userid
            )));
        }
        let linked_to = mappings
            .of_entity(r.account_id.as_str())
            .await?
            .into_iter()
            .find(|m| m.connector_id == r.connector_id && m.kind == MappedKind::User);
        if let Some(m) = linked_to.filter(|m| m.external_id != r.userid.as_str()) {
            return Err(conflict(format!(
                "the account is linked to DingTalk user {} by now: the request for DingTalk user \
                 {} is stale",
                m.external_id, r.userid
            )));
        }
        let mut ops = Vec::new();
        if holder.is_none() {
            let mapping = Mapping {
                connector_id: r.connector_id.clone(),
                kind: MappedKind::User,
                external_id: r.userid.as_str().to_owned(),
                our_id: r.account_id.as_str().to_owned(),
                // Not read at approval: the push that follows reads the user and adds it.
                unionid: None,
            };
            // Absent, not overwritten: a worker linking the same user meanwhile makes this a
            // conflict instead of a silent second owner.
            if let TxOp::Put { item, .. } = Mappings::put_op(&mapping)? {
                ops.push(TxOp::Put {
                    item,
                    cond: Cond::Absent,
                });
            }
        }
        self.decide(r, LinkRequestState::Approved, actor, ops).await
    }

    /// Refuses `r` (read just before), with its audit entry. Only a pending request is refused:
    /// an approved one has linked the account already.
    pub async fn refuse(
        &self,
        r: &LinkRequest,
        actor: &Actor,
    ) -> Result<LinkRequest, DirectoryError> {
        if r.state != LinkRequestState::Pending {
            return Err(conflict(format!(
                "the request was {} already",
                r.state.as_str()
            )));
        }
        self.decide(r, LinkRequestState::Refused, actor, Vec::new())
            .await
    }

    async fn decide(
        &self,
        r: &LinkRequest,
        state: LinkRequestState,
        actor: &Actor,
        mut ops: Vec<TxOp>,
    ) -> Result<LinkRequest, DirectoryError> {
        let now = self.clock.now_millis();
        let decided = LinkRequest {
            state,
            decided_ms: Some(now),
            decided_by: Some(actor.name.clone()),
            ..r.clone()
        };
        let action = match state {
            LinkRequestState::Approved => "dingtalk_link_approved",
            _ => "dingtalk_link_refused",
        };
        ops.push(put_op(&decided)?);
        ops.push(audit_op(AuditEntry::new(
            actor,
            now,
            "account",
            r.account_id.as_str(),
            action,
            Some(encode(r)?),
            Some(encode(&decided)?),
        )));
        self.table.transact(ops).await?;
        Ok(LinkRequest {
            version: r.version + 1,
            ..decided
        })
    }
}

fn conflict(detail: String) -> DirectoryError {
    DirectoryError::Conflict {
        attr: "link_request",
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_keep_their_first_three_and_last_four_digits() {
        assert_eq!(mask_mobile("13800000001"), "138****0001");
        assert_eq!(mask_mobile("+86-13800000001"), "+86-138****0001");
        assert_eq!(mask_mobile("+1-2025550143"), "+1-202***0143");
        assert_eq!(mask_mobile("12345"), "*****");
    }

    #[test]
    fn requests_of_one_connector_share_a_partition_keyed_by_account() {
        let c = ConnectorId::generate();
        let a = AccountId::generate();
        assert_eq!(key(&c, &a).pk, format!("LINKREQ#{c}"));
        assert_eq!(key(&c, &a).sk, format!("ACC#{a}"));
        assert_ne!(
            in_state(&c, LinkRequestState::Pending),
            in_state(&c, LinkRequestState::Refused)
        );
    }
}
