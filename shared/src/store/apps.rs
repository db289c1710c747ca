//! Applications (SSO targets, `APP#{client_id}`): OpenID Connect relying parties and signed-JWT
//! apps, with a confidential client's secret stored only as an argon2 hash (and the previous one
//! until its overlap ends). Every write is versioned and audited (`app`).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
use super::credentials::{hex_of_public_id, public_id, secret_matches, verify_against_nothing};
use super::keys::esc;
use super::scim_clients::MAX_CREDENTIAL_LEN;
use super::{Actor, DirectoryError, PageOf, Versioned, decode_versioned, encode};
pub use crate::domain::app::{AccountAttr, AppKind, Assignment, CheckedApp};
use crate::domain::ids::{AccountId, AppId, OrgUnitId};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TxOp};
use crate::secrets::{generate_token, hash_password};

/// Public client ids start with this; the rest is the app's id without hyphens.
pub const CLIENT_ID_PREFIX: &str = "dbapp_";
/// Secrets start with this, so a leaked one is recognisable in a secret scanner.
pub const SECRET_PREFIX: &str = "dbaps_";
/// The audit log's entity kind.
pub const ENTITY_KIND: &str = "app";
/// What [`Apps::all`] reads at most: the portal's app page is one page, not a paged list.
pub const MAX_APPS: usize = 1_000;
const ALL_APPS: &str = "APPS";

/// The public client id of an app.
pub fn client_id_of(id: &AppId) -> String {
    public_id(CLIENT_ID_PREFIX, id.as_str())
}

/// The app's id behind a public client id, when it is one of ours.
pub fn id_of_client_id(client_id: &str) -> Option<AppId> {
    let id = AppId::parse(hex_of_public_id(CLIENT_ID_PREFIX, client_id)?).ok()?;
    (client_id_of(&id) == client_id).then_some(id)
}

fn app_key(client_id: &str) -> Key {
    Key::new(format!("APP#{}", esc(client_id)), "APP")
}

/// A stored app. `Debug` leaves the hashes out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub client_id: String,
    pub name: String,
    pub kind: AppKind,
    /// OIDC public client (no secret; PKCE S256 required by the provider).
    pub public: bool,
    /// Compared exactly with the `redirect_uri` of an authorization request (OIDC).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Of `domain::app::SCOPES`; `openid` always among an oidc app's.
    pub scopes: Vec<String>,
    /// OpenID Connect Core §4: the app's URL that starts a login the portal initiates.
    pub initiate_login_uri: Option<String>,
    pub home_url: Option<String>,
    /// JWT apps: where the browser is sent with the token.
    pub target_url: Option<String>,
    /// JWT apps: the query parameter that carries the token.
    pub jwt_param: String,
    /// JWT apps: passed on to `target_url` as `redirect_url`.
    pub jwt_redirect_url: Option<String>,
    /// JWT apps: the token's lifetime; ignored for oidc.
    pub jwt_lifetime_s: u32,
    /// The attribute the `sub` claim carries.
    pub subject: AccountAttr,
    pub preferred_username: AccountAttr,
    pub icon_url: Option<String>,
    pub assigned_to: Assignment,
    pub enabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The item version (not stored in `d`).
    #[serde(skip)]
    pub version: u64,
    /// `None` for public and jwt apps, which have no secret.
    secret_hash: Option<String>,
    previous_secret_hash: Option<String>,
    /// Until when the previous secret is still accepted.
    pub previous_secret_until_ms: Option<i64>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Whether `account` may use the app: everyone, or the account listed, or one of `units`
    /// listed. `units` = the account's units and all their ancestors (the caller reads them),
    /// so an assignment to a unit covers its sub-units.
    pub fn is_assigned(&self, account: &AccountId, units: &BTreeSet<OrgUnitId>) -> bool {
        self.assigned_to.covers(account, units)
    }

    /// An OpenID Connect client with a secret (`client_secret_basic` / `_post`).
    pub fn is_confidential(&self) -> bool {
        self.kind == AppKind::Oidc && !self.public
    }

    /// Whether `secret` is the app's current secret, or its previous one before the overlap
    /// ends (argon2: run off the async threads). Always false for an app without a secret.
    async fn secret_matches(&self, secret: &str, now_ms: i64) -> bool {
        secret_matches(
            secret,
            self.secret_hash.clone(),
            self.previous_secret_hash.clone(),
            self.previous_secret_until_ms,
            now_ms,
        )
        .await
    }

    fn view_json(&self) -> serde_json::Value {
        json!(AppView::from(self))
    }
}

/// An app as the API and the audit log show it: never a secret or a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppView {
    pub id: AppId,
    pub client_id: String,
    pub name: String,
    pub kind: AppKind,
    pub public: bool,
    /// Whether the app authenticates with a secret (oidc, not public).
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub initiate_login_uri: Option<String>,
    pub home_url: Option<String>,
    pub target_url: Option<String>,
    pub jwt_param: String,
    pub jwt_redirect_url: Option<String>,
    pub jwt_lifetime_s: u32,
    pub subject: AccountAttr,
    pub preferred_username: AccountAttr,
    pub icon_url: Option<String>,
    pub assigned_to: Assignment,
    pub enabled: bool,
    pub previous_secret_until_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub version: u64,
}

impl From<&App> for AppView {
    fn from(a: &App) -> Self {
        Self {
            id: a.id.clone(),
            client_id: a.client_id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            public: a.public,
            confidential: a.is_confidential(),
            redirect_uris: a.redirect_uris.clone(),
            post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
            scopes: a.scopes.clone(),
            initiate_login_uri: a.initiate_login_uri.clone(),
            home_url: a.home_url.clone(),
            target_url: a.target_url.clone(),
            jwt_param: a.jwt_param.clone(),
            jwt_redirect_url: a.jwt_redirect_url.clone(),
            jwt_lifetime_s: a.jwt_lifetime_s,
            subject: a.subject,
            preferred_username: a.preferred_username,
            icon_url: a.icon_url.clone(),
            assigned_to: a.assigned_to.clone(),
            enabled: a.enabled,
            previous_secret_until_ms: a.previous_secret_until_ms,
            created_ms: a.created_ms,
            updated_ms: a.updated_ms,
            version: a.version,
        }
    }
}

async fn hash(secret: &str) -> Result<String, DirectoryError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .map_err(|e| DirectoryError::Corrupt(format!("hashing stopped: {e}")))?
        .map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

#[derive(Clone)]
pub struct Apps {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl Apps {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// Makes an app; a confidential one's secret is returned this once (stored as a hash).
    pub async fn create(
        &self,
        input: CheckedApp,
        actor: &Actor,
    ) -> Result<(App, Option<String>), DirectoryError> {
        let now = self.clock.now_millis();
        let id = AppId::generate();
        let confidential = input.kind == AppKind::Oidc && !input.public;
        let secret = confidential.then(|| generate_token(SECRET_PREFIX));
        let secret_hash = match &secret {
            Some(s) => Some(hash(s).await?),
            None => None,
        };
        let mut app = App {
            client_id: client_id_of(&id),
            id,
            name: String::new(),
            kind: input.kind,
            public: input.public,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: Vec::new(),
            initiate_login_uri: None,
            home_url: None,
            target_url: None,
            jwt_param: String::new(),
            jwt_redirect_url: None,
            jwt_lifetime_s: 0,
            subject: AccountAttr::Id,
            preferred_username: AccountAttr::Username,
            icon_url: None,
            assigned_to: Assignment::Everyone,
            enabled: true,
            created_ms: now,
            updated_ms: now,
            version: 1,
            secret_hash,
            previous_secret_hash: None,
            previous_secret_until_ms: None,
        };
        apply(&mut app, input);
        self.write(None, &app, "create", actor).await?;
        Ok((app, secret))
    }

    pub async fn get(&self, id: &AppId) -> Result<Option<App>, DirectoryError> {
        self.by_client_id(&client_id_of(id)).await
    }

    /// The app a public client id names (one get); `None` for ids that are not ours.
    pub async fn by_client_id(&self, client_id: &str) -> Result<Option<App>, DirectoryError> {
        if id_of_client_id(client_id).is_none() {
            return Ok(None);
        }
        match self.table.get(&app_key(client_id)).await? {
            Some(item) => Ok(Some(decode_versioned(&item)?)),
            None => Ok(None),
        }
    }

    /// The app when `secret` is its current secret (or the previous one within its overlap).
    /// An unknown id, a public, jwt or disabled app costs a check against a dummy hash all the
    /// same, so timing does not tell which client ids exist; all of them answer `None`.
    pub async fn authenticate(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<App>, DirectoryError> {
        if client_id.len() > MAX_CREDENTIAL_LEN || secret.len() > MAX_CREDENTIAL_LEN {
            return Ok(None);
        }
        let app = self
            .by_client_id(client_id)
            .await?
            .filter(|a| a.enabled && a.is_confidential());
        let Some(app) = app else {
            verify_against_nothing(secret).await;
            return Ok(None);
        };
        let now = self.clock.now_millis();
        Ok(app.secret_matches(secret, now).await.then_some(app))
    }

    /// Apps in client-id order, a page at a time.
    pub async fn list(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<App>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, ALL_APPS)
            .limit(limit)
            .after(cursor);
        PageOf::decoded_versioned(self.table.query(&q).await?)
    }

    /// Every app, in client-id order, at most [`MAX_APPS`]: for the portal's app page, which
    /// filters them by assignment.
    pub async fn all(&self) -> Result<Vec<App>, DirectoryError> {
        let mut apps = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list(MAX_APPS - apps.len(), cursor).await?;
            apps.extend(page.items);
            match page.next {
                Some(next) if apps.len() < MAX_APPS => cursor = Some(next),
                _ => return Ok(apps),
            }
        }
    }

    /// Replaces the app's settings; conditional on `expected_version` when given (the write is
    /// conditional on the version read in any case). The kind and `public` cannot change (the
    /// secret depends on them): a different one is an invalid `kind` / `public`.
    pub async fn update(
        &self,
        id: &AppId,
        expected_version: Option<u64>,
        input: CheckedApp,
        actor: &Actor,
    ) -> Result<App, DirectoryError> {
        let old = self.current(id, expected_version).await?;
        if input.kind != old.kind {
            return Err(DirectoryError::invalid(
                "kind",
                format!("cannot change (the app is {})", old.kind.as_str()),
            ));
        }
        if input.public != old.public {
            return Err(DirectoryError::invalid("public", "cannot change"));
        }
        let mut app = old.clone();
        apply(&mut app, input);
        self.save(&old, app, "update", actor, self.clock.now_millis())
            .await
    }

    /// A new secret for a confidential app, returned this once; the current one stays valid for
    /// `overlap_s` more (none when zero). An app without a secret is a conflict.
    pub async fn rotate_secret(
        &self,
        id: &AppId,
        overlap_s: i64,
        actor: &Actor,
    ) -> Result<(App, String), DirectoryError> {
        let old = self.current(id, None).await?;
        let Some(current) = old.secret_hash.clone().filter(|_| old.is_confidential()) else {
            return Err(DirectoryError::Conflict {
                attr: "client_secret",
                detail: "the app has no secret: public and jwt apps do not authenticate with one"
                    .to_owned(),
            });
        };
        let secret = generate_token(SECRET_PREFIX);
        let mut app = old.clone();
        app.secret_hash = Some(hash(&secret).await?);
        let now = self.clock.now_millis();
        if overlap_s > 0 {
            app.previous_secret_hash = Some(current);
            app.previous_secret_until_ms = Some(now.saturating_add(overlap_s.saturating_mul(1000)));
        } else {
            app.previous_secret_hash = None;
            app.previous_secret_until_ms = None;
        }
        let saved = self.save(&old, app, "rotate_secret", actor, now).await?;
        Ok((saved, secret))
    }

    /// Deletes the app (conditional on `expected_version` when given); its secret stops
    /// working at once.
    pub async fn delete(
        &self,
        id: &AppId,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<App, DirectoryError> {
        let old = self.current(id, expected_version).await?;
        let ops = vec![
            TxOp::Delete {
                key: app_key(&old.client_id),
                cond: Cond::Version(old.version),
            },
            audit_op(AuditEntry::new(
                actor,
                self.clock.now_millis(),
                ENTITY_KIND,
                old.id.as_str(),
                "delete",
                Some(old.view_json()),
                None,
            )),
        ];
        self.transact(ops).await?;
        Ok(old)
    }

    /// The stored app, when it is at the version the caller saw (if it named one).
    async fn current(
        &self,
        id: &AppId,
        expected_version: Option<u64>,
    ) -> Result<App, DirectoryError> {
        let app = self
            .get(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("app {id}")))?;
        match expected_version {
            Some(v) if v != app.version => Err(DirectoryError::Stale),
            _ => Ok(app),
        }
    }

    async fn save(
        &self,
        old: &App,
        mut app: App,
        action: &str,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<App, DirectoryError> {
        app.updated_ms = now_ms;
        app.version = old.version + 1;
        self.write(Some(old), &app, action, actor).await?;
        Ok(app)
    }

    async fn write(
        &self,
        old: Option<&App>,
        app: &App,
        action: &str,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        let item = Item::new(app_key(&app.client_id), app.version, encode(app)?)
            .with_gsi1(IndexKey::new(ALL_APPS, esc(&app.client_id)));
        let cond = old.map_or(Cond::Absent, |o| Cond::Version(o.version));
        let ops = vec![
            TxOp::Put { item, cond },
            audit_op(AuditEntry::new(
                actor,
                app.updated_ms,
                ENTITY_KIND,
                app.id.as_str(),
                action,
                old.map(App::view_json),
                Some(app.view_json()),
            )),
        ];
        self.transact(ops).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), DirectoryError> {
        super::transact_or_stale(self.table.as_ref(), ops).await
    }
}

/// The checked settings onto an app (its id, secret and timestamps kept).
fn apply(app: &mut App, input: CheckedApp) {
    let CheckedApp {
        name,
        kind,
        public,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        initiate_login_uri,
        home_url,
        target_url,
        jwt_param,
        jwt_redirect_url,
        jwt_lifetime_s,
        subject,
        preferred_username,
        icon_url,
        assigned_to,
        enabled,
    } = input;
    *app = App {
        name,
        kind,
        public,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        initiate_login_uri,
        home_url,
        target_url,
        jwt_param,
        jwt_redirect_url,
        jwt_lifetime_s,
        subject,
        preferred_username,
        icon_url,
        assigned_to,
        enabled,
        ..app.clone()
    };
}

#[cfg(test)]
mod tests;

impl Versioned for App {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}
