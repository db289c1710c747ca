//! Connectors over the `Table` port: secrets sealed on the way in, opened only where a DingTalk
//! call or a callback check needs them; one connector per DingTalk app, held by a claim marker.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::{Actor, DirectoryError, PageOf, decode, encode};
use crate::dingtalk::{DingApp, Endpoints, SecretString};
use crate::domain::connector::{AppKey, CheckedConnector, Connector, CorpId, StoredSecrets};
use crate::domain::ids::{ConnectorId, OrgUnitId};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TableError, TxOp};
use crate::secrets::SecretBox;
use crate::store::keys::{self, esc};

pub const ALL_CONNECTORS: &str = "CONNS";

pub fn connector_key(id: &ConnectorId) -> Key {
    Key::new(format!("CONN#{id}"), "CONN")
}

/// The marker item of `keys::connector_app`: which connector holds the app.
#[derive(Serialize, Deserialize)]
struct AppClaim {
    owner: ConnectorId,
    corp_id: CorpId,
    app_key: AppKey,
}

/// Who holds a DingTalk app, as seen by connector `me`.
enum Claim {
    Free,
    /// The marker names a connector that no longer exists (its version, to take it over).
    Stale(u64),
    /// `me` holds it.
    Mine,
    Held(Box<Connector>),
}

/// The 409 of a second connector for an app: DingTalk has one callback URL per app.
fn taken(holder: &Connector) -> DirectoryError {
    DirectoryError::Conflict {
        attr: "app_key",
        detail: format!(
            "connector {} (\"{}\") already uses corp_id {} with app_key {}: DingTalk keeps one \
             callback URL per app, so a second connector would take its events over; edit or \
             delete that connector instead",
            holder.id, holder.name, holder.corp_id, holder.app_key
        ),
    }
}

/// The secrets of a connector, opened.
#[derive(Clone, Debug)]
pub struct OpenedSecrets {
    pub app_secret: SecretString,
    pub callback_token: Option<SecretString>,
    pub callback_aes_key: Option<SecretString>,
    pub default_password: Option<SecretString>,
}

#[derive(Clone)]
pub struct Connectors {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    secrets: SecretBox,
}

impl Connectors {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, secrets: SecretBox) -> Self {
        Self {
            table,
            clock,
            secrets,
        }
    }

    pub async fn get(&self, id: &ConnectorId) -> Result<Option<Connector>, DirectoryError> {
        match self.table.get(&connector_key(id)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    pub async fn list(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<Connector>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, ALL_CONNECTORS)
            .limit(limit)
            .after(cursor);
        PageOf::decoded(self.table.query(&q).await?)
    }

    /// Every connector (a deployment has a handful: one per DingTalk app).
    pub async fn all(&self) -> Result<Vec<Connector>, DirectoryError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list(100, cursor).await?;
            out.extend(page.items);
            cursor = page.next;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// Which secrets a stored connector holds (for validating an update).
    pub fn stored_secrets(c: &Connector) -> StoredSecrets {
        StoredSecrets {
            app_secret: true,
            callback_token: c.callback_token.is_some(),
            callback_aes_key: c.callback_aes_key.is_some(),
        }
    }

    pub async fn create(
        &self,
        checked: CheckedConnector,
        root: OrgUnitId,
        actor: &Actor,
    ) -> Result<Connector, DirectoryError> {
        let now = self.clock.now_millis();
        let app_secret = checked
            .app_secret
            .as_deref()
            .map(|s| self.secrets.seal(s))
            .ok_or_else(|| DirectoryError::invalid("app_secret", "is required"))?;
        let c = Connector {
            id: ConnectorId::generate(),
            name: checked.name,
            corp_id: checked.corp_id,
            app_key: checked.app_key,
            app_secret,
            agent_id: checked.agent_id,
            enabled: checked.enabled,
            email_field: checked.email_field,
            register_callback: checked.register_callback,
            callback_token: checked
                .callback_token
                .as_deref()
                .map(|s| self.secrets.seal(s)),
            callback_aes_key: checked
                .callback_aes_key
                .as_deref()
                .map(|s| self.secrets.seal(s)),
            receive_id_mode: checked.receive_id_mode,
            root_org_unit_id: checked.root_org_unit_id.unwrap_or(root),
            default_password: checked
                .default_password
                .as_deref()
                .map(|s| self.secrets.seal(s)),
            leaver_policy: checked.leaver_policy,
            pull_mode: checked.pull_mode,
            pull_schedule: checked.pull_schedule,
            mass_delete_max_share: checked.mass_delete_max_share,
            mass_delete_max_count: checked.mass_delete_max_count,
            push: checked.push,
            oapi_base: checked.oapi_base,
            api_base: checked.api_base,
            login_base: checked.login_base,
            callback_status: None,
            version: 1,
            created_ms: now,
            updated_ms: now,
        };
        let claim = match self.claim_of(&c.corp_id, &c.app_key, &c.id).await? {
            Claim::Held(holder) => return Err(taken(&holder)),
            Claim::Mine | Claim::Free => self.claim_op(&c, Cond::Absent)?,
            Claim::Stale(v) => self.claim_op(&c, Cond::Version(v))?,
        };
        let ops = vec![
            TxOp::Put {
                item: self.item(&c)?,
                cond: Cond::Absent,
            },
            claim,
            audit_op(AuditEntry::new(
                actor,
                now,
                "connector",
                c.id.as_str(),
                "create",
                None,
                Some(audit_view(&c)),
            )),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(c),
            Err(TableError::TransactionCancelled { .. }) => Err(self.lost_claim(&c).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Who holds the app `corp_id` × `app_key`, for connector `me`. Connectors saved before
    /// claims existed have no marker: the list (a few items) is read for them.
    async fn claim_of(
        &self,
        corp_id: &CorpId,
        app_key: &AppKey,
        me: &ConnectorId,
    ) -> Result<Claim, DirectoryError> {
        if let Some((owner, version)) = self.marker_of(corp_id, app_key).await? {
            if &owner == me {
                return Ok(Claim::Mine);
            }
            return Ok(match self.get(&owner).await? {
                Some(holder) => Claim::Held(Box::new(holder)),
                None => Claim::Stale(version),
            });
        }
        let mut cursor = None;
        loop {
            let page = self.list(100, cursor).await?;
            if let Some(holder) = page
                .items
                .into_iter()
                .find(|c| &c.id != me && &c.corp_id == corp_id && &c.app_key == app_key)
            {
                return Ok(Claim::Held(Box::new(holder)));
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(Claim::Free),
            }
        }
    }

    /// The marker of an app: its owner and version.
    async fn marker_of(
        &self,
        corp_id: &CorpId,
        app_key: &AppKey,
    ) -> Result<Option<(ConnectorId, u64)>, DirectoryError> {
        match self
            .table
            .get(&keys::connector_app(corp_id.as_str(), app_key.as_str()))
            .await?
        {
            Some(item) => {
                let claim: AppClaim = decode(&item)?;
                Ok(Some((claim.owner, item.version)))
            }
            None => Ok(None),
        }
    }

    fn claim_op(&self, c: &Connector, cond: Cond) -> Result<TxOp, DirectoryError> {
        let claim = AppClaim {
            owner: c.id.clone(),
            corp_id: c.corp_id.clone(),
            app_key: c.app_key.clone(),
        };
        let version = match cond {
            Cond::Version(v) => v + 1,
            _ => 1,
        };
        Ok(TxOp::Put {
            item: Item::new(
                keys::connector_app(c.corp_id.as_str(), c.app_key.as_str()),
                version,
                encode(&claim)?,
            ),
            cond,
        })
    }

    /// Why a transaction that claims `c`'s app was cancelled: another connector took the app
    /// meanwhile (409 naming it), or the connector itself changed.
    async fn lost_claim(&self, c: &Connector) -> DirectoryError {
        match self.claim_of(&c.corp_id, &c.app_key, &c.id).await {
            Ok(Claim::Held(holder)) => taken(&holder),
            Ok(_) => DirectoryError::Stale,
            Err(e) => e,
        }
    }

    /// Apply checked settings to a stored connector; secrets not given are kept.
    pub async fn update(
        &self,
        old: &Connector,
        checked: CheckedConnector,
        actor: &Actor,
    ) -> Result<Connector, DirectoryError> {
        let now = self.clock.now_millis();
        let seal = |new: &Option<String>, old: &Option<crate::domain::connector::Sealed>| {
            new.as_deref()
                .map(|s| self.secrets.seal(s))
                .or_else(|| old.clone())
        };
        let mut c = old.clone();
        c.name = checked.name;
        c.corp_id = checked.corp_id;
        c.app_key = checked.app_key;
        if let Some(s) = checked.app_secret.as_deref() {
            c.app_secret = self.secrets.seal(s);
        }
        c.agent_id = checked.agent_id;
        c.enabled = checked.enabled;
        c.email_field = checked.email_field;
        c.register_callback = checked.register_callback;
        c.callback_token = seal(&checked.callback_token, &old.callback_token);
        c.callback_aes_key = seal(&checked.callback_aes_key, &old.callback_aes_key);
        c.receive_id_mode = checked.receive_id_mode;
        if let Some(root) = checked.root_org_unit_id {
            c.root_org_unit_id = root;
        }
        c.default_password = seal(&checked.default_password, &old.default_password);
        c.leaver_policy = checked.leaver_policy;
        c.pull_mode = checked.pull_mode;
        c.pull_schedule = checked.pull_schedule;
        c.mass_delete_max_share = checked.mass_delete_max_share;
        c.mass_delete_max_count = checked.mass_delete_max_count;
        c.push = checked.push;
        c.oapi_base = checked.oapi_base;
        c.api_base = checked.api_base;
        c.login_base = checked.login_base;
        c.version = old.version + 1;
        c.updated_ms = now;
        let moved = old.corp_id != c.corp_id || old.app_key != c.app_key;
        let mut claims = Vec::new();
        match self.claim_of(&c.corp_id, &c.app_key, &c.id).await? {
            Claim::Held(holder) if moved => return Err(taken(&holder)),
            // Two connectors of one app saved before claims existed: neither is locked out of
            // its other settings; the first to move away frees the app for the other.
            Claim::Held(_) | Claim::Mine => {}
            Claim::Free => claims.push(self.claim_op(&c, Cond::Absent)?),
            Claim::Stale(v) => claims.push(self.claim_op(&c, Cond::Version(v))?),
        }
        if moved
            && let Some((owner, v)) = self.marker_of(&old.corp_id, &old.app_key).await?
            && owner == old.id
        {
            claims.push(TxOp::Delete {
                key: keys::connector_app(old.corp_id.as_str(), old.app_key.as_str()),
                cond: Cond::Version(v),
            });
        }
        self.write(old, &c, claims, actor, "update").await?;
        Ok(c)
    }

    /// Record the outcome of a callback registration (shown to the admin).
    pub async fn set_callback_status(
        &self,
        old: &Connector,
        status: String,
        actor: &Actor,
    ) -> Result<Connector, DirectoryError> {
        let mut c = old.clone();
        c.callback_status = Some(status);
        c.version = old.version + 1;
        c.updated_ms = self.clock.now_millis();
        self.write(old, &c, Vec::new(), actor, "callback_status")
            .await?;
        Ok(c)
    }

    /// The connector's new state with its claim changes (`claims`) and its audit entry, in one
    /// transaction.
    async fn write(
        &self,
        old: &Connector,
        new: &Connector,
        claims: Vec<TxOp>,
        actor: &Actor,
        action: &str,
    ) -> Result<(), DirectoryError> {
        let claiming = !claims.is_empty();
        let mut ops = vec![TxOp::Put {
            item: self.item(new)?,
            cond: Cond::Version(old.version),
        }];
        ops.extend(claims);
        ops.push(audit_op(AuditEntry::new(
            actor,
            new.updated_ms,
            "connector",
            new.id.as_str(),
            action,
            Some(audit_view(old)),
            Some(audit_view(new)),
        )));
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCancelled { failed })
                if claiming && !failed.contains(&0) =>
            {
                Err(self.lost_claim(new).await)
            }
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the connector and frees its app for another connector.
    pub async fn delete(&self, old: &Connector, actor: &Actor) -> Result<(), DirectoryError> {
        let now = self.clock.now_millis();
        let mut ops = vec![TxOp::Delete {
            key: connector_key(&old.id),
            cond: Cond::Version(old.version),
        }];
        if let Some((owner, v)) = self.marker_of(&old.corp_id, &old.app_key).await?
            && owner == old.id
        {
            ops.push(TxOp::Delete {
                key: keys::connector_app(old.corp_id.as_str(), old.app_key.as_str()),
                cond: Cond::Version(v),
            });
        }
        ops.push(audit_op(AuditEntry::new(
            actor,
            now,
            "connector",
            old.id.as_str(),
            "delete",
            Some(audit_view(old)),
            None,
        )));
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    pub fn open_secrets(&self, c: &Connector) -> Result<OpenedSecrets, DirectoryError> {
        let open = |s: &crate::domain::connector::Sealed| {
            self.secrets
                .open(s)
                .map_err(|e| DirectoryError::Corrupt(format!("connector {}: {e}", c.id)))
        };
        Ok(OpenedSecrets {
            app_secret: open(&c.app_secret)?,
            callback_token: c.callback_token.as_ref().map(open).transpose()?,
            callback_aes_key: c.callback_aes_key.as_ref().map(open).transpose()?,
            default_password: c.default_password.as_ref().map(open).transpose()?,
        })
    }

    /// The DingTalk app of a connector, for the client.
    pub fn app(&self, c: &Connector) -> Result<DingApp, DirectoryError> {
        let secrets = self.open_secrets(c)?;
        Ok(DingApp {
            corp_id: c.corp_id.to_string(),
            app_key: c.app_key.to_string(),
            app_secret: secrets.app_secret,
            agent_id: c.agent_id.map(|a| a.to_string()),
            endpoints: Endpoints {
                oapi: c.oapi_base.clone(),
                api: c.api_base.clone(),
                login: c.login_base.clone(),
            },
        })
    }

    fn item(&self, c: &Connector) -> Result<Item, DirectoryError> {
        Ok(
            Item::new(connector_key(&c.id), c.version, encode(c)?).with_gsi1(IndexKey::new(
                ALL_CONNECTORS,
                format!("{}#{}", esc(&c.name.to_lowercase()), c.id),
            )),
        )
    }
}

/// A connector in the audit log: sealed secrets are left out entirely.
fn audit_view(c: &Connector) -> serde_json::Value {
    let mut v = json!(crate::domain::connector::ConnectorView::from(c));
    if let Some(o) = v.as_object_mut() {
        o.remove("version");
    }
    v
}
