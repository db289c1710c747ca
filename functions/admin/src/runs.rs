//! Runs (issue 5, and the push runs of issue 11): start a pull or an initial push, list runs,
//! review a run's staged org tree and account rows with their reasons, remove invalid or single
//! rows, confirm (org units, accounts or all; a push run is confirmed whole) and discard. Pulls,
//! push plans and both applies run in `full-pull`, fed through the pull queue.

use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use dingbridge::dingtalk::DeptId;
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::pull::{FieldChange, RowAction};
use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::Actor;
use dingbridge::store::runs::{
    RowBody, RowFilter, RowKind, RowRef, RunId, RunKind, RunState, Runs, StagingRow, SyncRun,
};
use dingbridge::web::{ApiError, Json};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::paging::{PageRequest, Paged};

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/connectors/{id}/pull", post(start))
        .route("/connectors/{id}/push", post(start_push))
        .route("/runs", get(list))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/org-units", get(org_units))
        .route("/runs/{id}/rows", get(rows))
        .route("/runs/{id}/rows/{row_id}", delete(remove_row))
        .route("/runs/{id}/remove-invalid", post(remove_invalid))
        .route("/runs/{id}/confirm", post(confirm))
        .route("/runs/{id}/discard", post(discard))
}

fn runs(admin: &Admin) -> &Runs {
    admin.pull_runs.store()
}

/// A run as the API shows it: the stored record plus its duration.
#[derive(Serialize)]
struct RunView {
    #[serde(flatten)]
    run: SyncRun,
    duration_ms: Option<i64>,
    /// While a pull walks: the time left, from the connector's last finished pull.
    #[serde(skip_serializing_if = "Option::is_none")]
    estimate: Option<Estimate>,
}

impl From<SyncRun> for RunView {
    fn from(run: SyncRun) -> Self {
        Self {
            duration_ms: run.duration_ms(),
            run,
            estimate: None,
        }
    }
}

/// What is left of a walk: the API calls the connector's last finished pull needed, and the time
/// the calls still to make take at DingTalk's rate limit (the bound a walk runs at).
#[derive(Debug, PartialEq, Serialize)]
struct Estimate {
    expected_api_calls: u64,
    remaining_ms: u64,
    based_on: RunId,
}

/// Runs of the connector looked at for the last finished pull.
const ESTIMATE_LOOKBACK: usize = 20;

fn estimate(run: &SyncRun, previous: &[SyncRun]) -> Option<Estimate> {
    if run.kind != RunKind::Pull || run.state != RunState::Pulling {
        return None;
    }
    let last = previous.iter().find(|p| {
        p.id != run.id
            && p.kind == RunKind::Pull
            && p.finished_ms.is_some()
            && !p.partial
            && p.counters.api_calls > 0
            && matches!(
                p.state,
                RunState::Done | RunState::AwaitingReview | RunState::Discarded
            )
    })?;
    let expected = last.counters.api_calls;
    let left = expected.saturating_sub(run.counters.api_calls);
    Some(Estimate {
        expected_api_calls: expected,
        // At least one call is left while the walk goes on.
        remaining_ms: (left.max(1) as f64 * 1000.0 / dingbridge::dingtalk::limiter::DEFAULT_QPS)
            as u64,
        based_on: last.id.clone(),
    })
}

fn run_id(raw: &str) -> Result<RunId, ApiError> {
    RunId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn load(admin: &Admin, id: &RunId) -> Result<SyncRun, ApiError> {
    runs(admin).get(id).await?.ok_or(ApiError::NotFound)
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
    let started = admin.pull_runs.start(&connector).await?;
    let (run, supersedes) = (started.run, started.supersedes);
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

/// `POST /connectors/{id}/push` body: `review` (default) waits for an admin's confirm; `auto`
/// applies a plan that passes the mass-delete guard at once.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PushStart {
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /connectors/{id}/push`: the initial push (or a re-sync) of the connector's pushed
/// subtree. 202 with the new run (kind `push`), which plans what DingTalk would get — created,
/// updated, linked, deleted, blocked and why — and waits for review like a pull (`mode: auto`
/// applies at once unless the mass-delete guard trips). 409 when the connector does not push,
/// is disabled, or another run of it is in progress.
async fn start_push(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let connector = ConnectorId::parse(&id).map_err(|_| ApiError::NotFound)?;
    // No body, or `null`, starts a push in review mode.
    let body: PushStart = if raw.iter().all(u8::is_ascii_whitespace) {
        PushStart::default()
    } else {
        serde_json::from_slice::<Option<PushStart>>(&raw)
            .map_err(|e| ApiError::invalid("body", e.to_string()))?
            .unwrap_or_default()
    };
    let auto = match body.mode.as_deref().map(str::trim) {
        None | Some("" | "review") => false,
        Some("auto") => true,
        Some(_) => return Err(ApiError::invalid("mode", "must be review or auto")),
    };
    let c = admin
        .connectors
        .get(&connector)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut problems = Vec::new();
    if !c.enabled {
        problems.push("the connector is disabled; enable it to push");
    }
    if !c.push.push_enabled {
        problems.push("the connector does not push: set push_enabled (and push_root_org_unit_id)");
    } else if c.push.push_root_org_unit_id.is_none() {
        problems.push("the connector names no push_root_org_unit_id");
    }
    if !problems.is_empty() {
        return Err(ApiError::Conflict(problems.join("; ")));
    }
    let started = admin.pull_runs.start_push(&connector, auto).await?;
    let (run, supersedes) = (started.run, started.supersedes);
    let note = supersedes.as_ref().map(|w| {
        format!(
            "push run {w} waits for review; once this plan is ready it supersedes that run \
             (only one push of a connector waits for review at a time)"
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
    let run = load(&admin, &run_id(&id)?).await?;
    let mut view = RunView::from(run);
    if view.run.state == RunState::Pulling {
        let previous = runs(&admin)
            .list(Some(&view.run.connector_id), ESTIMATE_LOOKBACK, None)
            .await?;
        view.estimate = estimate(&view.run, &previous.items);
    }
    Ok(Json(view))
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
        RowBody::User(_) | RowBody::Leaver(_) | RowBody::Push(_) => return None,
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

/// `GET /runs/{id}/org-units?filter=`: the staged departments, paged, each with its parent. For
/// a push run: its org unit rows (keyed by our unit id), in the shape of `/rows`.
async fn org_units(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
    page: PageRequest,
) -> Result<Response, ApiError> {
    let run = load(&admin, &run_id(&id)?).await?;
    let found = staged_rows(&admin, &id, RowKind::Dept, &q, &page).await?;
    if run.kind == RunKind::Push {
        return Ok(Paged::from_page(found, AccountRow::from).into_response());
    }
    Ok(Paged::new(
        found.items.into_iter().filter_map(unit_row).collect(),
        found.next,
    )
    .into_response())
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
    Ok(Paged::from_page(found, AccountRow::from))
}

impl From<StagingRow> for AccountRow {
    fn from(row: StagingRow) -> Self {
        Self {
            row_id: row.row_id(),
            row,
        }
    }
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
    let run = admin.pull_runs.confirm(&id, scope, &actor.name).await?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(run))).into_response())
}

async fn discard(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let id = run_id(&id)?;
    let run = admin.pull_runs.discard(&id).await?;
    Ok(Json(run.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(connector: &ConnectorId, state: RunState, api_calls: u64) -> SyncRun {
        let mut run = SyncRun::new(connector, RunKind::Pull, 1_000);
        run.state = state;
        run.counters.api_calls = api_calls;
        if state != RunState::Pulling {
            run.finished_ms = Some(2_000);
        }
        run
    }

    #[test]
    fn a_walk_s_time_left_comes_from_the_last_finished_pull_at_the_rate_limit() {
        let connector = ConnectorId::generate();
        let walking = pull(&connector, RunState::Pulling, 100);
        let failed = pull(&connector, RunState::Failed, 5);
        let done = pull(&connector, RunState::Done, 500);
        let older = pull(&connector, RunState::Done, 9_000);
        let e = estimate(&walking, &[walking.clone(), failed, done.clone(), older])
            .unwrap_or_else(|| panic!("an estimate"));
        assert_eq!(e.expected_api_calls, 500);
        assert_eq!(e.based_on, done.id);
        // 400 calls left at 20 per second.
        assert_eq!(e.remaining_ms, 20_000);
        // Past the expected calls, still a moment left while it walks.
        let mut late = walking.clone();
        late.counters.api_calls = 700;
        assert_eq!(
            estimate(&late, std::slice::from_ref(&done)).map(|e| e.remaining_ms),
            Some(50)
        );
        // No finished pull: no estimate; a finished run: none either.
        assert_eq!(estimate(&walking, std::slice::from_ref(&walking)), None);
        assert_eq!(estimate(&done, std::slice::from_ref(&done)), None);
    }
}
