//! After the walk: read the staged snapshot back, validate and plan it against the directory
//! (the pure core), and write every row's verdict, the leavers and the run's counters.
//! This is the pull's memory peak: the staged records (~400 B a user) plus the directory view
//! (~500 B a mapped account), about 90 MB for a 100,000-user org pulled a second time.

use dingbridge::domain::pull::{self, PullRules, Snapshot, StagedDept, StagedUser, Verdict, guard};
use dingbridge::store::runs::{RowBody, RowFilter, RowKind, StagingRow, SyncRun, load_view};
use dingbridge::sync::SyncTarget;

use crate::Deps;
use crate::drive::StepError;
use crate::walk::WalkState;

/// Rows per write while recording verdicts.
const WRITE_CHUNK: usize = 500;

/// What the review step found.
pub struct Reviewed {
    /// The mass-delete guard's reason, when it trips.
    pub guard: Option<String>,
    /// Run-level problems that refuse applying (the default password against the policy).
    pub blocking: Vec<String>,
}

async fn snapshot(deps: &Deps, run: &SyncRun, complete: bool) -> Result<Snapshot, StepError> {
    let mut snap = Snapshot {
        complete,
        ..Snapshot::default()
    };
    for kind in [RowKind::Dept, RowKind::User] {
        let mut cursor = None;
        loop {
            let page = deps
                .runs
                .rows(&run.id, kind, RowFilter::All, 1000, cursor)
                .await?;
            for r in page.items {
                match r.body {
                    RowBody::Dept(d) => snap.depts.push(d),
                    RowBody::User(u) => snap.users.push(u),
                    // Leaver and removed-unit rows of an earlier review are derived, not staged.
                    RowBody::Leaver(_) | RowBody::RemovedUnit(_) => {}
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(snap)
}

async fn write(deps: &Deps, run: &SyncRun, rows: &mut Vec<StagingRow>) -> Result<(), StepError> {
    if rows.len() >= WRITE_CHUNK {
        deps.runs.put_rows(&run.id, rows).await?;
        rows.clear();
    }
    Ok(())
}

/// Validates and plans the staged snapshot, rewrites every row with its action and reasons, and
/// records the counters (and, for a partial walk, why it is partial).
pub async fn finish(
    deps: &Deps,
    target: &SyncTarget,
    run: &SyncRun,
    walk: &WalkState,
) -> Result<Reviewed, StepError> {
    let complete = walk.failures.is_empty();
    let snap = snapshot(deps, run, complete).await?;
    let view = load_view(&deps.directory, &deps.mappings, &target.connector)
        .await
        .map_err(|e| StepError(e.to_string()))?;
    let policy = deps
        .settings_store
        .password_policy()
        .await
        .map_err(|e| StepError(e.to_string()))?;
    let secrets = deps
        .connectors
        .open_secrets(&target.connector)
        .map_err(|e| StepError(e.to_string()))?;
    let rules = PullRules::of(&target.connector, policy, secrets.default_password);
    let validation = pull::validate(&snap, &view, &rules);
    let plan = pull::plan(&snap, &validation, &view, &rules);
    drop(view);
    let (departments, users) = (snap.depts.len() as u64, snap.users.len() as u64);

    // Rows take the staged records out of the snapshot: nothing is held twice.
    let mut depts: Vec<Option<StagedDept>> = snap.depts.into_iter().map(Some).collect();
    let mut people: Vec<Option<StagedUser>> = snap.users.into_iter().map(Some).collect();
    let valid = Verdict::Valid;
    let mut rows = Vec::with_capacity(WRITE_CHUNK);
    for p in &plan.depts {
        if let Some(d) = depts.get_mut(p.index).and_then(Option::take) {
            let verdict = validation.depts.get(p.index).unwrap_or(&valid);
            rows.push(StagingRow::dept(d, verdict, p));
            write(deps, run, &mut rows).await?;
        }
    }
    for p in &plan.users {
        if let Some(u) = people.get_mut(p.index).and_then(Option::take) {
            let verdict = validation.users.get(p.index).unwrap_or(&valid);
            rows.push(StagingRow::user(u, verdict, p));
            write(deps, run, &mut rows).await?;
        }
    }
    for l in &plan.leavers {
        rows.push(StagingRow::leaver(l.clone()));
        write(deps, run, &mut rows).await?;
    }
    for u in &plan.removed_units {
        rows.push(StagingRow::removed_unit(u.clone()));
        write(deps, run, &mut rows).await?;
    }
    if !rows.is_empty() {
        deps.runs.put_rows(&run.id, &rows).await?;
    }

    let tripped = guard(&plan.totals, &target.connector);
    let totals = plan.totals;
    let blocking = plan.blocking.clone();
    let partial_reasons: Vec<String> = walk
        .failures
        .iter()
        .map(|f| format!("department {} ({}): {}", f.dept_id, f.api, f.reason))
        .collect();
    let calls = walk.api_calls;
    let b = blocking.clone();
    deps.runs
        .update(&run.id, None, move |r| {
            r.counters.departments = departments;
            r.counters.users = users;
            r.counters.api_calls = calls;
            r.counters.set_planned(&totals);
            r.partial = !partial_reasons.is_empty();
            for reason in &partial_reasons {
                r.push_error(reason.clone());
            }
            r.partial_reasons = partial_reasons;
            r.blocking = b;
        })
        .await?;
    tracing::info!(run_id = %run.id, departments, users, partial = !complete,
        creates = totals.creates, updates = totals.updates, disables = totals.disables,
        invalid = totals.invalid + totals.units_invalid, "pull planned");
    Ok(Reviewed {
        guard: tripped,
        blocking,
    })
}
