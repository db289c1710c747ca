//! Applies a reviewed run through the shared reconciler (one code path with the incremental
//! sync): org units parents first, then account creates and updates, then — for a complete
//! snapshot only — leavers and removed units. Resumable: the position is in the checkpoint.

use std::collections::HashMap;
use std::time::Duration;

use dingbridge::domain::pull::RowAction;
use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::Actor;
use dingbridge::store::runs::{RowBody, RowFilter, RowKind, StagingRow, SyncRun};
use dingbridge::sync::{Applied, Outcome, SyncError, SyncTarget};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::Deps;
use crate::checkpoint::{ApplyPhase, ApplyState, Stored};
use crate::step::StepError;

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
        // A new confirm (e.g. accounts after org units): its own phases; the tallies of phases
        // outside it are kept.
        state.scope = Some(scope);
        state.enter(
            phases(scope)
                .first()
                .copied()
                .unwrap_or(ApplyPhase::Finished),
        );
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
            checkpoint.data.apply.enter(next_phase(scope, phase));
        }
        save(deps, run, checkpoint).await?;
        if Instant::now() >= deadline && checkpoint.data.apply.phase != ApplyPhase::Finished {
            return Ok(ApplyEnd::OutOfTime);
        }
    }
}

/// Checkpoint first (position and tallies in one write), then the run's applied counters copied
/// from it, then the lock's lease. A crash between the two writes leaves the run's counters one
/// save behind; the next save, or the failure that ends the run, copies them again.
async fn save(deps: &Deps, run: &SyncRun, checkpoint: &mut Stored) -> Result<(), StepError> {
    checkpoint.save(&deps.runs, &run.id).await?;
    let errors = std::mem::take(&mut checkpoint.data.apply.errors);
    let tally = checkpoint.data.apply.tally.clone();
    deps.runs
        .update(&run.id, None, move |r| {
            tally.copy_to(&mut r.counters);
            for e in errors {
                r.push_error(e);
            }
        })
        .await?;
    if run.state == dingbridge::store::runs::RunState::Applying {
        deps.pull_runs
            .renew_lock(&run.connector_id, &run.id)
            .await?;
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
            let results = settle(apply_rows(deps, t, run, &rows, actor).await)?;
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
    let results = settle(apply_rows(deps, t, run, &items, actor).await)?;
    tally(state, results);
    state.cursor.clone_from(&page.next);
    Ok(page.next.is_none())
}

/// A row that still failed after its attempts.
#[derive(Debug)]
struct RowError {
    /// Storage or DingTalk unavailable, throttling, a version race: worth the step's retry.
    transient: bool,
    /// The row id and the reason, as the run's error list shows it.
    text: String,
}

/// A batch's results as the tally takes them. A row still failing transiently stops the step
/// before anything of the batch is counted or the position moves: the queue delivers the step
/// again, it redoes the batch (rows already written are found unchanged and counted then), and on
/// its last delivery the run fails with the reason (a confirm resumes it). Only permanent row
/// failures — a value another account holds, say — are recorded on the run and skipped.
fn settle(
    results: Vec<Result<Applied, RowError>>,
) -> Result<Vec<Result<Applied, String>>, StepError> {
    let transient: Vec<&RowError> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| e.transient)
        .collect();
    if let Some(first) = transient.first() {
        return Err(StepError::RowsFailing {
            count: transient.len(),
            attempts: ROW_ATTEMPTS,
            example: first.text.clone(),
        });
    }
    Ok(results.into_iter().map(|r| r.map_err(|e| e.text)).collect())
}

/// Applies rows concurrently; each result names its row for the error list.
async fn apply_rows(
    deps: &Deps,
    t: &SyncTarget,
    run: &SyncRun,
    rows: &[StagingRow],
    actor: &Actor,
) -> Vec<Result<Applied, RowError>> {
    // Futures built up front over owned rows: a closure over borrowed rows would make the
    // stream's lifetimes higher-ranked, which the Send bound of the handler cannot prove.
    let futures: Vec<_> = rows
        .iter()
        .cloned()
        .map(|r| apply_with_retries(deps, t, run.started_ms, r, actor))
        .collect();
    stream::iter(futures)
        .buffer_unordered(deps.settings.apply_concurrency.max(1))
        .collect()
        .await
}

async fn apply_with_retries(
    deps: &Deps,
    t: &SyncTarget,
    snapshot_ms: i64,
    r: StagingRow,
    actor: &Actor,
) -> Result<Applied, RowError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match apply_row(deps, t, snapshot_ms, &r, actor).await {
            Err(e) if e.is_transient() && tries < ROW_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            other => {
                return other.map_err(|e| RowError {
                    transient: e.is_transient(),
                    text: format!("{}: {}", r.row_id(), e.reason()),
                });
            }
        }
    }
}

/// Applies one row of a snapshot that began at `snapshot_ms`. A row whose entity the directory
/// wrote after that is re-read from DingTalk by the reconciler, never applied over the newer
/// state (the run counts it in `reread_rows`, and in `changed_since_snapshot` when DingTalk's
/// record had changed).
async fn apply_row(
    deps: &Deps,
    t: &SyncTarget,
    snapshot_ms: i64,
    r: &StagingRow,
    actor: &Actor,
) -> Result<Applied, SyncError> {
    let rec = &deps.reconciler;
    match &r.body {
        RowBody::Dept(d) => {
            rec.apply_department(t, &d.to_ding(), snapshot_ms, actor)
                .await
        }
        RowBody::User(u) => rec.apply_user(t, &u.to_ding(), snapshot_ms, actor).await,
        RowBody::Leaver(l) => rec.apply_leaver(t, &l.userid, snapshot_ms, actor).await,
        // Re-read from DingTalk: the unit goes only if DingTalk confirms the department is gone
        // (60003), and only once it is empty.
        RowBody::RemovedUnit(u) => rec
            .reconcile_department(t, u.dept_id, actor)
            .await
            .map(Applied::staged),
        // Push runs never reach the pull's apply (`drive` sends them to `push_run`).
        RowBody::Push(_) => Err(SyncError::Permanent(
            "a push run's row cannot be applied as a pull".to_owned(),
        )),
    }
}

/// Counts a batch of results into the current phase's tally, by the plan: a row counts as
/// applied when the directory now holds its change, whether this attempt wrote it or an earlier
/// one cut short by a crash did (then the redo finds it `Unchanged`, `Absent`).
fn tally(state: &mut ApplyState, results: Vec<Result<Applied, String>>) {
    let phase = state.phase;
    for r in results {
        let Some(t) = state.tally.of(phase) else {
            return;
        };
        if let Ok(a) = &r {
            t.reread += u64::from(a.reread);
            t.changed += u64::from(a.changed);
        }
        match r.map(|a| a.outcome) {
            Ok(outcome) if carried_out(phase, outcome) => t.applied += 1,
            Ok(outcome) => {
                tracing::info!(
                    ?outcome,
                    "removed department still in DingTalk; its unit stays"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "row not applied");
                t.failed += 1;
                state.errors.push(e);
            }
        }
    }
}

/// Whether a row's outcome means its phase's change holds. A removed department re-read from
/// DingTalk and found there (created, updated, unchanged) keeps its unit: not a removal.
fn carried_out(phase: ApplyPhase, outcome: Outcome) -> bool {
    match phase {
        ApplyPhase::RemovedUnits => matches!(outcome, Outcome::Removed | Outcome::Absent),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingbridge::store::runs::RunCounters;

    #[test]
    fn a_row_redone_after_a_crash_counts_as_applied_once() {
        let mut state = ApplyState::default();
        state.enter(ApplyPhase::Creates);
        // First attempt: two rows created, then the crash (nothing saved); the redo finds
        // them in the directory and creates the third.
        let redo = vec![
            Ok(Applied::staged(Outcome::Unchanged)),
            Ok(Applied::staged(Outcome::Unchanged)),
            Ok(Applied::staged(Outcome::Created)),
            Err("U:x: mobile taken".to_owned()),
        ];
        tally(&mut state, redo);
        assert_eq!(
            (state.tally.creates.applied, state.tally.creates.failed),
            (3, 1)
        );
        assert_eq!(state.errors, ["U:x: mobile taken"]);
    }

    #[test]
    fn a_row_still_failing_transiently_stops_the_step_and_a_permanent_one_is_recorded() {
        let row = |transient, text: &str| {
            Err(RowError {
                transient,
                text: text.to_owned(),
            })
        };
        let err = settle(vec![
            Ok(Applied::staged(Outcome::Created)),
            row(false, "U:a: mobile taken"),
            row(true, "U:b: throttled"),
        ])
        .unwrap_err();
        assert!(err.is_transient(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("1 row(s)") && text.contains("U:b: throttled"),
            "{text}"
        );
        let ok = settle(vec![
            Ok(Applied::staged(Outcome::Created)),
            row(false, "U:a: mobile taken"),
        ])
        .unwrap();
        assert_eq!(ok[1], Err("U:a: mobile taken".to_owned()));
    }

    #[test]
    fn a_removed_unit_counts_only_when_it_is_gone() {
        let mut state = ApplyState::default();
        state.enter(ApplyPhase::RemovedUnits);
        let results = [
            Outcome::Removed,
            Outcome::Absent,
            Outcome::Unchanged,
            Outcome::Created,
        ]
        .map(|o| Ok(Applied::staged(o)))
        .to_vec();
        tally(&mut state, results);
        assert_eq!(state.tally.removed_units.applied, 2);
        assert_eq!(state.tally.creates.applied, 0, "a unit is not an account");
    }

    #[test]
    fn rows_re_read_from_dingtalk_are_counted_and_those_that_changed_apart() {
        let mut state = ApplyState::default();
        state.enter(ApplyPhase::Updates);
        let reread = |changed| Applied {
            outcome: Outcome::Updated,
            reread: true,
            changed,
        };
        tally(
            &mut state,
            vec![
                Ok(reread(true)),
                Ok(reread(false)),
                Ok(Applied::staged(Outcome::Updated)),
            ],
        );
        let t = state.tally.updates;
        assert_eq!((t.applied, t.reread, t.changed), (3, 2, 1));
        let mut c = RunCounters::default();
        state.tally.copy_to(&mut c);
        assert_eq!((c.reread_rows, c.changed_since_snapshot), (2, 1));
    }
}
