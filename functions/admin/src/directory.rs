//! The directory's read side: accounts and org units, each with its DingTalk mappings (connector
//! and external id), and the audit log (whole, or of one entity). Password hashes never leave the
//! store.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use dingbridge::domain::directory::{Account, AccountStatus, Membership, OrgUnit, Origin};
use dingbridge::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use dingbridge::domain::sync::PushEntity;
use dingbridge::store::audit::{AuditEntry, ENTITY_KINDS, LogFilter, entity_log, log};
use dingbridge::store::mappings::{MappedKind, Mapping};
use dingbridge::store::outbox::OutboxState;
use dingbridge::web::{ApiError, Json};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::paging::{PageRequest, Paged};

/// Mapping look-ups in flight at once while a page is assembled.
const MAPPING_READS: usize = 16;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/accounts", get(accounts))
        .route("/accounts/{id}", get(account))
        .route("/org-units", get(org_units))
        .route("/org-units/{id}", get(org_unit))
        .route("/audit", get(audit))
}

/// One DingTalk id an account or unit is linked to (IDaaS: ddAccountId / ddtalkId).
#[derive(Debug, Serialize)]
struct MappingView {
    connector_id: ConnectorId,
    kind: MappedKind,
    external_id: String,
    /// A DingTalk user's unionid, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
}

impl From<Mapping> for MappingView {
    fn from(m: Mapping) -> Self {
        Self {
            connector_id: m.connector_id,
            kind: m.kind,
            external_id: m.external_id,
            unionid: m.unionid,
        }
    }
}

/// An account as the admin sees it: everything but the password hash (only whether one is set).
#[derive(Debug, Serialize)]
pub(crate) struct AccountView {
    id: AccountId,
    username: String,
    display_name: String,
    email: Option<String>,
    mobile: Option<String>,
    job_number: Option<String>,
    title: Option<String>,
    status: AccountStatus,
    memberships: Vec<Membership>,
    password_set: bool,
    must_change_password: bool,
    attributes: BTreeMap<String, String>,
    mappings: Vec<MappingView>,
    /// Per push-enabled connector: pending, pushed or parked (with the reason).
    push: Vec<PushStatus>,
    pub(crate) version: u64,
    created_ms: i64,
    updated_ms: i64,
}

impl AccountView {
    fn with_push(mut self, push: Vec<PushStatus>) -> Self {
        self.push = push;
        self
    }

    fn new(a: Account, mappings: Vec<Mapping>) -> Self {
        Self {
            id: a.id,
            username: a.username.to_string(),
            display_name: a.display_name.to_string(),
            email: a.email.map(|e| e.to_string()),
            mobile: a.mobile.map(|m| m.to_string()),
            job_number: a.job_number,
            title: a.title,
            status: a.status,
            memberships: a.memberships,
            password_set: a.password_hash.is_some(),
            must_change_password: a.must_change_password,
            attributes: a.attributes,
            mappings: mappings.into_iter().map(MappingView::from).collect(),
            push: Vec::new(),
            version: a.version,
            created_ms: a.created_ms,
            updated_ms: a.updated_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct OrgUnitView {
    id: OrgUnitId,
    name: String,
    parent_id: Option<OrgUnitId>,
    order: i64,
    mappings: Vec<MappingView>,
    push: Vec<PushStatus>,
    pub(crate) version: u64,
    created_ms: i64,
    updated_ms: i64,
}

impl OrgUnitView {
    fn with_push(mut self, push: Vec<PushStatus>) -> Self {
        self.push = push;
        self
    }

    fn new(u: OrgUnit, mappings: Vec<Mapping>) -> Self {
        Self {
            id: u.id,
            name: u.name,
            parent_id: u.parent_id,
            order: u.order,
            mappings: mappings.into_iter().map(MappingView::from).collect(),
            push: Vec::new(),
            version: u.version,
            created_ms: u.created_ms,
            updated_ms: u.updated_ms,
        }
    }
}

/// One account as the API shows it: with its DingTalk mappings and push state.
pub(crate) async fn account_view(admin: &Admin, a: Account) -> Result<AccountView, ApiError> {
    let pushing = pushing(admin).await?;
    let mut views = with_mappings(admin, &pushing, vec![a], account_parts).await?;
    views.pop().ok_or(ApiError::NotFound)
}

/// One org unit as the API shows it: with its DingTalk mappings and push state.
pub(crate) async fn unit_view(admin: &Admin, u: OrgUnit) -> Result<OrgUnitView, ApiError> {
    let pushing = pushing(admin).await?;
    let mut views = with_mappings(admin, &pushing, vec![u], unit_parts).await?;
    views.pop().ok_or(ApiError::NotFound)
}

fn account_parts(a: &Account) -> (String, PushEntity) {
    (a.id.to_string(), PushEntity::Account(a.id.clone()))
}

fn unit_parts(u: &OrgUnit) -> (String, PushEntity) {
    (u.id.to_string(), PushEntity::OrgUnit(u.id.clone()))
}

/// Where an entity's push to one connector stands.
#[derive(Debug, Serialize)]
pub(crate) struct PushStatus {
    connector_id: ConnectorId,
    /// `pending` (queued), `parked` (waiting for an admin: see `reason`) or `pushed` (DingTalk
    /// matches the directory; the DingTalk id is in `mappings`; `since_ms` is when the last push
    /// settled, `null` for an entity linked by a pull).
    state: &'static str,
    since_ms: Option<i64>,
    reason: Option<String>,
    code: Option<String>,
}

/// The push-enabled connectors, read once per request.
async fn pushing(admin: &Admin) -> Result<Vec<ConnectorId>, ApiError> {
    Ok(admin
        .connectors
        .all()
        .await?
        .into_iter()
        .filter(|c| c.push.push_enabled)
        .map(|c| c.id)
        .collect())
}

/// The entity's push status for every push-enabled connector that has pushed it or is about to.
async fn push_status(
    admin: &Admin,
    pushing: &[ConnectorId],
    entity: &PushEntity,
    mappings: &[Mapping],
) -> Result<Vec<PushStatus>, ApiError> {
    let mut out = Vec::new();
    for c in pushing {
        match admin.outbox.get(c, entity).await? {
            Some(item) => out.push(PushStatus {
                connector_id: c.clone(),
                state: match item.state {
                    OutboxState::Pending => "pending",
                    OutboxState::Parked => "parked",
                },
                since_ms: Some(item.changed_ms),
                reason: item.reason,
                code: item.code,
            }),
            None if mappings.iter().any(|m| &m.connector_id == c) => {
                let pushed = admin.outbox.pushed(c, entity).await?;
                out.push(PushStatus {
                    connector_id: c.clone(),
                    state: "pushed",
                    since_ms: pushed.map(|p| p.at_ms),
                    reason: None,
                    code: None,
                });
            }
            None => {}
        }
    }
    Ok(out)
}

/// Each item with its mappings and push state, read a few at a time, in the page's order.
async fn with_mappings<T, V>(
    admin: &Admin,
    pushing: &[ConnectorId],
    items: Vec<T>,
    parts: fn(&T) -> (String, PushEntity),
) -> Result<Vec<V>, ApiError>
where
    V: Viewed<T>,
{
    stream::iter(items)
        .map(|item| async move {
            let (our_id, entity) = parts(&item);
            let mappings = admin.mappings.of_entity(&our_id).await?;
            let push = push_status(admin, pushing, &entity, &mappings).await?;
            Ok::<_, ApiError>(V::viewed(item, mappings, push))
        })
        .buffered(MAPPING_READS)
        .try_collect()
        .await
}

/// An entity's view from the entity, its mappings and its push state.
trait Viewed<T> {
    fn viewed(item: T, mappings: Vec<Mapping>, push: Vec<PushStatus>) -> Self;
}

impl Viewed<Account> for AccountView {
    fn viewed(a: Account, mappings: Vec<Mapping>, push: Vec<PushStatus>) -> Self {
        Self::new(a, mappings).with_push(push)
    }
}

impl Viewed<OrgUnit> for OrgUnitView {
    fn viewed(u: OrgUnit, mappings: Vec<Mapping>, push: Vec<PushStatus>) -> Self {
        Self::new(u, mappings).with_push(push)
    }
}

async fn accounts(
    State(admin): State<Admin>,
    page: PageRequest,
) -> Result<Paged<AccountView>, ApiError> {
    let found = page
        .load(|limit, cursor| admin.directory.accounts(limit, cursor))
        .await?;
    let pushing = pushing(&admin).await?;
    let items = with_mappings(&admin, &pushing, found.items, account_parts).await?;
    Ok(Paged::new(items, found.next))
}

async fn account(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let id = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let a = admin
        .directory
        .account(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(account_view(&admin, a).await?))
}

async fn org_units(
    State(admin): State<Admin>,
    page: PageRequest,
) -> Result<Paged<OrgUnitView>, ApiError> {
    // A fresh directory has its root (made once, then only read), so a tree can be built
    // before any pull.
    admin.directory.ensure_root().await?;
    let found = page
        .load(|limit, cursor| admin.directory.org_units(limit, cursor))
        .await?;
    let pushing = pushing(&admin).await?;
    let items = with_mappings(&admin, &pushing, found.items, unit_parts).await?;
    Ok(Paged::new(items, found.next))
}

async fn org_unit(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<OrgUnitView>, ApiError> {
    let id = OrgUnitId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let u = admin
        .directory
        .org_unit(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(unit_view(&admin, u).await?))
}

/// Our ids are 36 characters, DingTalk's at most 64; anything longer names no entity.
const MAX_ENTITY_ID: usize = 128;

#[derive(Deserialize)]
struct AuditQuery {
    entity_kind: Option<String>,
    entity_id: Option<String>,
    origin: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Which part of the log a query asks for, checked.
struct AuditRequest {
    entity: Option<(String, String)>,
    filter: LogFilter,
}

impl AuditQuery {
    fn parse(self) -> Result<AuditRequest, ApiError> {
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let kinds = ENTITY_KINDS.join(", ");
        let entity = match (given(self.entity_kind), given(self.entity_id)) {
            (Some(kind), _) if !ENTITY_KINDS.contains(&kind.as_str()) => {
                return Err(ApiError::invalid(
                    "entity_kind",
                    format!("must be one of {kinds}"),
                ));
            }
            // DynamoDB refuses partition keys over 2 KB: a pasted blob is the client's mistake.
            (Some(_), Some(id)) if id.chars().count() > MAX_ENTITY_ID => {
                return Err(ApiError::invalid(
                    "entity_id",
                    format!("is longer than {MAX_ENTITY_ID} characters"),
                ));
            }
            (Some(kind), Some(id)) => Some((kind, id)),
            (Some(_), None) => {
                return Err(ApiError::invalid(
                    "entity_id",
                    "is required with entity_kind",
                ));
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid(
                    "entity_kind",
                    format!("is required with entity_id: one of {kinds}"),
                ));
            }
            (None, None) => None,
        };
        let origin = match given(self.origin) {
            Some(raw) => Some(Origin::parse(&raw).ok_or_else(|| {
                let all: Vec<_> = Origin::ALL.iter().map(|o| o.as_str()).collect();
                ApiError::invalid("origin", format!("must be one of {}", all.join(", ")))
            })?),
            None => None,
        };
        let since_ms = given(self.since).map(|t| time("since", &t)).transpose()?;
        let until_ms = given(self.until).map(|t| time("until", &t)).transpose()?;
        if let (Some(since), Some(until)) = (since_ms, until_ms)
            && until <= since
        {
            return Err(ApiError::invalid("until", "must be later than since"));
        }
        Ok(AuditRequest {
            entity,
            filter: LogFilter {
                origin,
                since_ms,
                until_ms,
            },
        })
    }
}

/// An RFC 3339 time as epoch milliseconds.
fn time(field: &'static str, raw: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::invalid(
                field,
                "must be an RFC 3339 time, such as 2026-01-31T08:00:00Z or 2026-01-31T16:00:00+08:00",
            )
        })
}

/// The audit log, newest first: one entity's history (`entity_kind` and `entity_id`), or the
/// whole log; either filtered by `origin`, `since` (inclusive) and `until` (exclusive).
async fn audit(
    State(admin): State<Admin>,
    Query(q): Query<AuditQuery>,
    page: PageRequest,
) -> Result<Paged<AuditEntry>, ApiError> {
    let request = q.parse()?;
    let table = admin.deps.table.clone();
    let filter = request.filter;
    let found = match request.entity {
        Some((kind, id)) => {
            page.load(|limit, cursor| async move {
                entity_log(table.as_ref(), &kind, &id, &filter, limit, cursor).await
            })
            .await?
        }
        None => {
            page.load(
                |limit, cursor| async move { log(table.as_ref(), &filter, limit, cursor).await },
            )
            .await?
        }
    };
    Ok(Paged::from_page(found, redact))
}

/// Stores keep hashes out of audit entries already; this makes it hold for every entity kind.
fn redact(mut entry: AuditEntry) -> AuditEntry {
    for value in [entry.old.as_mut(), entry.new.as_mut()]
        .into_iter()
        .flatten()
    {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("password_hash");
        }
    }
    entry
}
