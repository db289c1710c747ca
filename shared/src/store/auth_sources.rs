//! Auth sources (`AUTHSRC#{id}`): DingTalk QR login and micro-app free login, secrets sealed with
//! the data key on the way in and opened only to call DingTalk. Every write is versioned and
//! audited (`auth_source`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::connectors::Connectors;
use super::{Actor, DirectoryError, PageOf, Versioned, decode_versioned, encode};
use crate::dingtalk::{DingApp, Endpoints};
pub use crate::domain::auth_source::{
    BindingRules, CheckedSource, LoginFlow, MatchBy, SourceKind, SourceSettings, Unbound,
};
use crate::domain::connector::Sealed;
use crate::domain::ids::ConnectorId;
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TxOp};
use crate::secrets::SecretBox;

/// The audit log's entity kind.
pub const ENTITY_KIND: &str = "auth_source";
const ALL_SOURCES: &str = "AUTHSRCS";
/// A deployment has a handful; the sign-in page lists them all.
pub const MAX_SOURCES: usize = 200;

/// The RedirectUrl of a QR source: what the admin registers in DingTalk (回调域名).
pub fn qr_redirect_url(public_url: &str, source_id: &str) -> String {
    format!(
        "{}/authenticate/ddtalk/forward/{source_id}",
        public_url.trim_end_matches('/')
    )
}

/// The home-page URL of an app's micro-app: what the admin pastes into DingTalk (首页地址).
pub fn micro_home_url(public_url: &str, agent_id: &str, client_id: &str) -> String {
    let q = serde_urlencoded::to_string([("agentId", agent_id), ("appId", client_id)])
        .unwrap_or_default();
    format!(
        "{}/authenticate/ddMicro/login?{q}",
        public_url.trim_end_matches('/')
    )
}

fn source_key(id: &str) -> Key {
    Key::new(format!("AUTHSRC#{id}"), "AUTHSRC")
}

/// A stored auth source. Its secrets are sealed; `Debug` leaves them out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSource {
    /// A UUID: part of the RedirectUrl registered in DingTalk, so it never changes.
    pub id: String,
    pub kind: SourceKind,
    pub name: String,
    pub corp_id: String,
    /// The corp's internal app (unionid → userid; the new flow's login app; free login). `None`
    /// when the connector's app stands for it.
    pub app_key: Option<String>,
    app_secret: Option<Sealed>,
    pub connector_id: Option<ConnectorId>,
    pub flow: LoginFlow,
    /// The legacy QR login app (扫码登录应用) of the SNS flow.
    pub sns_app_id: Option<String>,
    sns_app_secret: Option<Sealed>,
    pub agent_id: Option<String>,
    pub front_end_callback_url: Option<String>,
    pub visible: bool,
    pub enabled: bool,
    pub binding: BindingRules,
    pub oapi_base: String,
    pub api_base: String,
    pub login_base: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(skip)]
    pub version: u64,
}

impl std::fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSource")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("corp_id", &self.corp_id)
            .finish_non_exhaustive()
    }
}

impl Versioned for AuthSource {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

impl AuthSource {
    /// The settings a change is checked against.
    pub fn settings(&self) -> SourceSettings {
        SourceSettings {
            kind: Some(self.kind),
            name: self.name.clone(),
            corp_id: self.corp_id.clone(),
            app_key: self.app_key.clone(),
            has_app_secret: self.app_secret.is_some(),
            connector_id: self.connector_id.clone(),
            flow: self.flow,
            sns_app_id: self.sns_app_id.clone(),
            has_sns_app_secret: self.sns_app_secret.is_some(),
            agent_id: self.agent_id.clone(),
            front_end_callback_url: self.front_end_callback_url.clone(),
            visible: self.visible,
            enabled: self.enabled,
            binding: self.binding.clone(),
            oapi_base: self.oapi_base.clone(),
            api_base: self.api_base.clone(),
            login_base: self.login_base.clone(),
        }
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            oapi: self.oapi_base.clone(),
            api: self.api_base.clone(),
            login: self.login_base.clone(),
        }
    }

    /// The view the API and the audit log show: no secret, only whether one is set.
    pub fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "corp_id": self.corp_id,
            "app_key": self.app_key,
            "app_secret_set": self.app_secret.is_some(),
            "connector_id": self.connector_id,
            "flow": self.flow,
            "sns_app_id": self.sns_app_id,
            "sns_app_secret_set": self.sns_app_secret.is_some(),
            "agent_id": self.agent_id,
            "front_end_callback_url": self.front_end_callback_url,
            "visible": self.visible,
            "enabled": self.enabled,
            "binding": self.binding,
            "oapi_base": self.oapi_base,
            "api_base": self.api_base,
            "login_base": self.login_base,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "version": self.version,
        })
    }
}

/// Why a source's DingTalk app cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceAppError {
    #[error("connector {0} no longer exists: edit the auth source")]
    ConnectorGone(ConnectorId),
    #[error("the SNS flow has no login app (sns_app_id and sns_app_secret)")]
    NoSnsApp,
    #[error(transparent)]
    Storage(#[from] DirectoryError),
}

#[derive(Clone)]
pub struct AuthSources {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    secrets: SecretBox,
    connectors: Connectors,
}

impl AuthSources {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, secrets: SecretBox) -> Self {
        Self {
            connectors: Connectors::new(table.clone(), clock.clone(), secrets.clone()),
            table,
            clock,
            secrets,
        }
    }

    pub async fn create(
        &self,
        checked: CheckedSource,
        actor: &Actor,
    ) -> Result<AuthSource, DirectoryError> {
        let now = self.clock.now_millis();
        let mut source = AuthSource {
            id: uuid::Uuid::now_v7().to_string(),
            kind: checked.settings.kind.unwrap_or(SourceKind::DingtalkQr),
            name: String::new(),
            corp_id: String::new(),
            app_key: None,
            app_secret: None,
            connector_id: None,
            flow: LoginFlow::Oauth2,
            sns_app_id: None,
            sns_app_secret: None,
            agent_id: None,
            front_end_callback_url: None,
            visible: true,
            enabled: true,
            binding: BindingRules::default(),
            oapi_base: String::new(),
            api_base: String::new(),
            login_base: String::new(),
            created_ms: now,
            updated_ms: now,
            version: 1,
        };
        self.apply(&mut source, checked);
        self.write(None, &source, "create", actor).await?;
        Ok(source)
    }

    pub async fn update(
        &self,
        old: &AuthSource,
        checked: CheckedSource,
        actor: &Actor,
    ) -> Result<AuthSource, DirectoryError> {
        let mut source = old.clone();
        self.apply(&mut source, checked);
        source.version = old.version + 1;
        source.updated_ms = self.clock.now_millis();
        self.write(Some(old), &source, "update", actor).await?;
        Ok(source)
    }

    fn apply(&self, source: &mut AuthSource, checked: CheckedSource) {
        let s = checked.settings;
        // A new AppKey without a new secret drops the old secret (the check asked for one).
        if s.app_key.is_none() {
            source.app_secret = None;
        }
        if let Some(secret) = &checked.app_secret {
            source.app_secret = Some(self.secrets.seal(secret));
        }
        if s.sns_app_id.is_none() {
            source.sns_app_secret = None;
        }
        if let Some(secret) = &checked.sns_app_secret {
            source.sns_app_secret = Some(self.secrets.seal(secret));
        }
        source.name = s.name;
        source.corp_id = s.corp_id;
        source.app_key = s.app_key;
        source.connector_id = s.connector_id;
        source.flow = s.flow;
        source.sns_app_id = s.sns_app_id;
        source.agent_id = s.agent_id;
        source.front_end_callback_url = s.front_end_callback_url;
        source.visible = s.visible;
        source.enabled = s.enabled;
        source.binding = s.binding;
        source.oapi_base = s.oapi_base;
        source.api_base = s.api_base;
        source.login_base = s.login_base;
    }

    pub async fn get(&self, id: &str) -> Result<Option<AuthSource>, DirectoryError> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        match self.table.get(&source_key(id)).await? {
            Some(item) => Ok(Some(decode_versioned(&item)?)),
            None => Ok(None),
        }
    }

    pub async fn list(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<AuthSource>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, ALL_SOURCES)
            .limit(limit)
            .after(cursor);
        PageOf::decoded_versioned(self.table.query(&q).await?)
    }

    /// Every source (at most [`MAX_SOURCES`]), oldest first.
    pub async fn all(&self) -> Result<Vec<AuthSource>, DirectoryError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list(100, cursor).await?;
            out.extend(page.items);
            match page.next {
                Some(next) if out.len() < MAX_SOURCES => cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// The enabled micro-app source of a DingTalk AgentId.
    pub async fn micro_by_agent(
        &self,
        agent_id: &str,
    ) -> Result<Option<AuthSource>, DirectoryError> {
        Ok(self.all().await?.into_iter().find(|s| {
            s.enabled
                && s.kind == SourceKind::DingtalkMicro
                && s.agent_id.as_deref() == Some(agent_id)
        }))
    }

    pub async fn delete(&self, old: &AuthSource, actor: &Actor) -> Result<(), DirectoryError> {
        let ops = vec![
            TxOp::Delete {
                key: source_key(&old.id),
                cond: Cond::Version(old.version),
            },
            audit_op(AuditEntry::new(
                actor,
                self.clock.now_millis(),
                ENTITY_KIND,
                &old.id,
                "delete",
                Some(old.view()),
                None,
            )),
        ];
        self.transact(ops).await
    }

    /// The corp's internal app: its own AppKey, or the connector's app.
    pub async fn corp_app(&self, s: &AuthSource) -> Result<DingApp, SourceAppError> {
        if let (Some(key), Some(secret)) = (&s.app_key, &s.app_secret) {
            return Ok(DingApp {
                corp_id: s.corp_id.clone(),
                app_key: key.clone(),
                app_secret: self.open(s, secret)?,
                agent_id: s.agent_id.clone(),
                endpoints: s.endpoints(),
            });
        }
        let Some(id) = &s.connector_id else {
            return Err(SourceAppError::Storage(DirectoryError::Corrupt(format!(
                "auth source {} has neither an app nor a connector",
                s.id
            ))));
        };
        let connector = self
            .connectors
            .get(id)
            .await?
            .ok_or_else(|| SourceAppError::ConnectorGone(id.clone()))?;
        let mut app = self.connectors.app(&connector)?;
        if s.agent_id.is_some() {
            app.agent_id = s.agent_id.clone();
        }
        Ok(app)
    }

    /// The login app of the legacy SNS flow.
    pub fn sns_app(&self, s: &AuthSource) -> Result<DingApp, SourceAppError> {
        let (Some(id), Some(secret)) = (&s.sns_app_id, &s.sns_app_secret) else {
            return Err(SourceAppError::NoSnsApp);
        };
        Ok(DingApp {
            corp_id: s.corp_id.clone(),
            app_key: id.clone(),
            app_secret: self.open(s, secret)?,
            agent_id: None,
            endpoints: s.endpoints(),
        })
    }

    fn open(
        &self,
        s: &AuthSource,
        sealed: &Sealed,
    ) -> Result<crate::dingtalk::SecretString, DirectoryError> {
        self.secrets
            .open(sealed)
            .map_err(|e| DirectoryError::Corrupt(format!("auth source {}: {e}", s.id)))
    }

    async fn write(
        &self,
        old: Option<&AuthSource>,
        s: &AuthSource,
        action: &str,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        let item = Item::new(source_key(&s.id), s.version, encode(s)?)
            .with_gsi1(IndexKey::new(ALL_SOURCES, s.id.clone()));
        let cond = old.map_or(Cond::Absent, |o| Cond::Version(o.version));
        let ops = vec![
            TxOp::Put { item, cond },
            audit_op(AuditEntry::new(
                actor,
                s.updated_ms,
                ENTITY_KIND,
                &s.id,
                action,
                old.map(AuthSource::view),
                Some(s.view()),
            )),
        ];
        self.transact(ops).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), DirectoryError> {
        super::transact_or_stale(self.table.as_ref(), ops).await
    }
}
