//! Full-pull runs (issue 5): start a pull, list runs, review a run's staged org tree and account
//! rows with their reasons, remove invalid or single rows, confirm (org units, accounts or all)
//! and discard. The pull and the apply run in `full-pull`, fed through the pull queue.

use std::collections::HashSet;

use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use dingbridge::dingtalk::DeptId;
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::pull::{FieldChange, RowAction};
use dingbridge::domain::sync::{ApplyScope, PullMessage};
use dingbridge::store::Actor;
use dingbridge::store::runs::{
    Locks, RowBody, RowFilter, RowKind, RowRef, RunId, RunKind, RunState, Runs, StagingRow,
    SyncRun, pull_lock_name,
};
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::paging::{PageRequest, Paged};

/// The lease of the pull lock taken at start; `full-pull` renews it at every checkpoint.
const LEASE_SECS: u64 = 20 * 60;
/// Departments read per page while checking that an accounts confirm finds its org units.
const CHECK_PAGE: usize = 1000;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/connectors/{id}/pull", post(start))
        .route("/runs", get(list))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/org-units", get(org_units))
        .route("/runs/{id}/rows", get(rows))
        .route("/runs/{id}/rows/{row_id}", delete(remove_row))
        .route("/runs/{id}/remove-invalid", post(remove_invalid))
        .route("/runs/{id}/confirm", post(confirm))
        .route("/runs/{id}/discard", post(discard))
}

fn runs(admin: &Admin) -> Runs {
    Runs::new(admin.deps.table.clone(), admin.deps.clock.clone())
}

fn locks(admin: &Admin) -> Locks {
    Locks::new(admin.deps.table.clone(), admin.deps.clock.clone())
}

/// A run as the API shows it: the stored record plus its duration.
#[derive(Serialize)]
struct RunView {
    #[serde(flatten)]
    run: SyncRun,
    duration_ms: Option<i64>,
}

impl From<SyncRun> for RunView {
    fn from(run: SyncRun) -> Self {
        Self {
            duration_ms: run.duration_ms(),
            run,
        }
    }
}

fn run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn load(admin: &Admin, id: &RunId) -> Result<SyncRun, ApiError> {
    runs(admin).get(id).await?.ok_or(ApiError::NotFound)
}

/// Queues a run's next step for `full-pull`.
async fn enqueue(
    admin: &Admin,
    run: &SyncRun,
    scope: ApplyScope,
    step: u64,
) -> Result<(), ApiError> {
    let message = PullMessage::out(&run.connector_id, run.id.as_str(), scope, step)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    admin
        .deps
        .pull_queue
        .send(message)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// The answer to a pull start: the new run, and the run waiting for review it will replace.
#[derive(Serialize)]
struct Started {
    #[serde(flatten)]
    run: RunView,
    /// The connector's run waiting for review when this pull started. Only one run of a
    /// connector waits for review at a time: once this pull's snapshot is ready, that run is
    /// discarded (superseded, its `superseded_by` naming this run), so an older snapshot is
    /// never confirmed over a newer one. `null` when none waits.
    supersedes: Option<RunId>,
    /// The same, in words.
    note: Option<String>,
}

/// `POST /connectors/{id}/pull`: 202 with the new run; 409 while another pull of the connector
/// is pulling or applying (the connector's lease lock). A run waiting for review does not
/// refuse the pull: the new snapshot supersedes it (see [`Started`]).
async fn start(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let connector = ConnectorId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let c = admin
        .connectors
        .get(&connector)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !c.enabled {
        return Err(ApiError::Conflict(
            "the connector is disabled; enable it to pull".to_owned(),
        ));
    }
    let (runs, locks) = (runs(&admin), locks(&admin));
    // Read before the run exists: a quick pull may be waiting for review itself by the time
    // the answer is written.
    let supersedes = runs.waiting(&connector).await?.map(|w| w.id);
    let name = pull_lock_name(&connector);
    let busy = || ApiError::Conflict("a pull of this connector is already running".to_owned());
    // A short probe lease refuses a busy connector before a run record is made for nothing.
    let probe = format!("start:{}", RunId::generate());
    if !locks.acquire(&name, &probe, 60).await? {
        return Err(busy());
    }
    let run = runs.create(&connector, RunKind::Pull).await?;
    locks.release(&name, &probe).await?;
    if !locks.acquire(&name, run.id.as_str(), LEASE_SECS).await? {
        runs.transition(&run.id, RunState::Discarded, |r| {
            r.push_error("another pull of this connector started at the same moment");
        })
        .await?;
        return Err(busy());
    }
    if let Err(e) = enqueue(&admin, &run, ApplyScope::All, 0).await {
        runs.transition(&run.id, RunState::Failed, |r| {
            r.push_error("the pull could not be queued");
        })
        .await?;
        locks.release(&name, run.id.as_str()).await?;
        return Err(e);
    }
    let note = supersedes.as_ref().map(|w| {
        format!(
            "run {w} waits for review; once this pull's snapshot is ready it supersedes that \
             run (only one run of a connector waits for review at a time)"
        )
    });
    let started = Started {
        run: run.into(),
        supersedes,
        note,
    };
    Ok((StatusCode::ACCEPTED, Json(started)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    connector_id: Option<String>,
}

async fn list(
    State(admin): State<Admin>,
    Query(q): Query<ListQuery>,
    page: PageRequest,
) -> Result<Paged<RunView>, ApiError> {
    let connector = match q.connector_id.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => {
            Some(ConnectorId::parse(raw).map_err(|e| ApiError::invalid("connector_id", e.reason))?)
        }
        _ => None,
    };
    let runs = runs(&admin);
    let found = page
        .load(|limit, cursor| async move {
            runs.list(connector.as_ref(), limit, cursor)
                .await
                .map_err(|e| match e {
                    dingbridge::store::runs::RunError::Directory(d) => d,
                    other => dingbridge::store::DirectoryError::Corrupt(other.to_string()),
                })
        })
        .await?;
    Ok(Paged::from_page(found, RunView::from))
}

async fn show(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(load(&admin, &run_id(&id)?).await?.into()))
}

/// A staged department: the node of the staged tree (`parent_id` links it), with its verdict.
#[derive(Serialize)]
struct UnitRow {
    row_id: String,
    dept_id: u64,
    name: String,
    parent_id: Option<u64>,
    order: Option<i64>,
    action: RowAction,
    reasons: Vec<String>,
    changes: Vec<FieldChange>,
    moved: bool,
    unit_id: Option<String>,
}

fn unit_row(r: StagingRow) -> Option<UnitRow> {
    let row_id = r.row_id();
    let (dept_id, name, parent_id, order) = match r.body {
        RowBody::Dept(d) => (
            d.dept_id.get(),
            d.name,
            d.parent_id.map(DeptId::get),
            d.order,
        ),
        RowBody::RemovedUnit(u) => (u.dept_id.get(), u.name, None, None),
        RowBody::User(_) | RowBody::Leaver(_) => return None,
    };
    Some(UnitRow {
        row_id,
        dept_id,
        name,
        parent_id,
        order,
        action: r.action,
        reasons: r.reasons,
        changes: r.changes,
        moved: r.moved,
        unit_id: r.unit_id.map(|u| u.to_string()),
    })
}

#[derive(Deserialize)]
struct FilterQuery {
    filter: Option<String>,
}

fn filter(q: &FilterQuery) -> Result<RowFilter, ApiError> {
    let raw = q.filter.as_deref().map(str::trim).unwrap_or("all");
    RowFilter::parse(if raw.is_empty() { "all" } else { raw })
        .map_err(|e| ApiError::invalid("filter", e.reason))
}

async fn staged_rows(
    admin: &Admin,
    id: &str,
    kind: RowKind,
    q: &FilterQuery,
    page: &PageRequest,
) -> Result<dingbridge::store::PageOf<StagingRow>, ApiError> {
    let id = run_id(id)?;
    load(admin, &id).await?;
    let filter = filter(q)?;
    let runs = runs(admin);
    page.load(|limit, cursor| async move {
        runs.rows(&id, kind, filter, limit, cursor)
            .await
            .map_err(|e| match e {
                dingbridge::store::runs::RunError::Directory(d) => d,
                other => dingbridge::store::DirectoryError::Corrupt(other.to_string()),
            })
    })
    .await
}

/// `GET /runs/{id}/org-units?filter=`: the staged departments, paged, each with its parent.
async fn org_units(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
    page: PageRequest,
) -> Result<Paged<UnitRow>, ApiError> {
    let found = staged_rows(&admin, &id, RowKind::Dept, &q, &page).await?;
    Ok(Paged::new(
        found.items.into_iter().filter_map(unit_row).collect(),
        found.next,
    ))
}

/// An account row: the staged user (or the leaver), its action and reasons.
#[derive(Serialize)]
struct AccountRow {
    row_id: String,
    #[serde(flatten)]
    row: StagingRow,
}

/// `GET /runs/{id}/rows?filter=invalid|create|update|disable|unchanged|all`.
async fn rows(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
    page: PageRequest,
) -> Result<Paged<AccountRow>, ApiError> {
    let found = staged_rows(&admin, &id, RowKind::User, &q, &page).await?;
    Ok(Paged::from_page(found, |row| AccountRow {
        row_id: row.row_id(),
        row,
    }))
}

/// Rows change only while the admin reviews.
fn reviewing(run: &SyncRun) -> Result<(), ApiError> {
    if run.state == RunState::AwaitingReview {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "run {} is {}; rows can only be removed while it awaits review",
            run.id, run.state
        )))
    }
}

#[derive(Serialize)]
struct Removed {
    removed: u64,
    run: RunView,
}

async fn remove_invalid(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    let id = run_id(&id)?;
    reviewing(&load(&admin, &id).await?)?;
    let removed = runs(&admin).remove_invalid(&id).await?;
    let run = load(&admin, &id).await?;
    Ok(Json(Removed {
        removed,
        run: run.into(),
    }))
}

async fn remove_row(
    State(admin): State<Admin>,
    Path((id, row_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = run_id(&id)?;
    reviewing(&load(&admin, &id).await?)?;
    let row = RowRef::parse(&row_id).map_err(|e| ApiError::invalid("row_id", e.reason))?;
    match runs(&admin).delete_row(&id, &row).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound),
    }
}

#[derive(Deserialize)]
struct ConfirmQuery {
    scope: Option<String>,
}

/// The org units an accounts confirm needs that are not in the directory yet: every department
/// of a user row to create or update must be mapped (or be DingTalk's root).
async fn missing_units(admin: &Admin, run: &SyncRun) -> Result<Vec<String>, ApiError> {
    let runs = runs(admin);
    let mut missing: HashSet<u64> = HashSet::new();
    let mut checked: HashSet<u64> = HashSet::new();
    for action in [RowAction::Create, RowAction::Update] {
        let mut cursor = None;
        loop {
            let page = runs
                .rows(
                    &run.id,
                    RowKind::User,
                    RowFilter::Only(action),
                    CHECK_PAGE,
                    cursor,
                )
                .await?;
            for r in page.items {
                let RowBody::User(u) = r.body else { continue };
                for d in u.dept_ids {
                    if d.is_root() || !checked.insert(d.get()) {
                        continue;
                    }
                    if admin
                        .mappings
                        .unit_of(&run.connector_id, d)
                        .await?
                        .is_none()
                    {
                        missing.insert(d.get());
                    }
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    let mut names = Vec::new();
    let mut sorted: Vec<u64> = missing.into_iter().collect();
    sorted.sort_unstable();
    for d in sorted {
        let name = runs
            .row(
                &run.id,
                &RowRef {
                    kind: RowKind::Dept,
                    key: d.to_string(),
                },
            )
            .await?
            .and_then(|r| match r.body {
                RowBody::Dept(d) => Some(d.name),
                _ => None,
            });
        names.push(match name {
            Some(n) => format!("{n} (department {d})"),
            None => format!("department {d}"),
        });
    }
    Ok(names)
}

/// `POST /runs/{id}/confirm?scope=org_units|accounts|all` (default `all`): 202, the apply runs
/// in `full-pull`. `org_units` applies the staged tree and leaves the run awaiting review for its
/// accounts; `accounts` is refused while any of their org units is not in the directory. On a run
/// that failed while applying, `accounts` or `all` resumes the apply.
async fn confirm(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response, ApiError> {
    let id = run_id(&id)?;
    let scope = match q.scope.as_deref().map(str::trim) {
        None | Some("") => ApplyScope::All,
        Some(raw) => ApplyScope::parse(raw)
            .ok_or_else(|| ApiError::invalid("scope", "must be org_units, accounts or all"))?,
    };
    let run = load(&admin, &id).await?;
    // A run that failed while applying is resumed by a confirm: the apply is idempotent and
    // continues from its checkpoint (the same scope continues where it stopped).
    if run.resumable() {
        if scope == ApplyScope::OrgUnits {
            return Err(ApiError::Conflict(format!(
                "run {} failed while applying; resume it with scope=accounts or all",
                run.id
            )));
        }
    } else {
        reviewing(&run).map_err(|_| match &run.superseded_by {
            Some(newer) => ApiError::Conflict(format!(
                "run {} was superseded by run {newer}, a newer pull of this connector; review \
                 and confirm that one instead",
                run.id
            )),
            None => ApiError::Conflict(format!(
                "run {} is {}; only a run awaiting review, or one that failed while applying, \
                 can be confirmed",
                run.id, run.state
            )),
        })?;
    }
    // Applying a snapshot older than the connector's latest pull would undo newer changes.
    let latest = runs(&admin)
        .list(Some(&run.connector_id), 1, None)
        .await?
        .items
        .into_iter()
        .next();
    if let Some(newer) = latest
        .filter(|l| l.id != run.id && !matches!(l.state, RunState::Discarded | RunState::Failed))
    {
        return Err(ApiError::Conflict(format!(
            "run {} is a newer pull of this connector; review and confirm that one instead",
            newer.id
        )));
    }
    // Blocking problems concern the accounts (the default password): org units may go first.
    if scope != ApplyScope::OrgUnits && !run.blocking.is_empty() {
        return Err(ApiError::Conflict(format!(
            "run {} cannot be confirmed: {}",
            run.id,
            run.blocking.join("; ")
        )));
    }
    if scope == ApplyScope::OrgUnits {
        // The run stays awaiting review (its accounts are confirmed later); the step number
        // only has to differ from earlier org-unit confirms inside the dedupe window.
        let step = u64::try_from(admin.deps.clock.now_millis()).unwrap_or(0);
        enqueue(&admin, &run, scope, step).await?;
        return Ok((StatusCode::ACCEPTED, Json(RunView::from(run))).into_response());
    }
    if scope == ApplyScope::Accounts {
        let missing = missing_units(&admin, &run).await?;
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            return Err(ApiError::Conflict(format!(
                "{} org unit(s) of this run's accounts are not in the directory yet ({}{}); \
                 confirm the org units first (scope=org_units), or confirm all",
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            )));
        }
    }
    let locks = locks(&admin);
    if !locks
        .acquire(
            &pull_lock_name(&run.connector_id),
            run.id.as_str(),
            LEASE_SECS,
        )
        .await?
    {
        return Err(ApiError::Conflict(
            "another pull of this connector is running; confirm once it is done".to_owned(),
        ));
    }
    let confirmed = runs(&admin).confirm(&id, &actor.name).await?;
    let step = u64::try_from(admin.deps.clock.now_millis()).unwrap_or(0);
    enqueue(&admin, &confirmed, scope, step).await?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(confirmed))).into_response())
}

async fn discard(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let id = run_id(&id)?;
    let run = runs(&admin).discard(&id).await?;
    // A discarded pull frees its connector at once (the lease would otherwise run out later).
    locks(&admin)
        .release(&pull_lock_name(&run.connector_id), run.id.as_str())
        .await?;
    Ok(Json(run.into()))
}
