//! Applies a reviewed run through the shared reconciler (one code path with the incremental
//! sync): org units parents first, then account creates and updates, then — for a complete
//! snapshot only — leavers and removed units. Resumable: the position is in the checkpoint.

use std::collections::HashMap;
use std::time::Duration;

use dingbridge::domain::pull::RowAction;
use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::Actor;
use dingbridge::store::runs::{RowBody, RowFilter, RowKind, StagingRow, SyncRun};
use dingbridge::sync::{Outcome, SyncError, SyncTarget};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::Deps;
use crate::checkpoint::{ApplyPhase, ApplyState, Stored};
use crate::drive::StepError;

/// Attempts per row for transient failures (throttling, version races) before it is recorded.
const ROW_ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyEnd {
    Finished,
    OutOfTime,
}

fn phases(scope: ApplyScope) -> &'static [ApplyPhase] {
    use ApplyPhase::*;
    match scope {
        ApplyScope::OrgUnits => &[Units],
        ApplyScope::Accounts => &[Creates, Updates, Leavers, RemovedUnits],
        ApplyScope::All => &[Units, Creates, Updates, Leavers, RemovedUnits],
    }
}

/// The phase after `phase` in `scope`, `Finished` after the last.
fn next_phase(scope: ApplyScope, phase: ApplyPhase) -> ApplyPhase {
    let list = phases(scope);
    list.iter()
        .position(|p| *p == phase)
        .and_then(|i| list.get(i + 1))
        .copied()
        .unwrap_or(ApplyPhase::Finished)
}

/// Runs the phases of `scope` from the checkpoint's position until done or `deadline`.
pub async fn apply(
    deps: &Deps,
    t: &SyncTarget,
    run: &SyncRun,
    checkpoint: &mut Stored,
    scope: ApplyScope,
    actor: &Actor,
    deadline: Instant,
) -> Result<ApplyEnd, StepError> {
    let state = &mut checkpoint.data.apply;
    if state.scope != Some(scope) {
        // A new confirm (e.g. accounts after org units): its own phases, counters kept.
        state.scope = Some(scope);
        state.phase = phases(scope)
            .first()
            .copied()
            .unwrap_or(ApplyPhase::Finished);
        state.done_in_phase = 0;
        state.cursor = None;
    }
    loop {
        let phase = checkpoint.data.apply.phase;
        let finished_phase = match phase {
            ApplyPhase::Finished => return Ok(ApplyEnd::Finished),
            ApplyPhase::Units => {
                units(deps, t, run, &mut checkpoint.data.apply, actor, deadline).await?
            }
            ApplyPhase::Creates
            | ApplyPhase::Updates
            | ApplyPhase::Leavers
            | ApplyPhase::RemovedUnits => {
                // A partial snapshot never disables or removes anything.
                if run.partial && matches!(phase, ApplyPhase::Leavers | ApplyPhase::RemovedUnits) {
                    true
                } else {
                    rows_page(deps, t, run, &mut checkpoint.data.apply, actor).await?
                }
            }
        };
        if finished_phase {
            let state = &mut checkpoint.data.apply;
            state.phase = next_phase(scope, phase);
            state.done_in_phase = 0;
            state.cursor = None;
        }
        save(deps, run, checkpoint).await?;
        if Instant::now() >= deadline && checkpoint.data.apply.phase != ApplyPhase::Finished {
            return Ok(ApplyEnd::OutOfTime);
        }
    }
}

/// Checkpoint first, then the run's applied counters copied from it (so they never count a
/// redone page twice), then the lock's lease.
async fn save(deps: &Deps, run: &SyncRun, checkpoint: &mut Stored) -> Result<(), StepError> {
    checkpoint.save(&deps.runs, &run.id).await?;
    let errors = std::mem::take(&mut checkpoint.data.apply.errors);
    let a = checkpoint.data.apply.clone();
    deps.runs
        .update(&run.id, None, move |r| {
            r.counters.applied_creates = a.creates;
            r.counters.applied_updates = a.updates;
            r.counters.applied_disables = a.disables;
            r.counters.applied_units = a.units;
            r.counters.apply_failures = a.failures;
            for e in errors {
                r.push_error(e);
            }
        })
        .await?;
    if run.state == dingbridge::store::runs::RunState::Applying {
        crate::drive::renew_lock(deps, &run.connector_id, &run.id).await?;
    }
    Ok(())
}

/// Every department row to apply, parents before children (depth from the staged parent links).
async fn unit_order(deps: &Deps, run: &SyncRun) -> Result<Vec<(u32, StagingRow)>, StepError> {
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let page = deps
            .runs
            .rows(&run.id, RowKind::Dept, RowFilter::All, 1000, cursor)
            .await?;
        rows.extend(page.items.into_iter().filter(|r| {
            matches!(r.action, RowAction::Create | RowAction::Update)
                && matches!(r.body, RowBody::Dept(_))
        }));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let parent: HashMap<u64, u64> = rows
        .iter()
        .filter_map(|r| match &r.body {
            RowBody::Dept(d) => Some((d.dept_id.get(), d.parent_id.map_or(1, |p| p.get()))),
            _ => None,
        })
        .collect();
    let depth = |mut id: u64| {
        let mut n = 0u32;
        // Bounded: a cycle in staged data must not hang the apply.
        while let Some(p) = parent.get(&id) {
            n += 1;
            id = *p;
            if n > 64 {
                break;
            }
        }
        n
    };
    let mut keyed: Vec<(u32, StagingRow)> = rows
        .into_iter()
        .map(|r| {
            let d = match &r.body {
                RowBody::Dept(d) => depth(d.dept_id.get()),
                _ => 0,
            };
            (d, r)
        })
        .collect();
    // Stable: equal depths keep key order, so a resume sees the same sequence.
    keyed.sort_by_key(|(d, _)| *d);
    Ok(keyed)
}

/// Applies department rows in parents-first order, one depth level's rows concurrently, from
/// the checkpoint's position. True when every unit is done.
async fn units(
    deps: &Deps,
    t: &SyncTarget,
    run: &SyncRun,
    state: &mut ApplyState,
    actor: &Actor,
    deadline: Instant,
) -> Result<bool, StepError> {
    let order = unit_order(deps, run).await?;
    let start = usize::try_from(state.done_in_phase).unwrap_or(usize::MAX);
    let page = deps.settings.apply_page.max(1);
    for chunk in order.get(start..).unwrap_or_default().chunks(page) {
        // Within a chunk, rows run one depth level at a time so parents exist first.
        for level in chunk.chunk_by(|a, b| a.0 == b.0) {
            let rows: Vec<StagingRow> = level.iter().map(|(_, r)| r.clone()).collect();
            let results = apply_rows(deps, t, &rows, actor).await;
            tally(state, results);
        }
        state.done_in_phase += chunk.len() as u64;
        if Instant::now() >= deadline {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One page of the current rows phase. True when the phase has no more pages.
async fn rows_page(
    deps: &Deps,
    t: &SyncTarget,
    run: &SyncRun,
    state: &mut ApplyState,
    actor: &Actor,
) -> Result<bool, StepError> {
    let (kind, action) = match state.phase {
        ApplyPhase::Creates => (RowKind::User, RowAction::Create),
        ApplyPhase::Updates => (RowKind::User, RowAction::Update),
        ApplyPhase::Leavers => (RowKind::User, RowAction::Disable),
        ApplyPhase::RemovedUnits => (RowKind::Dept, RowAction::Disable),
        ApplyPhase::Units | ApplyPhase::Finished => return Ok(true),
    };
    // The base table, not the by-action index: its reads are strongly consistent, so an auto
    // apply that starts right after the review's writes sees every row (an index may lag).
    let page = deps
        .runs
        .rows(
            &run.id,
            kind,
            RowFilter::All,
            deps.settings.apply_page.max(1),
            state.cursor.clone(),
        )
        .await?;
    let wanted = |r: &StagingRow| {
        r.action == action
            && match state.phase {
                ApplyPhase::Creates | ApplyPhase::Updates => matches!(r.body, RowBody::User(_)),
                ApplyPhase::Leavers => matches!(r.body, RowBody::Leaver(_)),
                _ => matches!(r.body, RowBody::RemovedUnit(_)),
            }
    };
    let items: Vec<StagingRow> = page.items.into_iter().filter(wanted).collect();
    let results = apply_rows(deps, t, &items, actor).await;
    tally(state, results);
    state.cursor.clone_from(&page.next);
    Ok(page.next.is_none())
}

/// Applies rows concurrently; each result names its row for the error list.
async fn apply_rows(
    deps: &Deps,
    t: &SyncTarget,
    rows: &[StagingRow],
    actor: &Actor,
) -> Vec<Result<Outcome, String>> {
    // Futures built up front over owned rows: a closure over borrowed rows would make the
    // stream's lifetimes higher-ranked, which the Send bound of the handler cannot prove.
    let futures: Vec<_> = rows
        .iter()
        .cloned()
        .map(|r| apply_with_retries(deps, t, r, actor))
        .collect();
    stream::iter(futures)
        .buffer_unordered(deps.settings.apply_concurrency.max(1))
        .collect()
        .await
}

async fn apply_with_retries(
    deps: &Deps,
    t: &SyncTarget,
    r: StagingRow,
    actor: &Actor,
) -> Result<Outcome, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        match apply_row(deps, t, &r, actor).await {
            Err(e) if e.is_transient() && tries < ROW_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            other => return other.map_err(|e| format!("{}: {}", r.row_id(), e.reason())),
        }
    }
}

async fn apply_row(
    deps: &Deps,
    t: &SyncTarget,
    r: &StagingRow,
    actor: &Actor,
) -> Result<Outcome, SyncError> {
    let rec = &deps.reconciler;
    match &r.body {
        RowBody::Dept(d) => rec.apply_department(t, &d.to_ding(), actor).await,
        RowBody::User(u) => rec.apply_user(t, &u.to_ding(), actor).await,
        RowBody::Leaver(l) => rec.apply_leaver(t, &l.userid, actor).await,
        // Re-read from DingTalk: the unit goes only if DingTalk confirms the department is gone
        // (60003), and only once it is empty.
        RowBody::RemovedUnit(u) => rec.reconcile_department(t, u.dept_id, actor).await,
    }
}

fn tally(state: &mut ApplyState, results: Vec<Result<Outcome, String>>) {
    for r in results {
        match r {
            Ok(Outcome::Created) if state.phase == ApplyPhase::Units => state.units += 1,
            Ok(Outcome::Updated) if state.phase == ApplyPhase::Units => state.units += 1,
            Ok(Outcome::Created) => state.creates += 1,
            Ok(Outcome::Updated) => state.updates += 1,
            Ok(Outcome::Disabled | Outcome::Deleted) => state.disables += 1,
            Ok(Outcome::Removed) => state.units += 1,
            Ok(Outcome::Unchanged | Outcome::Absent) => {}
            Err(e) => {
                tracing::warn!(error = %e, "row not applied");
                state.failures += 1;
                state.errors.push(e);
            }
        }
    }
}
