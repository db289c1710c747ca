//! SCIM clients: the OAuth 2.0 clients of the token endpoint (`OCLI#{client_id}`), each with its
//! secret stored only as an argon2 hash — the current one, and after a rotation the previous one
//! until its overlap ends. Every write is versioned and audited (`scim_client`).

use std::ops::RangeInclusive;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{AuditEntry, audit_op};
pub use super::credentials::verify_against_nothing;
use super::credentials::{hex_of_public_id, public_id, secret_matches};
use super::keys::esc;
use super::{Actor, DirectoryError, PageOf, Versioned, decode_versioned, encode};
use crate::domain::ids::{ConnectorId, OrgUnitId, ScimClientId};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TxOp};
use crate::secrets::{generate_token, hash_password};

/// Public client ids start with this; the rest is the client's id without hyphens.
pub const CLIENT_ID_PREFIX: &str = "dbscim_";
/// Secrets start with this, so a leaked one is recognisable in a secret scanner.
pub const SECRET_PREFIX: &str = "dbscs_";
/// An hour: what Entra ID's provisioning expects by default.
pub const DEFAULT_TOKEN_LIFETIME_S: u32 = 3600;
/// Five minutes to a day (Entra ID wants 60–360 minutes; others less).
pub const TOKEN_LIFETIME_S: RangeInclusive<u32> = 300..=86_400;
/// The audit log's entity kind.
pub const ENTITY_KIND: &str = "scim_client";
const ALL_CLIENTS: &str = "OCLIS";
/// Longer client ids and secrets are none of ours: refused before any lookup or hash.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// The public client id of a client.
pub fn client_id_of(id: &ScimClientId) -> String {
    public_id(CLIENT_ID_PREFIX, id.as_str())
}

/// The client's id behind a public client id, when it is one of ours.
pub fn id_of_client_id(client_id: &str) -> Option<ScimClientId> {
    let id = ScimClientId::parse(hex_of_public_id(CLIENT_ID_PREFIX, client_id)?).ok()?;
    (client_id_of(&id) == client_id).then_some(id)
}

fn client_key(client_id: &str) -> Key {
    Key::new(format!("OCLI#{}", esc(client_id)), "OCLI")
}

/// A stored client. `Debug` leaves the hashes out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimClient {
    pub id: ScimClientId,
    pub client_id: String,
    pub name: String,
    /// The connector whose push the client's writes feed, if any.
    pub connector_id: Option<ConnectorId>,
    /// The subtree the client may write (the connector's push root when it named a connector).
    pub root_org_unit_id: Option<OrgUnitId>,
    pub token_lifetime_s: u32,
    /// Whether the SCIM endpoint accepts `Authorization: Basic client_id:secret` from it.
    pub allow_basic: bool,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    /// Until when the previous secret is still accepted.
    pub previous_secret_until_ms: Option<i64>,
    /// Revoked clients get no token, and their tokens stop working.
    pub revoked_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The item version (not stored in `d`).
    #[serde(skip)]
    pub version: u64,
}

impl std::fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimClient")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("revoked_ms", &self.revoked_ms)
            .finish_non_exhaustive()
    }
}

/// A client as the API shows it: never a secret or a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScimClientView {
    pub id: ScimClientId,
    pub client_id: String,
    pub name: String,
    pub connector_id: Option<ConnectorId>,
    pub root_org_unit_id: Option<OrgUnitId>,
    pub token_lifetime_s: u32,
    pub allow_basic: bool,
    pub previous_secret_until_ms: Option<i64>,
    pub revoked: bool,
    pub revoked_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub version: u64,
}

impl From<&ScimClient> for ScimClientView {
    fn from(c: &ScimClient) -> Self {
        Self {
            id: c.id.clone(),
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            connector_id: c.connector_id.clone(),
            root_org_unit_id: c.root_org_unit_id.clone(),
            token_lifetime_s: c.token_lifetime_s,
            allow_basic: c.allow_basic,
            previous_secret_until_ms: c.previous_secret_until_ms,
            revoked: c.revoked_ms.is_some(),
            revoked_ms: c.revoked_ms,
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
            version: c.version,
        }
    }
}

impl ScimClient {
    /// Whether `secret` is the client's current secret, or its previous one before the overlap
    /// ends (argon2: run off the async threads).
    pub async fn secret_matches(&self, secret: &str, now_ms: i64) -> bool {
        secret_matches(
            secret,
            Some(self.secret_hash.clone()),
            self.previous_secret_hash.clone(),
            self.previous_secret_until_ms,
            now_ms,
        )
        .await
    }

    fn view_json(&self) -> serde_json::Value {
        json!(ScimClientView::from(self))
    }
}

/// What a new client is made of (checked by the caller: the connector and unit exist).
#[derive(Clone, Debug)]
pub struct NewScimClient {
    pub name: String,
    pub connector_id: Option<ConnectorId>,
    pub root_org_unit_id: Option<OrgUnitId>,
    pub token_lifetime_s: u32,
    pub allow_basic: bool,
}

/// A change to a client: absent fields keep their value.
#[derive(Clone, Debug, Default)]
pub struct ScimClientChange {
    pub name: Option<String>,
    pub token_lifetime_s: Option<u32>,
    pub allow_basic: Option<bool>,
}

async fn hash(secret: &str) -> Result<String, DirectoryError> {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .map_err(|e| DirectoryError::Corrupt(format!("hashing stopped: {e}")))?
        .map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

#[derive(Clone)]
pub struct ScimClients {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
}

impl ScimClients {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    pub async fn get(&self, id: &ScimClientId) -> Result<Option<ScimClient>, DirectoryError> {
        self.by_client_id(&client_id_of(id)).await
    }

    /// The client a public client id names; `None` for ids that are not ours.
    pub async fn by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ScimClient>, DirectoryError> {
        if id_of_client_id(client_id).is_none() {
            return Ok(None);
        }
        match self.table.get(&client_key(client_id)).await? {
            Some(item) => Ok(Some(decode_versioned(&item)?)),
            None => Ok(None),
        }
    }

    /// Clients in client-id order.
    pub async fn list(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<ScimClient>, DirectoryError> {
        let q = Query::partition(Index::Gsi1, ALL_CLIENTS)
            .limit(limit)
            .after(cursor);
        PageOf::decoded_versioned(self.table.query(&q).await?)
    }

    /// Makes a client; returns it and its secret, which is stored only as a hash.
    pub async fn create(
        &self,
        new: NewScimClient,
        actor: &Actor,
    ) -> Result<(ScimClient, String), DirectoryError> {
        let now = self.clock.now_millis();
        let id = ScimClientId::generate();
        let secret = generate_token(SECRET_PREFIX);
        let client = ScimClient {
            client_id: client_id_of(&id),
            id,
            name: new.name,
            connector_id: new.connector_id,
            root_org_unit_id: new.root_org_unit_id,
            token_lifetime_s: new.token_lifetime_s,
            allow_basic: new.allow_basic,
            secret_hash: hash(&secret).await?,
            previous_secret_hash: None,
            previous_secret_until_ms: None,
            revoked_ms: None,
            created_ms: now,
            updated_ms: now,
            version: 1,
        };
        self.write(None, &client, "create", actor).await?;
        Ok((client, secret))
    }

    pub async fn update(
        &self,
        old: &ScimClient,
        change: ScimClientChange,
        actor: &Actor,
    ) -> Result<ScimClient, DirectoryError> {
        let mut client = old.clone();
        if let Some(name) = change.name {
            client.name = name;
        }
        if let Some(lifetime) = change.token_lifetime_s {
            client.token_lifetime_s = lifetime;
        }
        if let Some(allow) = change.allow_basic {
            client.allow_basic = allow;
        }
        self.save(old, client, "update", actor, self.clock.now_millis())
            .await
    }

    /// A new secret; the current one stays valid for `overlap_ms` more (none when zero).
    pub async fn rotate(
        &self,
        old: &ScimClient,
        overlap_ms: i64,
        actor: &Actor,
    ) -> Result<(ScimClient, String), DirectoryError> {
        let secret = generate_token(SECRET_PREFIX);
        let mut client = old.clone();
        client.secret_hash = hash(&secret).await?;
        let now = self.clock.now_millis();
        if overlap_ms > 0 {
            client.previous_secret_hash = Some(old.secret_hash.clone());
            client.previous_secret_until_ms = Some(now + overlap_ms);
        } else {
            client.previous_secret_hash = None;
            client.previous_secret_until_ms = None;
        }
        let saved = self.save(old, client, "rotate_secret", actor, now).await?;
        Ok((saved, secret))
    }

    /// Revokes the client: no more tokens, and the ones issued stop working at once.
    pub async fn revoke(
        &self,
        old: &ScimClient,
        actor: &Actor,
    ) -> Result<ScimClient, DirectoryError> {
        let now = self.clock.now_millis();
        let mut client = old.clone();
        client.revoked_ms = Some(now);
        self.save(old, client, "revoke", actor, now).await
    }

    pub async fn delete(&self, old: &ScimClient, actor: &Actor) -> Result<(), DirectoryError> {
        let ops = vec![
            TxOp::Delete {
                key: client_key(&old.client_id),
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
        self.transact(ops).await
    }

    async fn save(
        &self,
        old: &ScimClient,
        mut client: ScimClient,
        action: &str,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<ScimClient, DirectoryError> {
        client.updated_ms = now_ms;
        client.version = old.version + 1;
        self.write(Some(old), &client, action, actor).await?;
        Ok(client)
    }

    async fn write(
        &self,
        old: Option<&ScimClient>,
        client: &ScimClient,
        action: &str,
        actor: &Actor,
    ) -> Result<(), DirectoryError> {
        let item = Item::new(
            client_key(&client.client_id),
            client.version,
            encode(client)?,
        )
        .with_gsi1(IndexKey::new(ALL_CLIENTS, esc(&client.client_id)));
        let cond = old.map_or(Cond::Absent, |o| Cond::Version(o.version));
        let ops = vec![
            TxOp::Put { item, cond },
            audit_op(AuditEntry::new(
                actor,
                client.updated_ms,
                ENTITY_KIND,
                client.id.as_str(),
                action,
                old.map(ScimClient::view_json),
                Some(client.view_json()),
            )),
        ];
        self.transact(ops).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), DirectoryError> {
        super::transact_or_stale(self.table.as_ref(), ops).await
    }
}

impl Versioned for ScimClient {
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{DUMMY_PHC, verify_password};

    #[test]
    fn client_ids_round_trip_and_refuse_lookalikes() {
        let id = ScimClientId::generate();
        let client_id = client_id_of(&id);
        assert!(client_id.starts_with("dbscim_") && client_id.len() == 39);
        assert_eq!(id_of_client_id(&client_id), Some(id));
        assert_eq!(id_of_client_id("dbscim_"), None);
        assert_eq!(id_of_client_id(&client_id.to_uppercase()), None);
        assert_eq!(id_of_client_id(&format!("{client_id}#x")), None);
        assert_eq!(id_of_client_id("dbadm_0123"), None);
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2_hash() {
        use argon2::password_hash::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_PHC).unwrap();
        let real = hash_password("x").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.params, real.params, "the same work as a real check");
        assert!(!verify_password("x", DUMMY_PHC));
    }
}
