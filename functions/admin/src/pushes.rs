//! A connector's pushes as the outbox holds them — pending (queued, or re-sent by the sweeper) and
//! parked (waiting for an admin, with the reason and DingTalk's code) — and the re-drive of parked
//! ones: the item becomes pending first, then its message is sent, so a failed send leaves it to
//! the sweeper instead of losing it.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::ports::OutMessage;
use dingbridge::store::outbox::{OutboxItem, OutboxState, push_resend_message};
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::connectors::load;
use crate::paging::{MAX_LIMIT, PageRequest, Paged};

/// Most items one `redrive` call moves; the answer says when more remain.
const REDRIVE_ALL_MAX: usize = 1000;
/// Store pages read to fill one page of a filtered list; past them the page is answered short,
/// with a cursor (a connector with many pending pushes and few parked ones stays cheap to list).
const MAX_SCANNED_PAGES: usize = 10;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/connectors/{id}/pushes", get(list))
        .route("/connectors/{id}/pushes/redrive", post(redrive_all))
        .route(
            "/connectors/{id}/pushes/{kind}/{entity_id}/redrive",
            post(redrive_one),
        )
}

/// Which outbox items a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateFilter {
    Parked,
    Pending,
    All,
}

impl StateFilter {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.map(str::trim).unwrap_or_default() {
            "" | "all" => Ok(Self::All),
            "parked" => Ok(Self::Parked),
            "pending" => Ok(Self::Pending),
            _ => Err(ApiError::invalid("state", "must be parked, pending or all")),
        }
    }

    fn admits(self, state: OutboxState) -> bool {
        match self {
            Self::All => true,
            Self::Parked => state == OutboxState::Parked,
            Self::Pending => state == OutboxState::Pending,
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

/// One push as the API shows it.
#[derive(Debug, Serialize)]
struct PushView {
    entity_kind: &'static str,
    entity_id: String,
    /// The org unit's name or the account's display name; `null` once the entity is deleted
    /// (its push retires it in DingTalk).
    name: Option<String>,
    /// The entity version whose change asked for the push.
    version: u64,
    state: OutboxState,
    reason: Option<String>,
    /// DingTalk's error code when one caused the parking.
    code: Option<String>,
    /// When the item was written, parked or re-driven (epoch ms).
    since_ms: i64,
}

async fn view(admin: &Admin, item: OutboxItem) -> Result<PushView, ApiError> {
    let name = match &item.entity {
        PushEntity::Account(id) => admin
            .directory
            .account(id)
            .await?
            .map(|a| a.display_name.as_str().to_owned()),
        PushEntity::OrgUnit(id) => admin.directory.org_unit(id).await?.map(|u| u.name),
    };
    Ok(PushView {
        entity_kind: item.entity.kind(),
        entity_id: item.entity.id().to_owned(),
        name,
        version: item.version,
        state: item.state,
        reason: item.reason,
        code: item.code,
        since_ms: item.changed_ms,
    })
}

async fn list(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    page: PageRequest,
) -> Result<Paged<PushView>, ApiError> {
    let connector = load(&admin, &id).await?;
    let filter = StateFilter::parse(query.state.as_deref())?;
    let mut items = Vec::new();
    let mut cursor = page.cursor.clone();
    for _ in 0..MAX_SCANNED_PAGES {
        // Read no more than the page has room for, so the cursor never skips an unread item.
        let request = PageRequest {
            limit: page.limit - items.len(),
            cursor,
        };
        let found = request
            .load(|limit, cursor| admin.outbox.of_connector(&connector.id, limit, cursor))
            .await?;
        items.extend(found.items.into_iter().filter(|i| filter.admits(i.state)));
        cursor = found.next;
        if cursor.is_none() || items.len() >= page.limit {
            break;
        }
    }
    let mut views = Vec::with_capacity(items.len());
    for item in items {
        views.push(view(&admin, item).await?);
    }
    Ok(Paged::new(views, cursor))
}

/// The message that re-drives a push (see [`push_resend_message`]).
fn redrive_message(admin: &Admin, m: &PushMessage) -> Result<OutMessage, ApiError> {
    Ok(push_resend_message(m, admin.deps.clock.now_millis())?)
}

/// Sends re-driven pushes. A failed send is not the client's failure: the items are pending
/// already, and the outbox sweeper sends them within a minute or two.
pub(crate) async fn send_redriven(admin: &Admin, messages: &[PushMessage]) -> Result<(), ApiError> {
    if messages.is_empty() {
        return Ok(());
    }
    let out = messages
        .iter()
        .map(|m| redrive_message(admin, m))
        .collect::<Result<Vec<_>, _>>()?;
    if let Err(e) = admin.deps.push_queue.send_batch(out).await {
        tracing::warn!(error = %e, count = messages.len(),
            "re-driven pushes not queued; the outbox sweeper sends them again");
    }
    Ok(())
}

/// The entity a path names; a kind or id that cannot exist is simply not found.
fn entity(kind: &str, id: &str) -> Result<PushEntity, ApiError> {
    match kind {
        "account" => AccountId::parse(id).map(PushEntity::Account),
        "org_unit" => OrgUnitId::parse(id).map(PushEntity::OrgUnit),
        _ => return Err(ApiError::NotFound),
    }
    .map_err(|_| ApiError::NotFound)
}

#[derive(Serialize)]
struct Redriven {
    redriven: usize,
    /// More parked pushes remain (a later call moves them).
    more: bool,
}

async fn redrive_one(
    State(admin): State<Admin>,
    Path((id, kind, entity_id)): Path<(String, String, String)>,
) -> Result<Json<Redriven>, ApiError> {
    let connector = load(&admin, &id).await?;
    let entity = entity(&kind, &entity_id)?;
    let item = admin
        .outbox
        .get(&connector.id, &entity)
        .await?
        .ok_or(ApiError::NotFound)?;
    if item.state != OutboxState::Parked {
        return Err(ApiError::Conflict(
            "the push is not parked: it is pending (queued, or re-sent by the sweeper within a \
             minute)"
                .to_owned(),
        ));
    }
    let message = admin
        .outbox
        .redrive(&connector.id, &entity)
        .await?
        .ok_or(ApiError::NotFound)?;
    send_redriven(&admin, &[message]).await?;
    Ok(Json(Redriven {
        redriven: 1,
        more: false,
    }))
}

async fn redrive_all(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Redriven>, ApiError> {
    let connector = load(&admin, &id).await?;
    let mut redriven = 0;
    let mut cursor = None;
    loop {
        let page = admin
            .outbox
            .of_connector(&connector.id, MAX_LIMIT, cursor)
            .await?;
        let mut messages = Vec::new();
        for item in page.items.iter().filter(|i| i.state == OutboxState::Parked) {
            if redriven + messages.len() >= REDRIVE_ALL_MAX {
                send_redriven(&admin, &messages).await?;
                return Ok(Json(Redriven {
                    redriven: redriven + messages.len(),
                    more: true,
                }));
            }
            if let Some(m) = admin.outbox.redrive(&connector.id, &item.entity).await? {
                messages.push(m);
            }
        }
        send_redriven(&admin, &messages).await?;
        redriven += messages.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                return Ok(Json(Redriven {
                    redriven,
                    more: false,
                }));
            }
        }
    }
}
