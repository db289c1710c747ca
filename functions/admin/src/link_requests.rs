//! Link requests of push link mode `association`: the push worker files one when an account's
//! mobile is already a DingTalk user of the corp; the admin approves (the mapping is written and
//! the account's parked push re-driven, so the worker links and updates the user) or refuses (the
//! push stays parked, its reason saying what the admin can do instead). Decisions are audited.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::sync::PushEntity;
use dingbridge::store::Actor;
use dingbridge::store::link_requests::{LinkRequest, LinkRequestState};
use dingbridge::store::outbox::OutboxState;
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::connectors::load;
use crate::paging::{PageRequest, Paged};
use crate::pushes::send_redriven;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/connectors/{id}/link-requests", get(list))
        .route(
            "/connectors/{id}/link-requests/{account_id}/approve",
            post(approve),
        )
        .route(
            "/connectors/{id}/link-requests/{account_id}/refuse",
            post(refuse),
        )
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

/// `None` = every state.
fn state_filter(raw: Option<&str>) -> Result<Option<LinkRequestState>, ApiError> {
    match raw.map(str::trim).unwrap_or_default() {
        "" | "all" => Ok(None),
        "pending" => Ok(Some(LinkRequestState::Pending)),
        "approved" => Ok(Some(LinkRequestState::Approved)),
        "refused" => Ok(Some(LinkRequestState::Refused)),
        _ => Err(ApiError::invalid(
            "state",
            "must be pending, approved, refused or all",
        )),
    }
}

/// One request as the API shows it: the stored request and the account's current name.
#[derive(Debug, Serialize)]
struct RequestView {
    #[serde(flatten)]
    request: LinkRequest,
    /// The account's display name and username; `null` once the account is deleted.
    account_name: Option<String>,
    username: Option<String>,
}

async fn view(admin: &Admin, request: LinkRequest) -> Result<RequestView, ApiError> {
    let account = admin.directory.account(&request.account_id).await?;
    Ok(RequestView {
        account_name: account.as_ref().map(|a| a.display_name.as_str().to_owned()),
        username: account.map(|a| a.username.as_str().to_owned()),
        request,
    })
}

async fn list(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    page: PageRequest,
) -> Result<Paged<RequestView>, ApiError> {
    let connector = load(&admin, &id).await?;
    let state = state_filter(query.state.as_deref())?;
    let found = page
        .load(|limit, cursor| {
            admin
                .link_requests
                .list(&connector.id, state, limit, cursor)
        })
        .await?;
    let mut items = Vec::with_capacity(found.items.len());
    for r in found.items {
        items.push(view(&admin, r).await?);
    }
    Ok(Paged::new(items, found.next))
}

/// The request a path names, with its connector; unknown ones are not found.
async fn find(admin: &Admin, id: &str, account: &str) -> Result<LinkRequest, ApiError> {
    let connector = load(admin, id).await?;
    let account = AccountId::parse(account).map_err(|_| ApiError::NotFound)?;
    admin
        .link_requests
        .get(&connector.id, &account)
        .await?
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Serialize)]
struct Approved {
    #[serde(flatten)]
    request: RequestView,
    /// The account's push was queued again to link and update the DingTalk user.
    redriven: bool,
}

async fn approve(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path((id, account)): Path<(String, String)>,
) -> Result<Json<Approved>, ApiError> {
    let request = find(&admin, &id, &account).await?;
    // A mapping to a deleted account would make the push retire the DingTalk user it links.
    if admin
        .directory
        .account(&request.account_id)
        .await?
        .is_none()
    {
        return Err(ApiError::Conflict(
            "the account no longer exists: there is nothing to link the DingTalk user to"
                .to_owned(),
        ));
    }
    let approved = admin.link_requests.approve(&request, &actor).await?;
    let redriven = redrive_account(&admin, &approved.connector_id, &approved.account_id).await?;
    Ok(Json(Approved {
        request: view(&admin, approved).await?,
        redriven,
    }))
}

/// Queues the account's push again: a parked one becomes pending; a pending one is sent at once
/// instead of waiting for the sweeper. True when a push was queued.
async fn redrive_account(
    admin: &Admin,
    connector: &ConnectorId,
    account: &AccountId,
) -> Result<bool, ApiError> {
    let entity = PushEntity::Account(account.clone());
    let message = match admin.outbox.get(connector, &entity).await? {
        None => return Ok(false),
        Some(item) if item.state == OutboxState::Pending => Some(item.message()),
        Some(_) => admin.outbox.redrive(connector, &entity).await?,
    };
    let Some(message) = message else {
        return Ok(false);
    };
    send_redriven(admin, &[message]).await?;
    Ok(true)
}

async fn refuse(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path((id, account)): Path<(String, String)>,
) -> Result<Json<RequestView>, ApiError> {
    let request = find(&admin, &id, &account).await?;
    let refused = admin.link_requests.refuse(&request, &actor).await?;
    // The parked push now says why and what to do; a pending one (a newer change of the
    // account) is left to the worker, which parks it with the same reason if nothing changed.
    let entity = PushEntity::Account(refused.account_id.clone());
    if let Some(item) = admin.outbox.get(&refused.connector_id, &entity).await?
        && item.state == OutboxState::Parked
    {
        admin
            .outbox
            .park(
                &item.message(),
                &refused.refused_reason(),
                item.code.as_deref(),
            )
            .await?;
    }
    Ok(Json(view(&admin, refused).await?))
}
