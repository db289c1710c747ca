//! Parked events (permanent sync failures, kept with their reason) and their re-drive: the stored
//! queue body goes back on the sync queue in its connector's message group, then the event is
//! unparked. Send first, forget second: a crash in between re-drives twice, never loses one.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use dingbridge::domain::ids::ConnectorId;
use dingbridge::ports::OutMessage;
use dingbridge::store::events::ParkedEvent;
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::paging::{MAX_LIMIT, PageRequest, Paged};

/// Most events one `redrive-all` call moves; the answer says when more remain.
const REDRIVE_ALL_MAX: usize = 1000;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/parked-events", get(list))
        .route("/parked-events/redrive-all", post(redrive_all))
        .route(
            "/parked-events/{connector_id}/{id}/redrive",
            post(redrive_one),
        )
}

#[derive(Deserialize)]
struct ConnectorFilter {
    connector_id: Option<String>,
}

impl ConnectorFilter {
    /// The connector to filter by; a malformed id is the client's mistake.
    fn parse(self) -> Result<Option<ConnectorId>, ApiError> {
        match self.connector_id.map(|s| s.trim().to_owned()) {
            Some(raw) if !raw.is_empty() => ConnectorId::parse(&raw)
                .map(Some)
                .map_err(|e| ApiError::invalid("connector_id", e.reason)),
            _ => Ok(None),
        }
    }
}

#[derive(Serialize)]
struct Redriven {
    redriven: usize,
    /// More parked events remain (a later call moves them).
    more: bool,
}

async fn list(
    State(admin): State<Admin>,
    Query(filter): Query<ConnectorFilter>,
    page: PageRequest,
) -> Result<Paged<ParkedEvent>, ApiError> {
    let connector = filter.parse()?;
    let found = page
        .load(|limit, cursor| admin.events.parked(connector.as_ref(), limit, cursor))
        .await?;
    Ok(Paged::from_page(found, |p| p))
}

/// The message that puts a parked event back: same body, its connector as the group, and a
/// dedupe id of its own (the original's may still be inside the queue's dedupe window).
fn message(p: &ParkedEvent) -> OutMessage {
    OutMessage::new(
        p.connector_id.as_str(),
        format!("redrive-{}", p.id),
        p.body.clone(),
    )
}

async fn redrive_one(
    State(admin): State<Admin>,
    Path((connector_id, id)): Path<(String, String)>,
) -> Result<Json<Redriven>, ApiError> {
    let connector = ConnectorId::parse(&connector_id).map_err(|_| ApiError::NotFound)?;
    let parked = find(&admin, &connector, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    admin.deps.sync_queue.send(message(&parked)).await?;
    admin.events.unpark(&parked).await?;
    Ok(Json(Redriven {
        redriven: 1,
        more: false,
    }))
}

/// A parked event by id. Its key starts with the time it was parked, which the id does not carry,
/// so the connector's partition is paged; parked events are few and kept 30 days at most.
async fn find(
    admin: &Admin,
    connector: &ConnectorId,
    id: &str,
) -> Result<Option<ParkedEvent>, ApiError> {
    let mut cursor = None;
    loop {
        let page = admin
            .events
            .parked(Some(connector), MAX_LIMIT, cursor)
            .await?;
        if let Some(p) = page.items.into_iter().find(|p| p.id == id) {
            return Ok(Some(p));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(None),
        }
    }
}

async fn redrive_all(
    State(admin): State<Admin>,
    Query(filter): Query<ConnectorFilter>,
) -> Result<Json<Redriven>, ApiError> {
    let connector = filter.parse()?;
    let mut redriven = 0;
    let mut cursor = None;
    loop {
        let room = REDRIVE_ALL_MAX - redriven;
        let page = admin
            .events
            .parked(connector.as_ref(), room.min(MAX_LIMIT), cursor)
            .await?;
        if page.items.is_empty() {
            return Ok(Json(Redriven {
                redriven,
                more: false,
            }));
        }
        admin
            .deps
            .sync_queue
            .send_batch(page.items.iter().map(message).collect())
            .await?;
        for p in &page.items {
            admin.events.unpark(p).await?;
        }
        redriven += page.items.len();
        match page.next {
            None => {
                return Ok(Json(Redriven {
                    redriven,
                    more: false,
                }));
            }
            Some(_) if redriven >= REDRIVE_ALL_MAX => {
                return Ok(Json(Redriven {
                    redriven,
                    more: true,
                }));
            }
            next => cursor = next,
        }
    }
}
